"""Turn validated :class:`~vce.hub.config.Settings` into a JupyterHub configuration.

``jupyterhub_config.py`` calls :func:`configure` with JupyterHub's config object; tests call it
with a plain :class:`traitlets.config.Config` and assert on the rendered values.

Where things listen (DESIGN's first trust boundary): the proxy serves browsers on
``hub.public_ip``; the proxy API stays on 127.0.0.1; the hub API and the airlock bind to the
sandbox network's gateway only, the one host address sandboxes can route to, and the host
firewall (:mod:`vce.hub.firewall`) lets the sandbox network reach nothing else.

Origins (``hub.domain``): the hub on ``<domain>``, each user's servers on ``<user>.<domain>``
and the airlock on ``airlock--service.<domain>`` (JupyterHub's ``subdomain_host``), so a page a
researcher's server serves cannot read the hub's or the airlock's pages, cookies or XSRF
tokens; every origin answers ``frame-ancestors 'none'``.

Who administers: ``hub.admin_users`` hold the ``vce-administrator`` role (accounts, projects,
audit) and nothing that reaches a researcher's server, mints tokens for others or reviews;
``hub.break_glass_admins`` are JupyterHub administrators, audited (:mod:`vce.hub.guard`).
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from traitlets.config import Config

from vce.hub.approval import APPROVE_SCOPE
from vce.hub.config import Settings, load_settings

AIRLOCK_SERVICE = "airlock"
RECONCILER_SERVICE = "vce-reconciler"
CULLER_SERVICE = "idle-culler"
REVIEW_SCOPE = "custom:vce-airlock:review"
ADMIN_SCOPE = "custom:vce-airlock:admin"
RECONCILER_TOKEN_FILE = "reconciler-token"
FRAME_ANCESTORS = "frame-ancestors 'none'"

ADMINISTRATOR_SCOPES = [
    ADMIN_SCOPE,
    APPROVE_SCOPE,
    f"access:services!service={AIRLOCK_SERVICE}",
    "list:users",
    "read:users",
    "list:groups",
    "read:groups",
]
"""The day-to-day administrator: no access:servers, no tokens, no admin:users, no review."""

RECONCILER_SCOPES = [
    "list:users",
    "read:users",
    "read:servers",
    "delete:servers",
    "admin:server_state",
    "list:groups",
    "read:groups",
    "admin:groups",
    "groups",
]
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


def service_token(state_dir: Path, name: str) -> str:
    """Return a service's API token, created once (mode 0600) and kept across hub restarts."""
    path = state_dir / name
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def datasets_env(settings: Settings) -> str:
    """``name=/dir,…`` for every dataset folder under ``data.root`` (the airlock's VCE_DATASETS)."""
    root = settings.path("data", "root")
    if not root.is_dir():
        return ""
    names = sorted(p for p in root.iterdir() if (p / "manifest.json").is_file())
    return ",".join(f"{p.name}={p}" for p in names)


def configure(c: Config, settings: Settings | None = None) -> Settings:
    """Fill ``c`` with the whole hub configuration; returns the settings used."""
    s = settings or load_settings()
    hub, sandbox = s["hub"], s["sandbox"]
    state = s.state_dir
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)

    # -- where things listen ---------------------------------------------------------------
    c.JupyterHub.ip = hub["public_ip"]
    c.JupyterHub.port = hub["public_port"]
    c.JupyterHub.hub_bind_url = s.hub_api_url
    c.JupyterHub.hub_connect_url = s.hub_api_url
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub['proxy_api_port']}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    if s.domain:  # every user's servers, and each service, on an origin of its own
        c.JupyterHub.subdomain_host = s.public_url.rstrip("/")
    c.JupyterHub.tornado_settings = {"headers": {"Content-Security-Policy": FRAME_ANCESTORS}}
    c.JupyterHub.template_paths = [str(Path(__file__).parent / "templates")]

    # -- servers: one named server per project, none by default -----------------------------
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 10
    c.JupyterHub.redirect_to_server = False
    c.JupyterHub.admin_access = False  # administrators cannot open researchers' sandboxes
    c.JupyterHub.cleanup_servers = False  # a hub restart leaves running sandboxes alone
    c.JupyterHub.template_vars = {"vce_public_url": s.public_url}

    # -- the sandbox spawner ------------------------------------------------------------------
    c.JupyterHub.spawner_class = "vce.hub.spawner.VCESpawner"
    c.Spawner.default_url = "/lab"
    c.Spawner.disable_user_config = True
    c.Spawner.poll_interval = 15  # notice a killed sandbox (or a restarted engine) quickly
    c.Spawner.start_timeout = sandbox["start_timeout"]
    c.Spawner.http_timeout = sandbox["start_timeout"]
    c.Spawner.mem_limit = sandbox["mem_limit"]
    c.Spawner.cpu_limit = float(sandbox["cpu_limit"])
    c.Spawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        f"access:services!service={AIRLOCK_SERVICE}",  # the in-sandbox client calls the airlock
    ]
    c.DockerSpawner.image = sandbox["image"]
    c.DockerSpawner.network_name = s["network"]["name"]
    c.DockerSpawner.use_internal_ip = True
    c.DockerSpawner.remove = True
    c.DockerSpawner.pull_policy = "never"
    c.DockerSpawner.mem_limit = sandbox["mem_limit"]
    c.DockerSpawner.cpu_limit = float(sandbox["cpu_limit"])
    c.VCESpawner.registry_url = s.airlock_database_url
    c.VCESpawner.sandbox_uid = sandbox["uid"]
    c.VCESpawner.pids_limit = sandbox["pids_limit"]
    c.VCESpawner.concurrent_starts = sandbox["concurrent_starts"]
    c.VCESpawner.tmp_size = sandbox["tmp_size"]
    c.VCESpawner.home_quota = sandbox["home_quota"]
    c.VCESpawner.home_images_dir = str(state / "homes")
    c.VCESpawner.container_name_key = service_token(state, "container-name-key")
    c.VCESpawner.home_dir = sandbox["home"]
    c.VCESpawner.data_root = str(s.path("data", "root"))
    c.VCESpawner.data_mount = sandbox["data_mount"]
    c.VCESpawner.airlock_url = s.airlock_url
    c.VCESpawner.duckdb_threads = sandbox["duckdb_threads"]

    _configure_auth(c, s)
    _configure_services(c, s)
    _configure_roles(c, s)
    c.JupyterHub.log_level = "INFO"
    return s


def _configure_auth(c: Config, s: Settings) -> None:
    auth, hub = s["auth"], s["hub"]
    # JupyterHub "admin" (every scope) only for break-glass accounts; the day-to-day
    # administrators get the vce-administrator role instead (see _configure_roles)
    c.Authenticator.admin_users = set(hub["break_glass_admins"])
    if auth["type"] == "native":
        # NativeAuthenticator, with bcrypt off the event loop (vce.hub.authenticator); it
        # refuses accounts an administrator has not approved.
        c.JupyterHub.authenticator_class = "vce.hub.authenticator.VCEAuthenticator"
        c.NativeAuthenticator.allow_all = True
        c.NativeAuthenticator.open_signup = False
        c.NativeAuthenticator.enable_signup = True
        c.NativeAuthenticator.minimum_password_length = auth["minimum_password_length"]
        c.NativeAuthenticator.check_common_password = True
        # no account lockout (anyone could lock anyone out): per-address backoff instead
        c.NativeAuthenticator.allowed_failed_logins = 0
        c.VCEAuthenticator.failures_before_backoff = auth["allowed_failed_logins"]
        c.VCEAuthenticator.trusted_proxies = [f"{s.gateway}/32"]  # the proxy connects from there
        c.VCEAuthenticator.audit_db_url = s.airlock_database_url
        return
    issuer = auth["oidc_issuer"].rstrip("/")
    c.JupyterHub.authenticator_class = "oauthenticator.generic.GenericOAuthenticator"
    g = c.GenericOAuthenticator
    g.client_id = auth["oidc_client_id"]
    g.client_secret = auth["oidc_client_secret"]
    g.oauth_callback_url = f"{s.public_url}hub/oauth_callback"
    g.authorize_url = auth["oidc_authorize_url"] or f"{issuer}/protocol/openid-connect/auth"
    g.token_url = auth["oidc_token_url"] or f"{issuer}/protocol/openid-connect/token"
    g.userdata_url = auth["oidc_userdata_url"] or f"{issuer}/protocol/openid-connect/userinfo"
    g.username_claim = auth["oidc_username_claim"]
    g.scope = ["openid", "profile", "email"]
    g.enable_pkce = True
    g.login_service = "single sign-on"
    if auth["oidc_allowed_groups"] or auth["oidc_admin_groups"]:
        g.auth_state_groups_key = "oauth_user.groups"
        g.allowed_groups = set(auth["oidc_allowed_groups"])
        g.admin_groups = set(auth["oidc_admin_groups"])
    if not auth["oidc_allowed_groups"]:
        g.allow_all = True


def _configure_services(c: Config, s: Settings) -> None:
    hub, airlock = s["hub"], s["airlock"]
    state = s.state_dir
    services: list[dict[str, Any]] = []
    airlock_service: dict[str, Any] = {
        "name": AIRLOCK_SERVICE,
        "url": f"http://{s.gateway}:{airlock['port']}",
        "display": True,
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [REVIEW_SCOPE, ADMIN_SCOPE],
    }
    if airlock["managed"]:
        # The airlock binds to the host and port of its service URL (the gateway only).
        airlock_service["command"] = [sys.executable, "-m", "vce.airlock"]
        airlock_service["environment"] = {
            "VCE_AIRLOCK_STATE_DIR": str(state / "airlock"),
            "VCE_AIRLOCK_DB_URL": s.airlock_database_url,
            "VCE_DATASETS": datasets_env(s),
            # releases are downloaded outside the sandbox: sandboxes connect from the subnet;
            # browsers come through the proxy, which connects from the gateway
            "VCE_AIRLOCK_SANDBOX_NETWORKS": s["network"]["subnet"],
            "VCE_AIRLOCK_TRUSTED_PROXIES": f"{s.gateway}/32",
        }
    services.append(airlock_service)
    services.append(
        {
            "name": RECONCILER_SERVICE,
            "api_token": service_token(state, RECONCILER_TOKEN_FILE),
            "command": [
                sys.executable,
                "-m",
                "vce.hub.reconciler",
                f"--interval={hub['revocation_interval']}",
                f"--registry-url={s.airlock_database_url}",
            ],
        }
    )
    if hub["idle_timeout"] > 0:
        services.append(
            {
                "name": CULLER_SERVICE,
                "command": [
                    sys.executable,
                    "-m",
                    "jupyterhub_idle_culler",
                    f"--timeout={hub['idle_timeout']}",
                    "--remove-named-servers=false",
                ],
            }
        )
    c.JupyterHub.services = services


def _configure_roles(c: Config, s: Settings) -> None:
    hub = s["hub"]
    c.JupyterHub.custom_scopes = {
        REVIEW_SCOPE: {"description": "Review export requests in the airlock."},
        ADMIN_SCOPE: {"description": "Administer projects and see the audit log in the airlock."},
        APPROVE_SCOPE: {"description": "Approve and discard sign-ups of local accounts."},
    }
    access_airlock = f"access:services!service={AIRLOCK_SERVICE}"
    roles: list[dict[str, Any]] = [
        {
            "name": "user",
            "description": "Researchers: their own servers, and the airlock.",
            "scopes": ["self", access_airlock],
        },
        {
            "name": "vce-reviewer",
            "description": "Output checkers.",
            "scopes": [REVIEW_SCOPE, access_airlock],
            "users": list(hub["reviewers"]),
        },
        {
            "name": "vce-administrator",
            "description": "Accounts, projects and the audit log; not researchers' servers.",
            "scopes": ADMINISTRATOR_SCOPES,
            "users": list(hub["admin_users"]),
        },
        {
            "name": RECONCILER_SERVICE,
            "description": "Stops revoked servers and mirrors projects as groups.",
            "scopes": RECONCILER_SCOPES,
            "services": [RECONCILER_SERVICE],
        },
    ]
    if hub["idle_timeout"] > 0:
        roles.append(
            {
                "name": CULLER_SERVICE,
                "description": "Stops idle sandboxes.",
                "scopes": CULLER_SCOPES,
                "services": [CULLER_SERVICE],
            }
        )
    c.JupyterHub.load_roles = roles
