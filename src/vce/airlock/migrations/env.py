"""Alembic environment: runs on the connection :func:`vce.airlock.db.upgrade` passes in."""

from __future__ import annotations

from alembic import context

from vce.airlock.models import Base


def run() -> None:
    """Run the migrations on the connection handed over in the config attributes."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `vce airlock db upgrade`, not the alembic CLI")
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


try:
    context.config  # noqa: B018 — only set inside an Alembic run
except AttributeError:  # imported by a tool (doctest collection), not by Alembic
    pass
else:
    run()
