"""``vce datasets``: generate, import, verify and describe datasets.

Exit codes: 0 success, 1 verification failed, 2 unusable input (bad sizes, existing output,
unclassified columns, corrupt files). Errors are one line on stderr naming the fix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vce.data.layout import DatasetError

err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _progress(expected: dict[str, int], quiet: bool) -> Iterator[object]:
    """A rich progress bar per table; rows are reported as chunks are written."""
    if quiet:
        yield lambda table, rows: None
        return
    columns = (TextColumn("{task.description:>16}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=False) as bar:
        tasks = {t: bar.add_task(t, total=n) for t, n in expected.items()}

        def advance(table: str, rows: int) -> None:
            task = tasks[table]
            bar.advance(task, rows)
            total = bar.tasks[task].total or 0
            if bar.tasks[task].completed > total:
                bar.update(task, total=bar.tasks[task].completed)

        yield advance


@click.group()
def datasets() -> None:
    """Generate, import, verify and describe Parquet datasets."""


@datasets.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--videos", required=True, type=int, help="Number of videos; other tables scale.")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed.")
@click.option("--force", is_flag=True, help="Replace a non-empty output folder.")
@click.option("--name", default=None, help="Dataset name (default: the folder's name).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def generate(out: Path, videos: int, seed: int, force: bool, name: str | None, quiet: bool) -> None:
    """Generate a deterministic, platform-shaped synthetic dataset."""
    from vce.data.generate import Sizes, validate_request
    from vce.data.generate import generate as run

    try:
        validate_request(out, videos, seed, force)
        expected = Sizes.from_videos(max(videos, 1)).expected_rows()
        with _progress(expected, quiet) as progress:
            manifest = run(out, videos, seed, force=force, name=name, progress=progress)
    except DatasetError as exc:
        _fail(str(exc))
    rows = sum(t["rows"] for t in manifest["tables"].values())
    click.echo(
        f"wrote {out}: {len(manifest['tables'])} tables, {rows:,} rows (see vce datasets info)"
    )


@datasets.command()
@click.argument("directory", type=click.Path(path_type=Path))
def verify(directory: Path) -> None:
    """Recompute checksums, row counts and schemas against manifest.json."""
    from vce.data.manifest import verify as run

    try:
        doc = run(directory)
    except DatasetError as exc:
        _fail(f"verification failed: {exc}", code=1)
    files = sum(len(t["files"]) for t in doc["tables"].values())
    click.echo(f"ok: {doc['name']} {doc['version']}: {files} files match the manifest")


@datasets.command(name="import")
@click.option("--from", "src", required=True, type=click.Path(path_type=Path),
              help="Folder of extracts: SRC/<table>/*.parquet or SRC/<table>.parquet.")  # fmt: skip
@click.option("--name", required=True, help="Dataset name.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--policy", "policy", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Policy classifying every column (default: shipped).")  # fmt: skip
@click.option("--age-column", default="users.age_band", show_default=True,
              help="TABLE.COLUMN holding age bands ('13-15') or integer ages.")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace a non-empty output folder.")
def import_(
    src: Path, name: str, out: Path, policy: Path | None, age_column: str, force: bool
) -> None:
    """Import existing Parquet extracts, validated against a policy."""
    from vce.data.importer import import_extracts

    try:
        manifest = import_extracts(src, name=name, out=out, policy_path=policy,
                                   age_column=age_column, force=force)  # fmt: skip
    except DatasetError as exc:
        _fail(str(exc))
    click.echo(f"imported {len(manifest['tables'])} tables into {out}")


@datasets.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--policy", "policy", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="Policy to read (default: shipped).")  # fmt: skip
def statistics(directory: Path, policy: Path | None) -> None:
    """(Re)compute the bound statistics trusted execution reads (statistics.json).

    Generate and import write them; run this for a dataset built before, or after changing
    the policy's thresholds. Without them the first query of each relation computes them.
    """
    from vce.data.manifest import read_manifest
    from vce.policy.model import load_policy
    from vce.policy.stored_statistics import write_statistics

    try:
        read_manifest(directory)
        path = write_statistics(directory, load_policy(policy))
    except DatasetError as exc:
        _fail(str(exc))
    click.echo(f"wrote {path}")


@datasets.command()
@click.argument("directory", type=click.Path(path_type=Path))
def info(directory: Path) -> None:
    """Print a readable summary of a dataset."""
    from rich.console import Console as Out

    from vce.data.info import render_info

    try:
        render_info(directory, Out())
    except DatasetError as exc:
        _fail(str(exc))
