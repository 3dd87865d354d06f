"""``vce airlock`` (serve, database) and ``vce audit`` (verify, export) commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vce.airlock.config import Settings


def _db(url: str | None):  # type: ignore[no-untyped-def]
    from vce.airlock.db import Database

    settings = Settings.from_env()
    return Database(url or settings.db_url, files_dir=settings.files_dir)


@click.group()
def airlock() -> None:
    """Run and manage the airlock service: export requests, review and release."""


@airlock.command()
@click.option("--ip", default=None, help="Address to bind (default: from JUPYTERHUB_SERVICE_URL).")
@click.option("--port", type=int, default=None, help="Port (default: from JUPYTERHUB_SERVICE_URL).")
def serve(ip: str | None, port: int | None) -> None:
    """Run the service (JupyterHub starts it as a managed service)."""
    from vce.airlock.service import serve as run

    run(ip, port)


@airlock.group()
def db() -> None:
    """Manage the airlock database."""


@db.command()
@click.option("--db", "url", default=None, help="SQLAlchemy URL (default: VCE_AIRLOCK_DB_URL).")
def upgrade(url: str | None) -> None:
    """Create or migrate the schema to the newest revision."""
    d = _db(url)
    click.echo(f"database at newest revision: {d.engine.url.render_as_string(hide_password=True)}")


@airlock.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs"), show_default=True)
def docs(out: Path) -> None:
    """Regenerate the API reference, the state diagram and the file-export types from the code."""
    from vce.airlock.docsgen import write_docs

    for p in write_docs(out):
        click.echo(f"wrote {p}")


@click.group()
def audit() -> None:
    """Verify and export the hash-chained audit log."""


@audit.command()
@click.option("--db", "url", default=None, help="SQLAlchemy URL (default: VCE_AIRLOCK_DB_URL).")
def verify(url: str | None) -> None:
    """Check the chain; exit 1 naming the first record that was edited, removed or moved."""
    from vce.airlock import audit as log

    with _db(url).session() as s:
        v = log.verify(s)
    if v.ok:
        click.echo(f"audit log OK: {v.records} records, head {v.head}")
        return
    click.echo(f"audit log BROKEN at record {v.bad_seq}: {v.reason}", err=True)
    sys.exit(1)


@audit.command()
@click.option("--db", "url", default=None, help="SQLAlchemy URL (default: VCE_AIRLOCK_DB_URL).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="File (default stdout).")
def export(url: str | None, out: Path | None) -> None:
    """Write every record as JSON lines (for regulators)."""
    from vce.airlock import audit as log

    with _db(url).session() as s:
        lines = list(log.export(s))
    text = "".join(line + "\n" for line in lines)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(lines)} records to {out}", err=True)
