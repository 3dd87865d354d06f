"""``manifest.json``: what a dataset holds and the checksums that prove it.

The manifest is what the airlock cites in a release's provenance (dataset name, version and
file hashes), so ``verify`` recomputes everything it states and fails on the first mismatch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vce import __version__
from vce.data.layout import DatasetError
from vce.data.schema import MANIFEST, SANDBOX_MANIFESTS

FORMAT_VERSION = 1


def sha256_file(path: Path, bufsize: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(bufsize):
            h.update(block)
    return h.hexdigest()


def schema_doc(schema: pa.Schema) -> list[dict[str, str]]:
    """A schema as JSON: ``[{"name": ..., "type": ...}]`` (Arrow type names)."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _audience_of(rel: str) -> str | None:
    parts = [p for p in rel.split("/") if p.startswith("audience=")]
    return parts[0].split("=", 1)[1] if parts else None


def build_manifest(
    root: Path,
    *,
    name: str,
    version: str,
    files: dict[str, list[tuple[str, int]]],
    source: dict[str, Any],
    note: str,
) -> dict[str, Any]:
    """Checksum every file and describe every table; written last, as the build's seal."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    every = sorted(rel for entries in files.values() for rel, _ in entries)
    with ThreadPoolExecutor(2) as pool:  # hashlib releases the GIL: use both cores
        digests = dict(zip(every, pool.map(lambda r: sha256_file(root / r), every), strict=True))
    tables: dict[str, Any] = {}
    for table, entries in files.items():
        partitions: dict[str, int] = {}
        file_docs = []
        for rel, rows in sorted(entries):
            aud = _audience_of(rel)
            if aud:
                partitions[aud] = partitions.get(aud, 0) + rows
            p = root / rel
            file_docs.append(
                {"path": rel, "rows": rows, "bytes": p.stat().st_size, "sha256": digests[rel]}
            )
        tables[table] = {
            # as Parquet stores it (e.g. list item names), so verify compares like with like
            "schema": schema_doc(pq.read_schema(root / sorted(entries)[0][0])),
            # real rows; the synthetic stand-ins are counted under "partitions" only
            "rows": sum(r for rel, r in entries if _audience_of(rel) != "minor_synthetic"),
            "partitions": partitions,
            "files": file_docs,
        }
    manifest = {
        "format": FORMAT_VERSION,
        "name": name,
        "version": version,
        "created": now,
        "source": {**source, "vce_version": __version__},
        "tables": tables,
        "changelog": [{"version": version, "date": now[:10], "note": note}],
    }
    for audiences, name in SANDBOX_MANIFESTS.items():
        _write_json(root / name, sandbox_view(manifest, audiences))
    _write_json(root / MANIFEST, manifest)  # last: the seal
    return manifest


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def sandbox_view(manifest: dict[str, Any], audiences: tuple[str, ...]) -> dict[str, Any]:
    """The manifest as a sandbox that sees only ``audiences`` may read it.

    Row counts, paths and hashes of partitions the sandbox cannot read are facts about the
    people in them (how many minors, how many of their videos): they are left out, and a
    people table's ``rows`` counts the adults only.

    >>> doc = {"tables": {"t": {"rows": 5, "partitions": {"adult": 3, "minor": 2},
    ...        "files": [{"path": "t/audience=adult/p"}, {"path": "t/audience=minor/p"}]}}}
    >>> sandbox_view(doc, ("adult",))["tables"]["t"]
    {'rows': 3, 'partitions': {'adult': 3}, 'files': [{'path': 't/audience=adult/p'}]}
    """
    tables = {}
    for table, tdoc in manifest["tables"].items():
        if not tdoc["partitions"]:
            tables[table] = tdoc
            continue
        tables[table] = {
            **tdoc,
            "rows": tdoc["partitions"].get("adult", 0),
            "partitions": {a: n for a, n in tdoc["partitions"].items() if a in audiences},
            "files": [f for f in tdoc["files"] if _audience_of(f["path"]) in audiences],
        }
    return {**manifest, "tables": tables}


def read_manifest(root: Path) -> dict[str, Any]:
    """Load ``root/manifest.json`` or explain why it cannot be used."""
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetError(
            f"{root} has no {MANIFEST}: not a complete dataset (interrupted build?); "
            "regenerate or re-import it"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(doc, dict) or "tables" not in doc:
        raise DatasetError(f"{path} has no 'tables' section; is this a VCE dataset manifest?")
    return doc


def verify(root: Path) -> dict[str, Any]:
    """Recompute sizes, checksums, row counts and schemas; raise on the first mismatch.

    Files present on disk but absent from the manifest are mismatches too: a dataset is
    exactly what its manifest says, nothing more.
    """
    root = Path(root)
    doc = read_manifest(root)
    listed: set[str] = set()
    for table, tdoc in doc["tables"].items():
        for f in tdoc["files"]:
            rel = f["path"]
            listed.add(rel)
            p = root / rel
            if not p.is_file():
                raise DatasetError(f"{table}: file {rel} is listed in the manifest but missing")
            if p.stat().st_size != f["bytes"]:
                raise DatasetError(
                    f"{table}: {rel} has {p.stat().st_size} bytes, manifest says {f['bytes']}"
                )
            if sha256_file(p) != f["sha256"]:
                raise DatasetError(f"{table}: {rel} checksum differs from the manifest")
            try:
                footer = pq.ParquetFile(p)  # one footer read gives rows and schema
            except (pa.ArrowException, OSError) as exc:
                raise DatasetError(f"{table}: {rel} is not readable Parquet: {exc}") from None
            if footer.metadata.num_rows != f["rows"]:
                raise DatasetError(
                    f"{table}: {rel} holds {footer.metadata.num_rows} rows, "
                    f"manifest says {f['rows']}"
                )
            if schema_doc(footer.schema_arrow) != tdoc["schema"]:
                raise DatasetError(f"{table}: {rel} schema differs from the manifest")
    for p in sorted(root.rglob("*.parquet")):
        rel = p.relative_to(root).as_posix()
        if rel not in listed:
            raise DatasetError(f"unexpected file {rel}: not in the manifest")
    for audiences, name in SANDBOX_MANIFESTS.items():
        path = root / name
        if path.is_file() and json.loads(path.read_text("utf-8")) != sandbox_view(doc, audiences):
            raise DatasetError(f"{name} is not the sandbox view of {MANIFEST}; regenerate it")
    return doc
