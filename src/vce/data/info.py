"""``vce datasets info``: a readable summary of a dataset's manifest."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from vce.data.manifest import read_manifest


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def render_info(root: Path, console: Console) -> None:
    """Print name, version, provenance and a per-table, per-partition row table."""
    doc = read_manifest(Path(root))
    src = doc.get("source", {})
    console.print(f"[bold]{doc['name']}[/] version {doc['version']}, created {doc['created']}")
    console.print("source: " + ", ".join(f"{k}={v}" for k, v in src.items()))
    t = Table("table", "rows", "adult", "minor", "minor_synthetic", "files", "size", "columns")
    total = 0
    for name, tdoc in doc["tables"].items():
        parts = tdoc.get("partitions", {})
        size = sum(f["bytes"] for f in tdoc["files"])
        total += size
        t.add_row(
            name,
            f"{tdoc['rows']:,}",
            *(
                f"{parts[a]:,}" if a in parts else "—"
                for a in ("adult", "minor", "minor_synthetic")
            ),
            str(len(tdoc["files"])),
            _size(size),
            str(len(tdoc["schema"])),
        )
    console.print(t)
    console.print(
        f"total on disk: {_size(total)}; changelog: "
        + "; ".join(f"{c['version']} ({c['date']}): {c['note']}" for c in doc["changelog"])
    )
