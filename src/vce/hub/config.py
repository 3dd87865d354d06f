"""Deployment settings: defaults, then ``vce.toml``, then ``VCE_<SECTION>_<KEY>`` variables.

Like The Littlest JupyterHub, an operator edits one small file instead of Python; every key is
declared in :data:`SCHEMA` (JSON Schema) with a description and a hint on how to fix a bad value,
and an invalid deployment fails at start with a message naming the key, where it came from and
the fix — not with a traceback from deep inside JupyterHub.

>>> s = load_settings(path=None, environ={"VCE_SANDBOX_MEM_LIMIT": "4G"})
>>> s["sandbox"]["mem_limit"], s["sandbox"]["uid"]
('4G', 1000)
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

CONFIG_ENV = "VCE_CONFIG"
"""Environment variable naming the deployment file (default: ``./vce.toml`` when it exists)."""

ENV_PREFIX = "VCE_"

_BYTES = r"^[0-9]+[KMGT]?$"
_NAME = r"^[a-z][a-z0-9-]{0,31}$"


def _opt(kind: str, default: Any, description: str, fix: str, **extra: Any) -> dict[str, Any]:
    """One schema property: its JSON type, default, description and the fix shown on error."""
    return {"type": kind, "default": default, "description": description, "x-fix": fix, **extra}


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "vce.toml",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "hub": {
            "type": "object",
            "description": "The JupyterHub process, its proxy and its accounts.",
            "additionalProperties": False,
            "properties": {
                "public_ip": _opt(
                    "string",
                    "127.0.0.1",
                    "Address the proxy serves browsers on. Keep 127.0.0.1 behind a TLS "
                    "reverse proxy; use 0.0.0.0 only with TLS configured in front.",
                    'an IP address, e.g. public_ip = "127.0.0.1"',
                    format="ipv4",
                ),
                "public_port": _opt(
                    "integer",
                    8000,
                    "Port the proxy serves browsers on.",
                    "a port number 1-65535",
                    minimum=1,
                    maximum=65535,
                ),
                "hub_port": _opt(
                    "integer",
                    8081,
                    "Port of the hub API; bound only to the sandbox network's gateway.",
                    "a port number 1-65535, different from airlock.port",
                    minimum=1,
                    maximum=65535,
                ),
                "proxy_api_port": _opt(
                    "integer",
                    8001,
                    "Port of configurable-http-proxy's REST API; bound to 127.0.0.1 only.",
                    "a port number 1-65535",
                    minimum=1,
                    maximum=65535,
                ),
                "state_dir": _opt(
                    "string",
                    "var",
                    "Folder for the hub database, cookie secret, service tokens, logs and pid "
                    "files (relative paths are relative to the folder of vce.toml).",
                    'a writable folder, e.g. state_dir = "/var/lib/vce"',
                    minLength=1,
                ),
                "domain": _opt(
                    "string",
                    "localhost",
                    "Domain browsers use for VCE. The hub is served on it, every researcher's "
                    "servers on <user>.<domain> and the airlock on airlock--service.<domain>, "
                    "so a page in one origin cannot read or drive another (needs a wildcard "
                    "DNS record and certificate; *.localhost resolves to loopback in browsers). "
                    "Empty: everything on one origin at public_ip (not isolated; tests only).",
                    'a DNS name, e.g. domain = "vce.example.org"',
                    pattern=r"^$|^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$",
                ),
                "admin_users": _opt(
                    "array",
                    ["admin"],
                    "Day-to-day administrators (role vce-administrator): approve accounts, "
                    "administer projects and read the audit log in the airlock. They cannot "
                    "open researchers' servers, mint tokens for others or review exports.",
                    'a list of usernames, e.g. admin_users = ["alice"]',
                    items={"type": "string", "minLength": 1},
                ),
                "break_glass_admins": _opt(
                    "array",
                    [],
                    "JupyterHub administrators with every permission (open any server, act as "
                    "any user) for emergencies only; each of their logins and hub API calls "
                    "is written to the audit log.",
                    'a list of usernames, e.g. break_glass_admins = ["ops-emergency"]',
                    items={"type": "string", "minLength": 1},
                ),
                "reviewers": _opt(
                    "array",
                    [],
                    "Output checkers: may review export requests in the airlock.",
                    'a list of usernames, e.g. reviewers = ["rev1", "rev2"]',
                    items={"type": "string", "minLength": 1},
                ),
                "idle_timeout": _opt(
                    "integer",
                    3600,
                    "Seconds without activity after which the idle culler stops a sandbox "
                    "(0 disables the culler).",
                    "a number of seconds >= 0",
                    minimum=0,
                ),
                "revocation_interval": _opt(
                    "integer",
                    20,
                    "Seconds between two passes of the reconciler that stops servers whose "
                    "project expired, member was removed or dataset was revoked.",
                    "a number of seconds between 1 and 60 (revocation must bite within a minute)",
                    minimum=1,
                    maximum=60,
                ),
            },
        },
        "auth": {
            "type": "object",
            "description": "How people log in.",
            "additionalProperties": False,
            "properties": {
                "type": _opt(
                    "string",
                    "native",
                    "native: local accounts with bcrypt-hashed passwords that an administrator "
                    "approves (NativeAuthenticator). oidc: an OpenID Connect provider "
                    "(GenericOAuthenticator).",
                    'type = "native" or type = "oidc"',
                    enum=["native", "oidc"],
                ),
                "minimum_password_length": _opt(
                    "integer",
                    12,
                    "Shortest password NativeAuthenticator accepts on sign-up.",
                    "an integer >= 8",
                    minimum=8,
                ),
                "allowed_failed_logins": _opt(
                    "integer",
                    5,
                    "Failed logins from one client address before that address must wait; "
                    "each further failure doubles the wait (1 s, 2 s, … up to 5 minutes; "
                    "answered 429 with Retry-After). Accounts are never locked, so nobody "
                    "can lock another person out (native).",
                    "an integer >= 1",
                    minimum=1,
                ),
                "oidc_client_id": _opt(
                    "string",
                    "",
                    "OIDC client id registered with the provider.",
                    'the client id, e.g. oidc_client_id = "vce"',
                ),
                "oidc_client_secret": _opt(
                    "string",
                    "",
                    "OIDC client secret. Prefer the environment variable "
                    "VCE_AUTH_OIDC_CLIENT_SECRET over writing it into the file.",
                    "set VCE_AUTH_OIDC_CLIENT_SECRET in the hub's environment",
                ),
                "oidc_issuer": _opt(
                    "string",
                    "",
                    "Issuer base URL; authorize, token and userinfo URLs are derived from it "
                    "(…/protocol/openid-connect/* for Keycloak) unless set below.",
                    'the issuer URL, e.g. oidc_issuer = "https://id.example.org/realms/vce"',
                ),
                "oidc_authorize_url": _opt(
                    "string", "", "Authorization endpoint (overrides the derived one).", "a URL"
                ),
                "oidc_token_url": _opt(
                    "string", "", "Token endpoint (overrides the derived one).", "a URL"
                ),
                "oidc_userdata_url": _opt(
                    "string", "", "Userinfo endpoint (overrides the derived one).", "a URL"
                ),
                "oidc_username_claim": _opt(
                    "string",
                    "preferred_username",
                    "Claim of the userinfo response used as the JupyterHub username.",
                    'a claim name, e.g. "preferred_username" or "email"',
                ),
                "oidc_allowed_groups": _opt(
                    "array",
                    [],
                    "Only members of these provider groups (claim `groups`) may log in; empty "
                    "means every authenticated account of the provider.",
                    'a list, e.g. oidc_allowed_groups = ["vce-researchers"]',
                    items={"type": "string"},
                ),
                "oidc_admin_groups": _opt(
                    "array",
                    [],
                    "Provider groups whose members become break-glass administrators "
                    "(JupyterHub admins, audited; see hub.break_glass_admins).",
                    'a list, e.g. oidc_admin_groups = ["vce-break-glass"]',
                    items={"type": "string"},
                ),
            },
        },
        "network": {
            "type": "object",
            "description": "The internal Docker network sandboxes live on.",
            "additionalProperties": False,
            "properties": {
                "name": _opt(
                    "string",
                    "vce-sandbox",
                    "Name of the internal Docker network (created with --internal and "
                    "inter-container traffic disabled).",
                    'lowercase letters, digits and dashes, e.g. name = "vce-sandbox"',
                    pattern=_NAME,
                ),
                "subnet": _opt(
                    "string",
                    "172.30.213.0/24",
                    "IPv4 subnet of the network; its first address is the gateway the hub API "
                    "and the airlock bind to.",
                    'an unused private IPv4 CIDR, e.g. subnet = "10.213.0.0/24"',
                ),
                "firewall": _opt(
                    "boolean",
                    True,
                    "Install host iptables rules that let the sandbox network reach only the "
                    "hub API and the airlock (needs root). Disable only where another firewall "
                    "enforces the same.",
                    "true or false",
                ),
            },
        },
        "sandbox": {
            "type": "object",
            "description": "The researcher's container (one per researcher × project).",
            "additionalProperties": False,
            "properties": {
                "image": _opt(
                    "string",
                    "vce-notebook:latest",
                    "The one image every sandbox runs; researchers cannot choose another.",
                    'an image built by `make images`, e.g. image = "vce-notebook:latest"',
                    minLength=1,
                ),
                "uid": _opt(
                    "integer",
                    1000,
                    "Non-root user id the sandbox runs as.",
                    "an integer >= 1000 (never 0)",
                    minimum=1000,
                ),
                "home": _opt(
                    "string",
                    "/home/jovyan",
                    "Home folder in the image; a persistent volume per researcher × project "
                    "is mounted here.",
                    "an absolute path that exists in the image",
                    pattern="^/",
                ),
                "data_mount": _opt(
                    "string",
                    "/data",
                    "Where granted datasets appear in the sandbox (VCE_DATA_DIR).",
                    "an absolute path",
                    pattern="^/",
                ),
                "mem_limit": _opt(
                    "string",
                    "2G",
                    "Memory limit per sandbox (no swap on top).",
                    'a byte size like "2G" or "512M"',
                    pattern=_BYTES,
                ),
                "cpu_limit": _opt(
                    "number",
                    1.0,
                    "CPU cores a sandbox may use.",
                    "a number > 0, e.g. 1.5",
                    exclusiveMinimum=0,
                ),
                "pids_limit": _opt(
                    "integer",
                    256,
                    "Maximum processes and threads in a sandbox (stops fork bombs).",
                    "an integer between 32 and 4096",
                    minimum=32,
                    maximum=4096,
                ),
                "home_quota": _opt(
                    "string",
                    "2G",
                    "Size limit of each home folder (one per researcher × project): a "
                    "loop-mounted ext4 image under the state folder, so a full home stops "
                    'there, not at the host\'s disk. "0" keeps unlimited Docker volumes. '
                    "Raising it grows homes at their next start; lowering it never shrinks one.",
                    'a byte size like "2G", or "0" for no limit',
                    pattern=_BYTES,
                ),
                "tmp_size": _opt(
                    "string",
                    "512M",
                    "Size of the in-memory /tmp (the root filesystem is read-only).",
                    'a byte size like "512M"',
                    pattern=_BYTES,
                ),
                "start_timeout": _opt(
                    "integer",
                    120,
                    "Seconds the hub waits for a sandbox to start.",
                    "an integer >= 10",
                    minimum=10,
                ),
                "concurrent_starts": _opt(
                    "integer",
                    0,
                    "How many sandboxes may be starting at once; later ones wait their turn, "
                    "first come first served (0: one per CPU core). Starting a Jupyter server "
                    "is CPU-bound: taken in turn, the first researchers are ready in about a "
                    "second instead of all waiting for the last. Password checks share these "
                    "slots, after starts. The wait counts against start_timeout.",
                    "an integer >= 0",
                    minimum=0,
                ),
                "duckdb_threads": _opt(
                    "integer",
                    0,
                    "VCE_THREADS for the in-sandbox DuckDB (0: the client derives it from the "
                    "container's CPU limit).",
                    "an integer >= 0",
                    minimum=0,
                ),
            },
        },
        "data": {
            "type": "object",
            "description": "Where the platform's dataset extracts live on the host.",
            "additionalProperties": False,
            "properties": {
                "root": _opt(
                    "string",
                    "datasets",
                    "Host folder holding one subfolder per dataset (the name a project is "
                    "granted). Only adult and minor_synthetic partitions are mounted.",
                    'a folder, e.g. root = "/srv/vce/datasets"',
                    minLength=1,
                ),
            },
        },
        "airlock": {
            "type": "object",
            "description": "The airlock service (export API, review UI) and the project registry.",
            "additionalProperties": False,
            "properties": {
                "port": _opt(
                    "integer",
                    8090,
                    "Port of the airlock; bound only to the sandbox network's gateway.",
                    "a port number 1-65535, different from hub.hub_port",
                    minimum=1,
                    maximum=65535,
                ),
                "database_url": _opt(
                    "string",
                    "",
                    "SQLAlchemy URL of the airlock database, which also holds the project "
                    "registry (empty: SQLite in state_dir/airlock.sqlite).",
                    'e.g. "postgresql+psycopg://vce@localhost/vce"',
                ),
                "managed": _opt(
                    "boolean",
                    True,
                    "Let the hub start and stop the airlock as a managed service.",
                    "true or false",
                ),
            },
        },
    },
}


class ConfigError(ValueError):
    """A deployment setting is invalid; the message names the key, its origin and the fix."""


@dataclass
class Settings(Mapping[str, Any]):
    """Validated settings: ``settings["sandbox"]["mem_limit"]``, plus where each came from."""

    data: dict[str, Any]
    base_dir: Path
    origin: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """Section ``key`` as a dict."""
        return self.data[key]

    def __iter__(self):  # type: ignore[override]
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def path(self, section: str, key: str) -> Path:
        """Resolve a path setting against the folder of vce.toml."""
        p = Path(self.data[section][key])
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def state_dir(self) -> Path:
        """Folder of hub database, secrets, logs and pid files."""
        return self.path("hub", "state_dir")

    @property
    def gateway(self) -> str:
        """First host address of the sandbox subnet: where hub API and airlock listen."""
        net = ipaddress.ip_network(self.data["network"]["subnet"], strict=False)
        return str(next(net.hosts()))

    @property
    def hub_api_url(self) -> str:
        """URL sandboxes (and the CLI) use to reach the hub API."""
        return f"http://{self.gateway}:{self.data['hub']['hub_port']}"

    @property
    def airlock_url(self) -> str:
        """Base URL of the airlock as seen from a sandbox (VCE_AIRLOCK_URL)."""
        return f"http://{self.gateway}:{self.data['airlock']['port']}/services/airlock/"

    @property
    def domain(self) -> str:
        """``hub.domain``: the hub's host name; users and the airlock on its subdomains."""
        return self.data["hub"]["domain"]

    @property
    def public_url(self) -> str:
        """What a browser opens (the hub's origin)."""
        host = self.domain or self.data["hub"]["public_ip"]
        return f"http://{host}:{self.data['hub']['public_port']}/"

    @property
    def airlock_public_url(self) -> str:
        """The airlock as a browser opens it: its own origin when ``hub.domain`` is set."""
        host = f"airlock--service.{self.domain}" if self.domain else self.data["hub"]["public_ip"]
        return f"http://{host}:{self.data['hub']['public_port']}/services/airlock/"

    @property
    def airlock_database_url(self) -> str:
        """The airlock/registry database; SQLite in the state folder unless configured."""
        url = self.data["airlock"]["database_url"]
        return url or f"sqlite:///{self.state_dir / 'airlock.sqlite'}"


def defaults() -> dict[str, Any]:
    """Every key at its default value."""
    return {
        section: {key: copy.deepcopy(spec["default"]) for key, spec in sect["properties"].items()}
        for section, sect in SCHEMA["properties"].items()
    }


def _spec(section: str, key: str) -> dict[str, Any] | None:
    sect = SCHEMA["properties"].get(section)
    return None if sect is None else sect["properties"].get(key)


def _known_keys() -> list[str]:
    return [f"{s}.{k}" for s, sect in SCHEMA["properties"].items() for k in sect["properties"]]


def _unknown(dotted: str, origin: str) -> ConfigError:
    close = difflib.get_close_matches(dotted, _known_keys(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"{origin}: unknown setting {dotted!r}.{hint} "
        "Every setting is listed in docs/reference/configuration.md."
    )


def _from_env(environ: Mapping[str, str]) -> dict[tuple[str, str], Any]:
    """``VCE_SANDBOX_MEM_LIMIT=4G`` → {("sandbox", "mem_limit"): "4G"}, typed by the schema."""
    found: dict[tuple[str, str], Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        spec = _spec(section, key)
        if spec is None:
            continue  # other components' variables (VCE_PROJECT, VCE_DATA_DIR…) are not ours
        found[(section, key)] = _coerce(raw, spec, name)
    return found


def _coerce(raw: str, spec: dict[str, Any], name: str) -> Any:
    kind = spec["type"]
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            low = raw.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind == "array":
            return [item.strip() for item in raw.split(",") if item.strip()]
    except ValueError:
        raise ConfigError(
            f"environment {name}={raw!r}: not a valid {kind}. Fix: {spec['x-fix']}"
        ) from None
    return raw


def load_settings(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge defaults, the deployment file and the environment, then validate.

    ``path=None`` uses ``$VCE_CONFIG`` or ``./vce.toml`` when present; no file at all is a
    valid deployment (all defaults).
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    if path is None and Path("vce.toml").is_file():
        path = "vce.toml"
    data = defaults()
    origin: dict[str, str] = {}
    base_dir = Path.cwd()
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(
                f"{file}: no such deployment file. Fix: create it or unset VCE_CONFIG."
            )
        base_dir = file.resolve().parent
        try:
            loaded = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML ({exc}).") from None
        for section, values in loaded.items():
            if section not in data or not isinstance(values, dict):
                raise _unknown(section, str(file))
            for key, value in values.items():
                if _spec(section, key) is None:
                    raise _unknown(f"{section}.{key}", str(file))
                data[section][key] = value
                origin[f"{section}.{key}"] = str(file)
    for (section, key), value in _from_env(env).items():
        data[section][key] = value
        origin[f"{section}.{key}"] = f"environment {ENV_PREFIX}{section.upper()}_{key.upper()}"
    validate(data, origin)
    return Settings(data=data, base_dir=base_dir, origin=origin)


def validate(data: dict[str, Any], origin: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` for the first invalid value, naming key, origin and fix."""
    origin = origin or {}
    validator = jsonschema_rs.Draft202012Validator(SCHEMA, validate_formats=True)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.instance_path)))
    for error in errors:
        where = [str(p) for p in error.instance_path]
        if len(where) < 2:
            raise ConfigError(f"vce.toml: {error.message}")
        section, key = where[0], where[1]
        dotted = f"{section}.{key}"
        spec = _spec(section, key) or {}
        raise ConfigError(
            f"{origin.get(dotted, 'default')}: {dotted} = {error.instance!r} is invalid "
            f"({error.message}). Fix: {spec.get('x-fix', 'see docs/reference/configuration.md')}"
        )
    _check_consistency(data, origin)


def _check_consistency(data: dict[str, Any], origin: Mapping[str, str]) -> None:
    """Rules across keys that JSON Schema cannot express."""
    where = origin.get("network.subnet", "default")
    try:
        net = ipaddress.IPv4Network(data["network"]["subnet"], strict=False)
    except ValueError:
        raise ConfigError(
            f"{where}: network.subnet = {data['network']['subnet']!r} is not an IPv4 network. "
            'Fix: write it as a CIDR, e.g. subnet = "10.213.0.0/24".'
        ) from None
    if not net.is_private or net.num_addresses < 8:
        raise ConfigError(
            f"{where}: network.subnet = "
            f"{data['network']['subnet']!r} must be a private IPv4 network of at least /29. "
            "Fix: pick an unused private range, e.g. 10.213.0.0/24."
        )
    ports = {
        "hub.public_port": data["hub"]["public_port"],
        "hub.hub_port": data["hub"]["hub_port"],
        "hub.proxy_api_port": data["hub"]["proxy_api_port"],
        "airlock.port": data["airlock"]["port"],
    }
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            raise ConfigError(
                f"{origin.get(key, 'default')}: {key} = {port} is already used by {seen[port]}. "
                "Fix: give every listener its own port."
            )
        seen[port] = key
    auth = data["auth"]
    if auth["type"] == "oidc":
        missing = [k for k in ("oidc_client_id", "oidc_client_secret") if not auth[k]]
        if not auth["oidc_issuer"] and not all(
            auth[k] for k in ("oidc_authorize_url", "oidc_token_url", "oidc_userdata_url")
        ):
            missing.append("oidc_issuer")
        if missing:
            raise ConfigError(
                f"auth.type = 'oidc' needs auth.{', auth.'.join(missing)}. Fix: set them in "
                "vce.toml (the secret through VCE_AUTH_OIDC_CLIENT_SECRET); see "
                "docs/how-to/administer.md#single-sign-on."
            )


def reference_markdown() -> str:
    """Render the settings tables of docs/reference/configuration.md from :data:`SCHEMA`."""
    lines: list[str] = []
    for name, section in SCHEMA["properties"].items():
        lines += [f"### `[{name}]`", "", section["description"], ""]
        lines += ["| setting | type | default | meaning | valid values |", "|---|---|---|---|---|"]
        for key, spec in section["properties"].items():
            default = spec["default"]
            shown = "`" + (default if isinstance(default, str) else json.dumps(default)) + "`"
            env = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
            lines.append(
                f"| `{name}.{key}`<br>`{env}` | {spec['type']} | {shown} | "
                f"{spec['description']} | {spec['x-fix']} |".replace("\n", " ")
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown())
