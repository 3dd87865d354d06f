"""Local logins on a real SQLite hub database: NativeAuthenticator's rules, bcrypt off the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo

from vce.hub.authenticator import VCEAuthenticator

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def authenticator(tmp_path: Path) -> VCEAuthenticator:
    db = orm.new_session_factory(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}")()
    auth = VCEAuthenticator(_deprecated_db_session=db, allowed_failed_logins=3)
    auth.enable_signup = True
    auth.allow_all = True
    return auth


def _login(auth: VCEAuthenticator, name: str, password: str) -> str | None:
    return asyncio.run(auth.authenticate(None, {"username": name, "password": password}))


def test_only_an_approved_account_with_the_right_password_logs_in(authenticator) -> None:
    authenticator.create_user("ada", PASSWORD)
    assert _login(authenticator, "ada", PASSWORD) is None  # signed up, not yet approved
    UserInfo.change_authorization(authenticator.db, "ada")
    assert _login(authenticator, "ada", PASSWORD) == "ada"
    assert _login(authenticator, "ada", PASSWORD + "x") is None
    assert _login(authenticator, "nobody", PASSWORD) is None


def test_repeated_failures_lock_the_account_even_for_the_right_password(authenticator) -> None:
    authenticator.create_user("bea", PASSWORD)
    UserInfo.change_authorization(authenticator.db, "bea")
    for _ in range(3):
        assert _login(authenticator, "bea", "guess-" + PASSWORD) is None
    assert _login(authenticator, "bea", PASSWORD) is None


def test_the_event_loop_keeps_serving_while_a_password_is_checked(authenticator) -> None:
    """A blocking bcrypt (~0.2 s) would let the other task run at most once or twice."""
    authenticator.create_user("cleo", PASSWORD)
    UserInfo.change_authorization(authenticator.db, "cleo")

    async def main() -> tuple[str | None, int]:
        ticks = 0
        login = asyncio.ensure_future(
            authenticator.authenticate(None, {"username": "cleo", "password": PASSWORD})
        )
        while not login.done():
            ticks += 1
            await asyncio.sleep(0.001)
        return login.result(), ticks

    user, ticks = asyncio.run(main())
    assert user == "cleo"
    assert ticks > 20
