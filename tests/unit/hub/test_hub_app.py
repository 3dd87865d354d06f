"""The rendered JupyterHub configuration: listeners, auth, services, roles, spawner settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from vce.hub.app import ADMIN_SCOPE, REVIEW_SCOPE, configure
from vce.hub.approval import APPROVE_SCOPE
from vce.hub.config import load_settings


@pytest.fixture
def rendered(tmp_path: Path) -> Config:
    c = Config()
    configure(
        c,
        load_settings(
            environ={"VCE_HUB_STATE_DIR": str(tmp_path / "var"), "VCE_HUB_REVIEWERS": "rev1,rev2"}
        ),
    )
    return c


def test_listeners_only_where_needed(rendered: Config) -> None:
    assert rendered.JupyterHub.ip == "127.0.0.1"
    assert rendered.JupyterHub.hub_bind_url == "http://172.30.213.1:8081"
    assert rendered.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8001"
    airlock = next(s for s in rendered.JupyterHub.services if s["name"] == "airlock")
    assert airlock["url"] == "http://172.30.213.1:8090"  # the service binds where its URL says


def test_named_servers_only_and_no_admin_access(rendered: Config) -> None:
    assert rendered.JupyterHub.allow_named_servers is True
    assert rendered.JupyterHub.redirect_to_server is False
    assert rendered.JupyterHub.admin_access is False
    assert rendered.JupyterHub.cleanup_servers is False
    assert rendered.JupyterHub.spawner_class == "vce.hub.spawner.VCESpawner"
    assert rendered.Spawner.disable_user_config is True


def test_native_auth_requires_admin_approval(rendered: Config) -> None:
    assert rendered.JupyterHub.authenticator_class == "vce.hub.authenticator.VCEAuthenticator"
    assert rendered.NativeAuthenticator.open_signup is False
    assert rendered.NativeAuthenticator.minimum_password_length >= 8
    assert rendered.NativeAuthenticator.check_common_password is True


def test_oidc_renders_generic_oauthenticator(tmp_path: Path) -> None:
    c = Config()
    configure(
        c,
        load_settings(
            environ={
                "VCE_HUB_STATE_DIR": str(tmp_path),
                "VCE_AUTH_TYPE": "oidc",
                "VCE_AUTH_OIDC_CLIENT_ID": "vce",
                "VCE_AUTH_OIDC_CLIENT_SECRET": "s3cret",
                "VCE_AUTH_OIDC_ISSUER": "https://id.example.org/realms/vce",
                "VCE_AUTH_OIDC_ALLOWED_GROUPS": "researchers",
            }
        ),
    )
    g = c.GenericOAuthenticator
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    assert g.token_url == "https://id.example.org/realms/vce/protocol/openid-connect/token"
    assert g.allowed_groups == {"researchers"} and g.enable_pkce is True
    assert "allow_all" not in g


def test_roles_and_custom_scopes_match_the_airlock(rendered: Config) -> None:
    from vce.airlock import config as airlock_config

    assert (REVIEW_SCOPE, ADMIN_SCOPE) == (airlock_config.REVIEW_SCOPE, airlock_config.ADMIN_SCOPE)
    roles = {r["name"]: r for r in rendered.JupyterHub.load_roles}
    assert roles["vce-reviewer"]["users"] == ["rev1", "rev2"]
    assert REVIEW_SCOPE in roles["vce-reviewer"]["scopes"]
    assert roles["vce-administrator"]["users"] == ["admin"]
    assert set(rendered.JupyterHub.custom_scopes) == {REVIEW_SCOPE, ADMIN_SCOPE, APPROVE_SCOPE}
    assert rendered.Authenticator.admin_users == set()  # JupyterHub admin: break-glass only
    assert "delete:servers" in roles["vce-reconciler"]["scopes"]


def test_services_culler_and_reconciler(rendered: Config, tmp_path: Path) -> None:
    services = {s["name"]: s for s in rendered.JupyterHub.services}
    assert "--timeout=3600" in services["idle-culler"]["command"]
    token_file = tmp_path / "var" / "reconciler-token"
    assert services["vce-reconciler"]["api_token"] == token_file.read_text()
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_sandbox_settings(rendered: Config) -> None:
    assert rendered.DockerSpawner.network_name == "vce-sandbox"
    assert rendered.DockerSpawner.remove is True
    assert rendered.VCESpawner.sandbox_uid == 1000
    assert rendered.VCESpawner.airlock_url == "http://172.30.213.1:8090/services/airlock/"
    assert "access:services!service=airlock" in rendered.Spawner.server_token_scopes


def test_jupyterhub_config_py_delegates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCE_HUB_STATE_DIR", str(tmp_path))
    c = Config()
    source = (Path(__file__).parents[3] / "jupyterhub_config.py").read_text()
    exec(compile(source, "jupyterhub_config.py", "exec"), {"get_config": lambda: c})
    assert c.JupyterHub.spawner_class == "vce.hub.spawner.VCESpawner"
