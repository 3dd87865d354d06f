"""The hardened sandbox spawner: DESIGN's first trust boundary, applied to every container.

Every hardening value is computed in :meth:`VCESpawner.hardened_host_config` and merged *over*
whatever ``extra_host_config`` a deployment sets, so configuration can add but never loosen:
internal network, non-root uid, ``cap_drop ALL``, ``no-new-privileges``, read-only root with a
tmpfs ``/tmp``, pids / memory / CPU limits, no swap, ``remove=True``. What a sandbox mounts comes
from the project registry at each start — never from the request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from dockerspawner import DockerSpawner
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Int, Unicode, default

from vce.hub import homequota
from vce.hub.access import STATE_DATASETS, STATE_U18, AccessDenied, Registry, SpawnGrant, decide
from vce.hub.cpu import START, host_queue
from vce.hub.mounts import DatasetMissing, data_binds
from vce.hub.seccomp import security_opt

_PROCESS_NAME_KEY = secrets.token_hex(32)


class VCESpawner(DockerSpawner):
    """One hardened container per researcher × project, named ``/user/<name>/<project>/``."""

    registry = AnyTrait(
        None,
        allow_none=True,
        config=True,
        help="""Project registry (an object with ``project(slug)``, see vce.hub.access.Registry).

        ``None`` opens the airlock's registry at ``registry_url``.
        """,
    )
    registry_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the airlock database holding the project registry.",
    )
    sandbox_uid = Int(
        1000,
        config=True,
        help="Non-root uid (and gid) the container runs as; 0 is refused.",
    )
    pids_limit = Int(
        256,
        config=True,
        help="Maximum processes/threads in the container: a fork bomb stops here.",
    )
    tmp_size = Unicode(
        "512M",
        config=True,
        help="Size of the tmpfs mounted on /tmp; the root filesystem itself is read-only.",
    )
    home_dir = Unicode(
        "/home/jovyan",
        config=True,
        help="Home folder inside the image; the per user × project volume is mounted here.",
    )
    home_volume_template = Unicode(
        "vce-home-{username}--{project}",
        config=True,
        help="Name of the persistent Docker volume holding a researcher's home in one project.",
    )
    data_root = Unicode(
        "",
        config=True,
        help="Host folder with one subfolder per dataset; granted ones are bound read-only.",
    )
    data_mount = Unicode(
        "/data",
        config=True,
        help="Container folder where granted datasets appear (exported as VCE_DATA_DIR).",
    )
    airlock_url = Unicode(
        "",
        config=True,
        help="Airlock base URL as reachable from the sandbox network (VCE_AIRLOCK_URL).",
    )
    duckdb_threads = Int(
        0,
        config=True,
        help="VCE_THREADS for the in-sandbox DuckDB; 0 lets the client derive it from the cgroup.",
    )
    concurrent_starts = Int(
        0,
        config=True,
        help="""How many sandboxes may be starting at once; later ones wait their turn (0: one
        per CPU core of the host).

        Starting a Jupyter server is CPU-bound (about 0.7 s of CPU with Docker's part). When
        ten researchers start together and all share the cores, every one of them waits for
        all ten; taken in turn, the first are ready in about a second. Password checks share
        these slots, after starts (:mod:`vce.hub.cpu`). The wait counts against
        ``start_timeout``.
        """,
    )
    ready_poll_interval = Float(
        0.05,
        config=True,
        help="""Seconds between checks that a starting server answers HTTP.

        The hub's own check backs off exponentially (0.2 s, 0.4 s, … up to 5 s), which can
        add seconds to a start; this one runs while the start slot is held, at a fixed pace.
        """,
    )
    home_quota = Unicode(
        "0",
        config=True,
        help="""Size limit of each home folder, like "2G" (:mod:`vce.hub.homequota`); "0" keeps
        an unlimited Docker volume per home.""",
    )
    home_images_dir = Unicode(
        "",
        config=True,
        help="Host folder holding the home images and their mount points (with home_quota).",
    )
    container_name_key = Unicode(
        "",
        config=True,
        help="""Secret from which container names are derived (empty: one per hub process).

        Docker's DNS on the sandbox network answers every container's name to every other
        container; a name like ``vce-alice--study`` told one researcher who works on which
        project. Names are an HMAC of user and server name instead.
        """,
    )
    enforce_firewall_network = Bool(
        True,
        config=True,
        help="Refuse to start unless network_name is set (sandboxes never use the default bridge).",
    )

    grant: SpawnGrant | None = None

    # ---- no user choice: one image, no options form, no user options -------------------------
    @default("options_form")
    def _no_options_form(self) -> str:
        return ""

    @default("options_from_form")
    def _no_options_from_form(self):  # type: ignore[no-untyped-def]
        return lambda formdata: {}

    @default("allowed_images")
    def _no_image_choice(self) -> dict[str, str]:
        return {}

    @default("remove")
    def _remove_default(self) -> bool:
        return True

    @default("use_internal_ip")
    def _internal_ip_default(self) -> bool:
        return True

    @default("prefix")
    def _prefix_default(self) -> str:
        return "vce"

    @default("name_template")
    def _name_template_default(self) -> str:
        return "{prefix}-{username}--{servername}"

    @default("container_name_key")
    def _container_name_key_default(self) -> str:
        return _PROCESS_NAME_KEY

    @default("object_name")
    def _object_name_default(self) -> str:
        """``vce-<hmac>``: stable for a user × server, meaningless to anyone without the key.

        Raw (not case-folded) names go in, so two server names differing in case never share a
        container (DockerSpawner's template lowercases; a failed start of ``RT-U18`` removed
        the running ``rt-u18``).
        """
        user = self.user.name if self.user is not None else ""
        digest = hmac.new(
            self.container_name_key.encode(), f"{user}\0{self.name}".encode(), hashlib.sha256
        ).hexdigest()[:24]
        return f"{self.prefix}-{digest}"

    @default("pull_policy")
    def _pull_policy_default(self) -> str:
        return "never"

    @default("disable_user_config")
    def _disable_user_config_default(self) -> bool:
        return True

    # ---- the registry -----------------------------------------------------------------------
    def _registry(self) -> Registry:
        if self.registry is None:
            from vce.hub.registry import shared_registry

            self.registry = shared_registry(self.registry_url)
        return self.registry

    def resolve_grant(self) -> SpawnGrant:
        """Decide from the registry, now, what this server may see (HTTP 403 when nothing)."""
        try:
            return decide(self._registry(), self.user.name, self.name)
        except AccessDenied as exc:
            raise web.HTTPError(403, str(exc)) from None

    # ---- the container --------------------------------------------------------------------
    def hardened_host_config(self) -> dict[str, Any]:
        """Host-config values that configuration may extend but never override."""
        mem = self.mem_limit
        config: dict[str, Any] = {
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true", security_opt()],
            "read_only": True,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={self.tmp_size.lower()}"},
            "pids_limit": self.pids_limit,
            "network_mode": self.network_name,
            "privileged": False,
            "ipc_mode": "private",
            # Docker's embedded DNS forwards names it does not know to upstream resolvers from
            # the host (before Docker 26 even on --internal networks: CVE-2024-29018), a way
            # out by DNS queries. Sandboxes need no names (hub and airlock URLs are IPs), so the
            # only upstream is the container's own loopback, where nothing answers.
            "dns": ["127.0.0.1"],
            "dns_search": ["."],
        }
        if mem:
            config["memswap_limit"] = mem
        return config

    def hardened_create_kwargs(self) -> dict[str, Any]:
        """Create-kwargs that pin the user and label the container with its grant."""
        labels = {
            "vce.project": self.name,
            "vce.user": self.user.name,
            "vce.network": self.network_name,  # `make stop` finds its sandboxes by this label
        }
        if self.grant is not None:
            labels["vce.datasets"] = ",".join(self.grant.datasets)
        return {
            "user": f"{self.sandbox_uid}:{self.sandbox_uid}",
            "working_dir": self.home_dir,
            "labels": labels,
        }

    def _merge_hardening(self) -> None:
        extra = (
            dict(self.extra_host_config or {}) if isinstance(self.extra_host_config, dict) else {}
        )
        extra.update(self.hardened_host_config())
        caps = extra.get("cap_add")
        if caps:
            raise web.HTTPError(500, "extra_host_config.cap_add is not allowed in a sandbox")
        self.extra_host_config = extra
        kwargs = (
            dict(self.extra_create_kwargs or {})
            if isinstance(self.extra_create_kwargs, dict)
            else {}
        )
        kwargs.update(self.hardened_create_kwargs())
        self.extra_create_kwargs = kwargs

    def home_volume(self) -> str:
        """Docker volume name of this researcher's home in this project."""
        return self.home_volume_template.format(
            username=self.escaped_name, project=self.escape(self.name.lower())
        )

    def uses_home_quota(self) -> bool:
        """Whether homes are size-limited images rather than Docker volumes."""
        return homequota.parse_size(self.home_quota) > 0

    def _home_images(self) -> Path:
        if not self.home_images_dir:
            raise web.HTTPError(500, "VCESpawner.home_images_dir must be set with home_quota")
        return Path(self.home_images_dir)

    async def _home_source(self) -> str:
        """The host side of the home mount: a quota-limited image's folder, or a volume name."""
        if not self.uses_home_quota():
            return self.home_volume()
        try:
            home = await asyncio.to_thread(
                homequota.mount_home,
                self._home_images(),
                self.home_volume(),
                homequota.parse_size(self.home_quota),
                self.sandbox_uid,
            )
        except homequota.HomeQuotaError as exc:
            raise web.HTTPError(500, str(exc)) from None
        return str(home)

    def get_env(self) -> dict[str, str]:
        """Add the client's environment: project, data folder, airlock URL, U18 flag, limits."""
        env = super().get_env()
        grant = self.grant
        env.update(
            {
                "VCE_PROJECT": self.name,
                "VCE_DATA_DIR": self.data_mount,
                "VCE_AIRLOCK_URL": self.airlock_url,
                "VCE_U18_APPROVED": "1" if grant and grant.u18_approved else "0",
                "VCE_DATASETS": ",".join(grant.datasets) if grant else "",
                "HOME": self.home_dir,
                # The home volume persists; an ~/.ipython in it makes jupyter_core try to
                # "migrate" into the read-only /etc/jupyter and the server dies at its second
                # start. IPython's profile lives on the tmpfs instead.
                "IPYTHONDIR": "/tmp/ipython",
                "VCE_HOME_QUOTA": self.home_quota if self.uses_home_quota() else "",
            }
        )
        # DuckDB's memory limit and threads: the client reads them from the container's cgroup
        # (a share of mem_limit, cpu_limit); only an explicit thread count is passed on.
        if self.duckdb_threads:
            env["VCE_THREADS"] = str(self.duckdb_threads)
        return env

    async def start(self) -> tuple[str, int]:
        """Check membership, compute mounts from the registry, harden, then start."""
        if self.name != self.name.lower():
            # Project slugs are lowercase; a mixed-case name would share the home (and, with
            # DockerSpawner's own naming, the container) of the lowercase one.
            raise web.HTTPError(400, f"server names are lowercase project slugs, not {self.name!r}")
        # a database read: off the hub's event loop
        self.grant = grant = await asyncio.to_thread(self.resolve_grant)
        if self.sandbox_uid == 0:
            raise web.HTTPError(500, "VCESpawner.sandbox_uid must not be 0 (root)")
        if self.enforce_firewall_network and not self.network_name:
            raise web.HTTPError(500, "VCESpawner.network_name must name the internal network")
        if self.user_options:
            self.log.warning("ignoring user options %s: sandboxes take none", self.user_options)
            self.user_options = {}
        try:
            binds = data_binds(
                Path(self.data_root), grant.datasets, self.data_mount, grant.u18_approved
            )
        except DatasetMissing as exc:
            raise web.HTTPError(500, str(exc)) from None
        self.volumes = {await self._home_source(): self.home_dir}
        self.read_only_volumes = binds
        self.format_volume_name = lambda template, spawner: template  # paths are final already
        self._merge_hardening()
        self.log.info(
            "starting sandbox %s for %s: datasets=%s u18=%s",
            self.name,
            self.user.name,
            json.dumps(grant.datasets),
            grant.u18_approved,
        )
        async with self._start_slot():
            ip, port = await super().start()
            await self._wait_until_answering(ip, port)
        return ip, port

    @asynccontextmanager
    async def _start_slot(self) -> AsyncIterator[None]:
        """Hold one of the host's CPU slots while starting (:mod:`vce.hub.cpu`)."""
        queue = host_queue(self.concurrent_starts)
        if queue.waiting:
            self.log.info(
                "sandbox %s for %s waits for a start slot (%d queued)",
                self.name,
                self.user.name,
                queue.waiting,
            )
        async with queue.hold(START):
            yield

    async def _wait_until_answering(self, ip: str, port: int) -> None:
        """Return once the new server answers HTTP (any status below 500), or at http_timeout.

        Not answering in time is left to the hub's own check, which reports the failure.
        """
        base_url = self.server.base_url if self.server is not None else "/"
        url = f"http://{ip}:{port}{base_url}api"
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            try:
                await client.fetch(url, follow_redirects=False, request_timeout=5)
                return
            except HTTPClientError as exc:
                if exc.code < 500:
                    return
            except OSError:
                pass  # not listening yet
            await asyncio.sleep(self.ready_poll_interval)

    async def stop(self, now: bool = False) -> None:
        """Stop the container, then unmount its home image (when homes have a quota)."""
        await super().stop(now=now)
        if self.uses_home_quota() and self.home_images_dir and self.name == self.name.lower():
            try:
                await asyncio.to_thread(
                    homequota.unmount_home, Path(self.home_images_dir), self.home_volume()
                )
            except homequota.HomeQuotaError as exc:
                self.log.warning("home of %s/%s stays mounted: %s", self.user.name, self.name, exc)

    def get_state(self) -> dict[str, Any]:
        """Remember what was mounted, so the reconciler can stop servers after a revocation."""
        state = super().get_state()
        if self.grant is not None and self.object_id:
            state[STATE_DATASETS] = list(self.grant.datasets)
            state[STATE_U18] = self.grant.u18_approved
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore the grant a running server was started with."""
        super().load_state(state)
        if STATE_DATASETS in state and self.user is not None:
            self.grant = SpawnGrant(
                project=self.name,
                username=self.user.name,
                datasets=tuple(state[STATE_DATASETS]),
                u18_approved=bool(state.get(STATE_U18)),
            )

    def clear_state(self) -> None:
        """Forget the grant along with the container."""
        super().clear_state()
        self.grant = None
