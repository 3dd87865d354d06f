"""Airlock settings, read from the environment (the hub passes them to the managed service).

======================================  ===============================================
``VCE_AIRLOCK_STATE_DIR``               where the SQLite database and releases live
                                        (default ``./airlock-state``)
``VCE_AIRLOCK_DB_URL``                  SQLAlchemy URL; default SQLite in the state dir
``VCE_AIRLOCK_RELEASES``                releases folder (default ``<state>/releases``)
``VCE_DATASETS``                        registered datasets, ``name=/dir,name2=/dir2``
``VCE_POLICY``                          policy file (default: the shipped default policy)
``VCE_AIRLOCK_APPROVALS``               approvals needed to release (default 2)
``VCE_AIRLOCK_FILE_MAX_BYTES``          file export size cap (default 16 MiB)
``VCE_AIRLOCK_CSV_MAX_ROWS``            CSV file export row cap (default 5000)
``VCE_AIRLOCK_SANDBOX_NETWORKS``       comma-separated CIDRs of sandbox containers: release
                                        downloads from there are refused (outside only)
``VCE_AIRLOCK_TRUSTED_PROXIES``        comma-separated CIDRs of the proxies in front of the
                                        airlock (configurable-http-proxy): only their
                                        ``X-Forwarded-For`` names the client's address
``VCE_AIRLOCK_VOTES_NEED_SESSION``     1 (default): a vote counts only from the reviewer's
                                        own login session (an OAuth token of their browser),
                                        never from an API token, which someone else may have
                                        minted for them; 0 only for tests that mint tokens
``VCE_AIRLOCK_WORKERS``                 worker threads re-executing and releasing (default 2)
``VCE_AIRLOCK_PROJECT_CONCURRENCY``     requests of one project worked on at the same time
                                        (default 1): a flood from one project leaves the
                                        other workers to the other projects
``VCE_AIRLOCK_REQUESTS_PER_DAY``        submissions and resubmissions per project per UTC
                                        day (default 200; 0: no limit); the next answers 429
``VCE_AIRLOCK_RELEASED_ROWS_PER_WEEK``  rows released to a project per week (Monday 00:00
                                        UTC on; default 1000000; 0: no limit); once reached,
                                        new submissions answer 429 until the week ends
``VCE_AIRLOCK_RELEASED_BYTES_PER_WEEK`` bytes of released data files per project per week
                                        (default 1 GiB; 0: no limit), same rule
``VCE_AIRLOCK_BODY_RETENTION_DAYS``     days the file of a finished (rejected, withdrawn,
                                        released) file export is kept in ``<state>/files``
                                        (default 30)
``VCE_AIRLOCK_SWEEP_SECONDS``           how often a worker deletes expired file bodies
                                        (default 3600; also once at start)
``VCE_AIRLOCK_DIFFERENCING_SCOPE``      whose earlier releases the differencing guard
                                        compares a result with: ``project`` (default, the
                                        project's own) or ``all`` (every project's: teams
                                        that pool their releases)
``VCE_AIRLOCK_FAULT_EXEC_DELAY``        fault-injection for crash tests only: seconds the
                                        worker sleeps inside re-execution (default 0)
``VCE_AIRLOCK_FAULT_RELEASE_DELAY``     fault-injection for crash tests only: seconds a
                                        release waits between writing and renaming
======================================  ===============================================
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vce.airlock.errors import Invalid

REVIEW_SCOPE = "custom:vce-airlock:review"
ADMIN_SCOPE = "custom:vce-airlock:admin"


def parse_datasets(spec: str) -> dict[str, Path]:
    """Parse ``name=/dir,name2=/dir2``.

    >>> parse_datasets("demo=/data/demo, big=/data/big")
    {'demo': PosixPath('/data/demo'), 'big': PosixPath('/data/big')}
    """
    out: dict[str, Path] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise Invalid(f"VCE_DATASETS entry {item!r} is not name=/path/to/dataset")
        out[name.strip()] = Path(path.strip())
    return out


def parse_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse ``10.0.0.0/8, 172.30.0.0/16``.

    >>> parse_networks("172.30.0.0/16")
    (IPv4Network('172.30.0.0/16'),)
    """
    try:
        return tuple(ipaddress.ip_network(s.strip()) for s in spec.split(",") if s.strip())
    except ValueError as exc:
        raise Invalid(f"network list {spec!r}: {exc}") from None


def in_networks(
    ip: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    """Whether ``ip`` lies in one of ``networks`` (unparseable addresses count as inside).

    >>> in_networks("172.30.0.5", parse_networks("172.30.0.0/16"))
    True
    >>> in_networks("192.168.1.2", parse_networks("172.30.0.0/16"))
    False
    """
    if not networks:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return True
    return any(addr in n for n in networks)


def _positive(env: Mapping[str, str], key: str, default: str) -> int:
    """An integer setting that must be at least 1.

    >>> _positive({"VCE_AIRLOCK_WORKERS": "3"}, "VCE_AIRLOCK_WORKERS", "2")
    3
    """
    raw = env.get(key, default)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise Invalid(f"{key}={raw!r}: must be a whole number of at least 1")
    return value


DIFFERENCING_SCOPES = ("project", "all")


def _scope(env: Mapping[str, str]) -> str:
    """``VCE_AIRLOCK_DIFFERENCING_SCOPE``, checked.

    >>> _scope({}), _scope({"VCE_AIRLOCK_DIFFERENCING_SCOPE": "all"})
    ('project', 'all')
    """
    raw = env.get("VCE_AIRLOCK_DIFFERENCING_SCOPE", "project").strip().lower()
    if raw not in DIFFERENCING_SCOPES:
        raise Invalid(f"VCE_AIRLOCK_DIFFERENCING_SCOPE={raw!r}: must be 'project' or 'all'")
    return raw


@dataclass
class Settings:
    """Everything the airlock needs to run; :meth:`from_env` is what the service uses."""

    state_dir: Path
    db_url: str
    releases_dir: Path
    datasets: dict[str, Path] = field(default_factory=dict)
    policy_path: Path | None = None
    approvals_required: int = 2
    file_max_bytes: int = 16 * 1024 * 1024
    csv_max_rows: int = 5000
    sandbox_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    votes_need_session: bool = True
    workers: int = 2
    project_concurrency: int = 1
    requests_per_day: int = 200
    released_rows_per_week: int = 1_000_000
    released_bytes_per_week: int = 1024**3
    body_retention_days: float = 30.0
    sweep_seconds: float = 3600.0
    differencing_scope: str = "project"
    fault_exec_delay: float = 0.0
    fault_release_delay: float = 0.0

    @property
    def history_dir(self) -> Path:
        """Release histories, one file per project (see :mod:`vce.policy.releases`)."""
        return self.state_dir / "release-history"

    @property
    def files_dir(self) -> Path:
        """Content-addressed folder of file-export bodies (see :mod:`vce.airlock.bodies`)."""
        return self.state_dir / "files"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``)."""
        e = os.environ if env is None else env
        state = Path(e.get("VCE_AIRLOCK_STATE_DIR", "airlock-state")).resolve()
        policy = e.get("VCE_POLICY")
        return cls(
            state_dir=state,
            db_url=e.get("VCE_AIRLOCK_DB_URL") or f"sqlite:///{state / 'airlock.sqlite'}",
            releases_dir=Path(e.get("VCE_AIRLOCK_RELEASES") or state / "releases"),
            datasets=parse_datasets(e.get("VCE_DATASETS", "")),
            policy_path=Path(policy) if policy else None,
            approvals_required=int(e.get("VCE_AIRLOCK_APPROVALS", "2")),
            file_max_bytes=int(e.get("VCE_AIRLOCK_FILE_MAX_BYTES", str(16 * 1024 * 1024))),
            csv_max_rows=int(e.get("VCE_AIRLOCK_CSV_MAX_ROWS", "5000")),
            sandbox_networks=parse_networks(e.get("VCE_AIRLOCK_SANDBOX_NETWORKS", "")),
            trusted_proxies=parse_networks(e.get("VCE_AIRLOCK_TRUSTED_PROXIES", "")),
            votes_need_session=e.get("VCE_AIRLOCK_VOTES_NEED_SESSION", "1") != "0",
            workers=_positive(e, "VCE_AIRLOCK_WORKERS", "2"),
            project_concurrency=_positive(e, "VCE_AIRLOCK_PROJECT_CONCURRENCY", "1"),
            requests_per_day=int(e.get("VCE_AIRLOCK_REQUESTS_PER_DAY", "200")),
            released_rows_per_week=int(e.get("VCE_AIRLOCK_RELEASED_ROWS_PER_WEEK", "1000000")),
            released_bytes_per_week=int(e.get("VCE_AIRLOCK_RELEASED_BYTES_PER_WEEK", str(1024**3))),
            body_retention_days=float(e.get("VCE_AIRLOCK_BODY_RETENTION_DAYS", "30")),
            sweep_seconds=float(e.get("VCE_AIRLOCK_SWEEP_SECONDS", "3600")),
            differencing_scope=_scope(e),
            fault_exec_delay=float(e.get("VCE_AIRLOCK_FAULT_EXEC_DELAY", "0")),
            fault_release_delay=float(e.get("VCE_AIRLOCK_FAULT_RELEASE_DELAY", "0")),
        )
