"""Fixtures of the airlock tests: databases (SQLite and PostgreSQL), an in-process airlock, and
a real JupyterHub + proxy running the airlock as a managed service."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from airlock_hub import Hub, running_hub

from prereq import require
from vce.airlock import projects
from vce.airlock.config import Settings
from vce.airlock.workflow import Airlock

PG_DEFAULT = "postgresql+psycopg://vce:vce@127.0.0.1:5432/postgres"


def _pg_admin_url() -> str:
    return os.environ.get("VCE_TEST_POSTGRES_URL", PG_DEFAULT)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:  # server not running
        admin.dispose()
        require(False, f"PostgreSQL at {_pg_admin_url()} ({exc.__class__.__name__})")
    name = f"vce_airlock_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    # Plain DROP (not WITH FORCE: that also tries to kill autovacuum workers, which only a
    # superuser may); our own engines are disposed by then, so retry briefly on stragglers.
    for attempt in range(20):
        try:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            break
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.25)
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite (WAL) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'airlock.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def settings(tmp_path: Path, db_url: str, dataset: Path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        db_url=db_url,
        releases_dir=tmp_path / "releases",
        datasets={"demo": dataset},
    )


@pytest.fixture
def airlock(settings: Settings) -> Iterator[Airlock]:
    """An airlock with projects p1 (alice, amy, rev3) and p2 (bob), both granted ``demo``."""
    a = Airlock(settings)
    with a.db.session() as s:
        projects.create(s, "boss", "p1", "Climate talk", "alice")
        projects.add_member(s, "boss", "p1", "amy")
        projects.add_member(s, "boss", "p1", "rev3")
        projects.grant(s, "boss", "p1", "demo")
        projects.create(s, "boss", "p2", "Shops", "bob")
        projects.grant(s, "boss", "p2", "demo")
    yield a
    a.db.dispose()


@pytest.fixture(scope="session")
def hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Path
) -> Iterator[Hub]:
    """A real hub + proxy + airlock (SQLite) with projects p1 and p2 set up over the admin API."""
    with running_hub(tmp_path_factory.mktemp("hub"), datasets={"demo": dataset}) as h:
        yield h
