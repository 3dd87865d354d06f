"""Local accounts for NativeAuthenticator: created approved, with a generated password.

``make run`` uses this for its demo accounts; an administrator otherwise approves sign-ups at
``/hub/authorize``. Only a bcrypt hash is stored; the password is returned once, to be printed.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import bcrypt
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session


def generate_password() -> str:
    """Return a random 20-character password (about 120 bits)."""
    return secrets.token_urlsafe(15)


def ensure_account(hub_db: Path, username: str, password: str | None = None) -> str | None:
    """Create an approved account; return its password, or ``None`` when it exists already.

    The hub must have started once on ``hub_db`` (JupyterHub and NativeAuthenticator create
    their tables at start-up).
    """
    from nativeauthenticator.orm import UserInfo

    engine = create_engine(f"sqlite:///{hub_db}")
    try:
        if "users_info" not in inspect(engine).get_table_names():
            raise RuntimeError(f"{hub_db} has no users_info table: start the hub once first")
        with Session(engine) as db:
            if UserInfo.find(db, username) is not None:
                return None
            password = password or generate_password()
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
            db.add(UserInfo(username=username, password=hashed, is_authorized=True))
            db.commit()
            return password
    finally:
        engine.dispose()
