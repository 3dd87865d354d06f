"""Writing a release folder atomically: all files or nothing visible.

Files are written and fsynced in a hidden staging folder on the same filesystem, then the
folder is renamed into place in one step. A failed write (full disk, I/O error) removes the
staging folder and leaves no trace under the project's releases; a crash leaves only staging
debris, which the next attempt ignores. The database records a release only after the rename,
so a folder without a record is never served.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

STAGING = ".staging"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def release_path(releases_dir: Path, project: str, request_id: int) -> Path:
    """Return the final folder of a request's release."""
    return releases_dir / project / f"request-{request_id}"


def write_atomically(
    releases_dir: Path,
    project: str,
    request_id: int,
    files: dict[str, bytes],
    fault_delay: float = 0.0,
) -> tuple[Path, dict[str, dict[str, object]]]:
    """Write ``files`` as the release folder; returns it and each file's sha256 and size."""
    final = release_path(releases_dir, project, request_id)
    staging = releases_dir / STAGING / f"{project}-{request_id}-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        hashes: dict[str, dict[str, object]] = {}
        for name, data in files.items():
            with open(staging / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            hashes[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        _fsync_dir(staging)
        if fault_delay:  # crash tests kill the service here
            time.sleep(fault_delay)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # left by a crash between rename and recording: never served
            shutil.rmtree(final)
        os.rename(staging, final)
        _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, hashes


def clean_staging(releases_dir: Path) -> int:
    """Remove staging debris of writes a crash interrupted; returns how many were removed."""
    staging = releases_dir / STAGING
    if not staging.is_dir():
        return 0
    n = 0
    for leftover in staging.iterdir():
        shutil.rmtree(leftover, ignore_errors=True)
        n += 1
    return n
