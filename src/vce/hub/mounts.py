"""Which host folders a sandbox gets, read-only: the allowed partitions of its granted datasets.

Real minors' rows never enter a sandbox, so a people table is never mounted as a whole: each
allowed ``audience=…`` partition folder is bound on its own (``adult``, plus ``minor_synthetic``
for U18-approved projects). A folder Docker never binds cannot leak through a symlink, a path
trick or a later ``..`` in a query.

The dataset's own ``manifest.json`` counts and hashes the real minors' files, so it is never
bound: the sandbox's ``manifest.json`` is the view written for its partitions
(:data:`vce.data.schema.SANDBOX_MANIFESTS`), or absent for a dataset built without one.
"""

from __future__ import annotations

from pathlib import Path

from vce.data.schema import AUDIENCES, MANIFEST, SANDBOX_MANIFESTS

AUDIENCE_PREFIX = "audience="
ADULT, _MINOR, SYNTHETIC = AUDIENCES  # the dataset layout's partition names (vce.data)


class DatasetMissing(FileNotFoundError):
    """A granted dataset has no folder under the data root."""


def allowed_audiences(u18_approved: bool) -> tuple[str, ...]:
    """Partitions a sandbox may see: never ``minor``."""
    return (ADULT, SYNTHETIC) if u18_approved else (ADULT,)


def data_binds(
    data_root: Path, datasets: tuple[str, ...], mount_root: str, u18_approved: bool
) -> dict[str, str]:
    """Host path → container path for every folder (or metadata file) to bind read-only.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for part in ("audience=adult", "audience=minor", "audience=minor_synthetic"):
    ...     (root / "d" / "videos" / part).mkdir(parents=True)
    >>> (root / "d" / "hashtags").mkdir()
    >>> sorted(v for v in data_binds(root, ("d",), "/data", False).values())
    ['/data/d/hashtags', '/data/d/videos/audience=adult']
    """
    binds: dict[str, str] = {}
    keep = allowed_audiences(u18_approved)
    for name in datasets:
        if "/" in name or name.startswith("."):
            raise DatasetMissing(f"dataset name {name!r} is not a folder name")
        folder = data_root / name
        if not folder.is_dir():
            raise DatasetMissing(
                f"granted dataset {name!r} has no folder {folder}; generate or copy it there "
                "(data.root in vce.toml), or revoke the grant"
            )
        target = f"{mount_root.rstrip('/')}/{name}"
        view = folder / SANDBOX_MANIFESTS[keep]
        if view.is_file():
            binds[str(view)] = f"{target}/{MANIFEST}"
        for table in sorted(p for p in folder.iterdir() if p.is_dir()):
            if table.name.startswith("."):
                continue
            partitions = [p for p in table.iterdir() if p.name.startswith(AUDIENCE_PREFIX)]
            if not partitions:
                binds[str(table)] = f"{target}/{table.name}"
                continue
            for part in sorted(partitions):
                if part.is_dir() and part.name[len(AUDIENCE_PREFIX) :] in keep:
                    binds[str(part)] = f"{target}/{table.name}/{part.name}"
    return binds
