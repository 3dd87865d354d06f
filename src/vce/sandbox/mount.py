"""What the hub mounted into this sandbox: datasets, their tables and audience partitions.

``VCE_DATA_DIR`` holds one folder per dataset granted to the project (or is itself a dataset
folder, which is handy on a laptop). People tables are Hive-partitioned by ``audience``; a
sandbox mount carries only ``adult`` and ``minor_synthetic``. We read exactly those two
partitions, even when a developer points the client at a full extract that also holds the
real ``minor`` partition: real minors' rows never enter a sandbox connection.

Audience labels (see docs/reference/client.md, "Synthetic minors"): the sandbox shows the
synthetic rows with ``audience = 'minor'``, so the SQL a researcher writes here —
``WHERE audience = 'minor'`` — is the SQL the airlock re-runs unchanged on the real minors'
partition. That every ``'minor'`` row in a sandbox is synthetic is said by the banner and by
the column comment on ``audience``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from vce.data.schema import TABLES

SANDBOX_PARTITIONS = {"adult": "adult", "minor_synthetic": "minor"}
"""Partition folder value → the ``audience`` label the sandbox shows for its rows."""


class MountError(Exception):
    """The data mount is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class TableSource:
    """One table of one dataset: the Parquet globs to read, per audience label."""

    name: str
    directory: Path
    partitions: tuple[tuple[str, str], ...]  # (audience label, glob); empty → table has no files
    partitioned: bool
    real_minor_present: bool = False  # a full extract was mounted; its minor partition is skipped


@dataclass(frozen=True)
class Dataset:
    """A granted dataset folder with its manifest's name and version when present."""

    folder: str
    path: Path
    version: str | None
    tables: dict[str, TableSource]

    @property
    def schema(self) -> str:
        """A SQL-safe schema name for this dataset (its folder name, normalised)."""
        return re.sub(r"\W+", "_", self.folder).strip("_").lower() or "dataset"


@dataclass(frozen=True)
class Mount:
    """Every dataset visible in the sandbox."""

    root: Path
    datasets: tuple[Dataset, ...]

    def table_names(self) -> frozenset[str]:
        """Names of every mounted table (what ``vce.check`` passes as the granted tables)."""
        return frozenset(t for d in self.datasets for t in d.tables)


def _is_dataset(path: Path) -> bool:
    if (path / "manifest.json").is_file():
        return True
    return any((path / t).is_dir() for t in TABLES)


def _parquet_glob(directory: Path) -> str | None:
    """Return a glob over ``directory``'s Parquet files, or ``None`` when it has none."""
    if not directory.is_dir() or not any(directory.glob("*.parquet")):
        return None
    return str(directory / "*.parquet")


def _table_source(name: str, directory: Path) -> TableSource:
    audiences = {p.name.split("=", 1)[1] for p in directory.glob("audience=*") if p.is_dir()}
    if not audiences:
        glob = _parquet_glob(directory)
        return TableSource(name, directory, (("", glob),) if glob else (), partitioned=False)
    parts = []
    for value, label in SANDBOX_PARTITIONS.items():
        glob = _parquet_glob(directory / f"audience={value}")
        if glob:
            parts.append((label, glob))
    return TableSource(
        name,
        directory,
        tuple(parts),
        partitioned=True,
        real_minor_present="minor" in audiences,
    )


def _read_version(path: Path) -> str | None:
    try:
        doc = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    return str(version) if version is not None else None


def _dataset(path: Path) -> Dataset:
    tables = {}
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            tables[child.name] = _table_source(child.name, child)
    return Dataset(path.name, path, _read_version(path), tables)


def discover(data_dir: str | Path | None = None) -> Mount:
    """Find the datasets under ``data_dir`` (default: ``$VCE_DATA_DIR``)."""
    raw = data_dir if data_dir is not None else os.environ.get("VCE_DATA_DIR")
    if not raw:
        raise MountError(
            "VCE_DATA_DIR is not set, so this does not look like a VCE sandbox. "
            "Inside a project server the hub sets it; elsewhere pass "
            "vce.connect(data_dir='path/to/dataset')."
        )
    root = Path(raw).resolve()
    if not root.is_dir():
        raise MountError(
            f"the data folder {root} does not exist or is not a folder; "
            "ask your administrator whether a dataset was granted to this project."
        )
    if _is_dataset(root):
        datasets = (_dataset(root),)
    else:
        datasets = tuple(
            _dataset(p)
            for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".") and _is_dataset(p)
        )
    if not datasets:
        raise MountError(
            f"no dataset found under {root}; ask your administrator to grant a dataset "
            "to this project (vce project grant ...)."
        )
    return Mount(root, datasets)
