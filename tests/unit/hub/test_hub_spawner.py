"""The spawner's hardening and access decisions, on real traitlets and a real registry database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from tornado import web
from traitlets.config import Config

from vce.airlock import projects
from vce.airlock.db import Database
from vce.hub import cpu
from vce.hub.app import configure
from vce.hub.config import load_settings
from vce.hub.registry import AirlockRegistry
from vce.hub.spawner import VCESpawner


@pytest.fixture
def registry(tmp_path: Path) -> AirlockRegistry:
    url = f"sqlite:///{tmp_path / 'airlock.sqlite'}"
    db = Database(url)
    with db.session() as s:
        projects.create(s, "admin", "p1", "Project one", "alice")
        projects.grant(s, "admin", "p1", "demo")
        projects.create(s, "admin", "old", "Expired", "alice")
        projects.expire(s, "admin", "old")
    db.dispose()
    return AirlockRegistry(url)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    for part in ("adult", "minor", "minor_synthetic"):
        (root / "demo" / "videos" / f"audience={part}").mkdir(parents=True)
    (root / "demo" / "hashtags").mkdir()
    (root / "demo" / "manifest.json").write_text("{}")
    return root


def make_spawner(
    tmp_path: Path,
    registry: AirlockRegistry,
    data_root: Path,
    user: str,
    server: str,
    **extra: object,
) -> VCESpawner:
    c = Config()
    configure(
        c,
        load_settings(
            environ={"VCE_HUB_STATE_DIR": str(tmp_path / "var"), "VCE_DATA_ROOT": str(data_root)}
        ),
    )
    for key, value in extra.items():
        setattr(c.VCESpawner, key, value)
    hub = SimpleNamespace(api_url="http://hub/hub/api", public_host="", base_url="/hub/")
    u = SimpleNamespace(name=user, url=f"/user/{user}/", id=1, server=None)
    orm = SimpleNamespace(name=server, server=None, state=None, user_options=None)
    return VCESpawner(config=c, user=u, orm_spawner=orm, hub=hub, registry=registry)


def test_hardening_cannot_be_loosened_by_configuration(tmp_path, registry, data_root) -> None:
    sp = make_spawner(
        tmp_path,
        registry,
        data_root,
        "alice",
        "p1",
        extra_host_config={
            "read_only": False,
            "cap_drop": [],
            "pids_limit": 0,
            "dns": ["10.0.0.53"],
            "shm_size": "64m",
        },
        extra_create_kwargs={"user": "0"},
    )
    sp._merge_hardening()
    hc, ck = sp.extra_host_config, sp.extra_create_kwargs
    assert hc["read_only"] is True and hc["cap_drop"] == ["ALL"] and hc["pids_limit"] == 256
    assert hc["security_opt"][0] == "no-new-privileges:true"
    assert hc["security_opt"][1].startswith("seccomp={")  # Docker's default minus ptrace
    assert hc["network_mode"] == "vce-sandbox" and hc["privileged"] is False
    assert hc["memswap_limit"] == hc["memswap_limit"] and "size=512m" in hc["tmpfs"]["/tmp"]
    assert hc["dns"] == ["127.0.0.1"]  # no upstream resolver: no way out by DNS queries
    assert hc["shm_size"] == "64m"  # additions survive
    assert ck["user"] == "1000:1000"


def test_cap_add_is_refused(tmp_path, registry, data_root) -> None:
    sp = make_spawner(
        tmp_path, registry, data_root, "alice", "p1", extra_host_config={"cap_add": ["NET_RAW"]}
    )
    with pytest.raises(web.HTTPError):
        sp._merge_hardening()


def test_no_image_choice_and_no_user_options(tmp_path, registry, data_root) -> None:
    sp = make_spawner(tmp_path, registry, data_root, "alice", "p1")
    assert sp.allowed_images == {} and sp.options_form == ""
    assert sp.options_from_form({"image": ["evil:latest"]}) == {}
    assert sp.remove is True and sp.pull_policy == "never"


@pytest.mark.parametrize(
    ("user", "server", "reason"),
    [
        ("mallory", "p1", "not a member"),
        ("alice", "old", "not active"),
        ("alice", "", "default server is disabled"),
        ("alice", "nope", "no project"),
    ],
)
def test_start_refuses_without_active_membership(
    tmp_path, registry, data_root, user, server, reason
) -> None:
    sp = make_spawner(tmp_path, registry, data_root, user, server)
    with pytest.raises(web.HTTPError) as err:
        asyncio.run(sp.start())
    assert err.value.status_code == 403 and reason in err.value.log_message


def test_grant_decides_mounts_and_environment(tmp_path, registry, data_root) -> None:
    sp = make_spawner(tmp_path, registry, data_root, "alice", "p1")
    sp.grant = sp.resolve_grant()
    assert sp.grant.datasets == ("demo",) and sp.grant.u18_approved is False
    env = sp.get_env()
    assert env["VCE_PROJECT"] == "p1" and env["VCE_DATA_DIR"] == "/data"
    assert env["VCE_AIRLOCK_URL"] == "http://172.30.213.1:8090/services/airlock/"
    assert env["VCE_U18_APPROVED"] == "0"
    assert sp.home_volume() == "vce-home-alice--p1"


def test_start_slots_take_sandboxes_in_turn(tmp_path, registry, data_root, monkeypatch) -> None:
    """With one slot, the second start begins only when the first has finished."""
    monkeypatch.setattr(cpu, "_HOST_QUEUE", None)  # a fresh queue for this configuration
    spawners = [
        make_spawner(tmp_path, registry, data_root, "alice", "p1", concurrent_starts=1)
        for _ in range(3)
    ]
    events: list[tuple[str, int]] = []

    async def start(i: int) -> None:
        async with spawners[i]._start_slot():
            events.append(("in", i))
            await asyncio.sleep(0.01)
            events.append(("out", i))

    async def main() -> None:
        await asyncio.gather(*(start(i) for i in range(3)))

    asyncio.run(main())
    assert events == [("in", 0), ("out", 0), ("in", 1), ("out", 1), ("in", 2), ("out", 2)]


def test_start_returns_once_the_server_answers_not_while_it_fails(
    tmp_path, registry, data_root
) -> None:
    """A real HTTP listener answers 503 three times, then 404: the wait ends at the 404."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    spawner = make_spawner(tmp_path, registry, data_root, "alice", "p1", ready_poll_interval=0.01)
    seen: list[int] = []

    class Handler(web.RequestHandler):
        def get(self) -> None:
            code = 503 if len(seen) < 3 else 404
            seen.append(code)
            self.set_status(code)

    async def main() -> None:
        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server = HTTPServer(web.Application([(r".*", Handler)]))
        server.add_sockets(sockets)
        try:
            await spawner._wait_until_answering("127.0.0.1", port)
        finally:
            server.stop()

    asyncio.run(main())
    assert seen == [503, 503, 503, 404]


def test_container_names_say_nothing_and_never_fold_case(tmp_path, registry, data_root) -> None:
    lower = make_spawner(tmp_path, registry, data_root, "alice", "rt-u18")
    upper = make_spawner(tmp_path, registry, data_root, "alice", "RT-U18")
    for sp in (lower, upper):
        assert "alice" not in sp.object_name and "rt" not in sp.object_name.removeprefix("vce-")
    assert lower.object_name != upper.object_name


def test_mixed_case_server_name_is_refused_before_anything_runs(
    tmp_path, registry, data_root
) -> None:
    import asyncio

    from tornado import web

    sp = make_spawner(tmp_path, registry, data_root, "alice", "P1")
    with pytest.raises(web.HTTPError) as err:
        asyncio.run(sp.start())
    assert err.value.status_code == 400
