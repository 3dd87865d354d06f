"""file bodies outside the database; what each release gave the project (quotas)

Moves every ``requests.content`` body into the content-addressed folder
(``<state>/files/<sha256>``, see :mod:`vce.airlock.bodies`), keeping hash and size on the row,
then drops the column. Each moved file gets the newest ``created`` time of the requests that
share it as its modification time, so the retention sweep treats it like a body written at
submission. ``releases`` gains the rows and bytes each release gave its project, backfilled
from the stored results and the recorded file sizes.

Revision ID: 0002
Revises: 0001
"""

import datetime as dt
import io
import os
from pathlib import Path

import pyarrow.parquet as pq
import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DOCS = ("manifest.json", "README.md")


def _files_dir(needed: int) -> Path | None:
    files_dir = context.config.attributes.get("files_dir")
    if files_dir is None and needed:
        raise RuntimeError(
            f"the airlock database holds {needed} file bodies to move to the airlock's state "
            "folder: run `vce airlock db upgrade` with VCE_AIRLOCK_STATE_DIR set (or start the "
            "airlock service) before anything else opens this database"
        )
    return None if files_dir is None else Path(files_dir)


def _epoch(t: object) -> float:
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    assert isinstance(t, dt.datetime)
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def upgrade() -> None:
    from vce.airlock.bodies import BodyStore

    op.add_column("requests", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.add_column("requests", sa.Column("content_size", sa.Integer(), nullable=True))
    op.add_column(
        "requests", sa.Column("content_expired", sa.DateTime(timezone=True), nullable=True)
    )
    for name in ("released_rows", "released_bytes"):
        op.add_column(
            "releases", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
        )

    conn = op.get_bind()
    requests = sa.table(
        "requests",
        sa.column("id", sa.Integer),
        sa.column("content", sa.LargeBinary),
        sa.column("content_sha256", sa.String),
        sa.column("content_size", sa.Integer),
        sa.column("created", sa.DateTime(timezone=True)),
        sa.column("result", sa.LargeBinary),
    )
    ids = conn.execute(
        sa.select(requests.c.id).where(requests.c.content.is_not(None)).order_by(requests.c.id)
    ).scalars()
    ids = list(ids)
    files_dir = _files_dir(len(ids))
    newest: dict[str, float] = {}
    for rid in ids:  # one body at a time: the table may hold many megabytes of them
        data, created = conn.execute(
            sa.select(requests.c.content, requests.c.created).where(requests.c.id == rid)
        ).one()
        assert files_dir is not None
        digest = BodyStore(files_dir).put(bytes(data))
        conn.execute(
            sa.update(requests)
            .where(requests.c.id == rid)
            .values(content_sha256=digest, content_size=len(data))
        )
        newest[digest] = max(newest.get(digest, 0.0), _epoch(created))
    for digest, when in newest.items():
        assert files_dir is not None
        os.utime(files_dir / digest, (when, when))

    releases = sa.table(
        "releases",
        sa.column("id", sa.Integer),
        sa.column("request_id", sa.Integer),
        sa.column("files", sa.JSON),
        sa.column("released_rows", sa.BigInteger),
        sa.column("released_bytes", sa.BigInteger),
    )
    for rel_id, files, result in conn.execute(
        sa.select(releases.c.id, releases.c.files, requests.c.result).join(
            requests, requests.c.id == releases.c.request_id
        )
    ).all():
        data = {n: m for n, m in (files or {}).items() if n not in DOCS}
        rows = pq.ParquetFile(io.BytesIO(result)).metadata.num_rows if result else 0
        conn.execute(
            sa.update(releases)
            .where(releases.c.id == rel_id)
            .values(
                released_rows=rows,
                released_bytes=sum(int(m.get("size", 0)) for m in data.values()),
            )
        )
    # Native DROP COLUMN (SQLite 3.35+): a batch copy of `requests` would trip the foreign
    # keys that events, votes, comments and releases hold on it.
    op.drop_column("requests", "content")


def downgrade() -> None:
    op.add_column("requests", sa.Column("content", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    requests = sa.table(
        "requests",
        sa.column("id", sa.Integer),
        sa.column("content", sa.LargeBinary),
        sa.column("content_sha256", sa.String),
    )
    rows = conn.execute(
        sa.select(requests.c.id, requests.c.content_sha256).where(
            requests.c.content_sha256.is_not(None)
        )
    ).all()
    files_dir = _files_dir(len(rows))
    for rid, digest in rows:
        assert files_dir is not None
        path = files_dir / digest
        if path.exists():  # bodies deleted by retention stay deleted
            conn.execute(
                sa.update(requests).where(requests.c.id == rid).values(content=path.read_bytes())
            )
    for table, column in (
        ("releases", "released_bytes"),
        ("releases", "released_rows"),
        ("requests", "content_expired"),
        ("requests", "content_size"),
        ("requests", "content_sha256"),
    ):
        op.drop_column(table, column)
