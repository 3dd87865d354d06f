"""A size limit per home folder: one loop-mounted ext4 image per researcher × project.

Docker volumes have no size limit on overlay2 with the ``local`` driver, and home folders sit
on the filesystem that also holds Docker, the hub's and the airlock's databases: a notebook
wrote 2 GiB there in 5 s. XFS project quotas would need the host's filesystem to be XFS with
``pquota``; a filesystem image works on any host. Each home is a sparse file
``<state_dir>/homes/<name>.img`` (it takes only the space written), formatted ext4 once,
loop-mounted at ``<state_dir>/homes/<name>/`` while its sandbox runs, and its ``home/``
folder is bound into the container. A full home gives ``ENOSPC`` in the sandbox, and JupyterLab
shows HTTP 507 naming the quota (:mod:`vce.sandbox.hardening.contents`).

Needs root on the host (``mount``); the hub runs as root wherever it installs the firewall.
Raising ``sandbox.home_quota`` grows existing images at their next start; lowering it never
shrinks one. ``sandbox.home_quota = "0"`` keeps plain Docker volumes, without a limit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
HOME_SUBDIR = "home"
"""Folder inside the image that becomes the home (keeps ext4's lost+found out of sight)."""


class HomeQuotaError(RuntimeError):
    """The home image could not be made or mounted (the message says what to do)."""


def parse_size(text: str) -> int:
    """``"2G"`` → bytes.

    >>> parse_size("2G"), parse_size("64M"), parse_size("0")
    (2147483648, 67108864, 0)
    """
    m = re.fullmatch(r"([0-9]+)([KMGT]?)", text.strip().upper())
    if not m:
        raise ValueError(f"not a byte size: {text!r} (e.g. 2G, 512M)")
    return int(m.group(1)) * UNITS[m.group(2)]


def _run(*cmd: str) -> None:
    exe = shutil.which(cmd[0])
    if exe is None:
        raise HomeQuotaError(f"{cmd[0]} is missing on the host (e2fsprogs, mount)")
    proc = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise HomeQuotaError(f"{' '.join(cmd[:2])} failed: {proc.stderr.strip()}")


def is_mounted(path: Path) -> bool:
    """Whether ``path`` is a mount point (of this host's mount namespace)."""
    return os.path.ismount(path)


def mount_home(root: Path, name: str, size: int, uid: int) -> Path:
    """Create (once), grow if needed, and mount the image ``name``; return the home folder."""
    if os.geteuid() != 0:
        raise HomeQuotaError(
            'sandbox.home_quota needs the hub to run as root (mount); set sandbox.home_quota = "0" '
            "to use unlimited Docker volumes instead"
        )
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    image, mountpoint = root / f"{name}.img", root / name
    mountpoint.mkdir(exist_ok=True, mode=0o700)
    if not is_mounted(mountpoint):
        if not image.exists():
            with image.open("wb") as f:
                f.truncate(size)  # sparse: takes only what is written
            _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={uid}:{uid}", str(image))
        elif image.stat().st_size < size:
            with image.open("r+b") as f:
                f.truncate(size)
            _run("e2fsck", "-f", "-p", str(image))
            _run("resize2fs", str(image))
        _run("mount", "-o", "loop,nosuid,nodev", str(image), str(mountpoint))
    home = mountpoint / HOME_SUBDIR
    if not home.is_dir():
        home.mkdir(mode=0o700)
        os.chown(home, uid, uid)
    return home


def unmount_home(root: Path, name: str) -> None:
    """Unmount the image ``name`` (lazily: a container still closing keeps its view)."""
    mountpoint = root / name
    if is_mounted(mountpoint):
        _run("umount", "--lazy", str(mountpoint))


def unmount_all(root: Path) -> int:
    """Unmount every home image under ``root`` (``make stop``); return how many."""
    if not root.is_dir():
        return 0
    count = 0
    for image in root.glob("*.img"):
        if is_mounted(root / image.stem):
            unmount_home(root, image.stem)
            count += 1
    return count
