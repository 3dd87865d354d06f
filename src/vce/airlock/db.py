"""Engine and sessions for SQLite (default, WAL) or PostgreSQL, and schema upgrades by Alembic.

SQLite transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers (the service's
worker thread, a ``vce project`` command) queue on the lock instead of failing half-way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and immediate writes."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine, files_dir: Path | None = None, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default the newest; idempotent).

    ``files_dir`` is the airlock's body folder (``Settings.files_dir``): migrations that move
    file bodies out of the database write there, and refuse to run without it if there are any.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["files_dir"] = files_dir
        command.upgrade(cfg, revision)


class Database:
    """An engine plus a session factory; ``with db.session() as s:`` commits or rolls back."""

    def __init__(self, url: str, *, migrate: bool = True, files_dir: Path | None = None) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url)
        if migrate:
            try:
                upgrade(self.engine, files_dir)
            except BaseException:
                self.engine.dispose()
                raise
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back on error."""
        with self._factory() as s, s.begin():
            yield s

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
