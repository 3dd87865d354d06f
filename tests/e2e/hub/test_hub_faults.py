"""Faults: the hub restarts under running sandboxes; a sandbox or the Docker engine dies under it."""

from __future__ import annotations

import subprocess
import time

import pytest
from hubstack import Deployment, HubUser, container_of

from vce.hub import deploy

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def test_hub_restart_leaves_running_servers_reachable(deployment: Deployment) -> None:
    deployment.account("hugo")
    slug = deployment.project("hugo")
    hugo = deployment.login("hugo")
    hugo.start(slug)
    before = container_of("hugo", slug)

    assert deploy.stop_hub(deployment.settings)
    assert not deploy.health(deployment.settings)
    assert container_of("hugo", slug) == before  # the sandbox outlives the hub
    deployment.start_hub()

    hugo = deployment.login("hugo")  # cookie secret kept: a new login works as before
    assert (hugo.server(slug) or {}).get("ready")
    assert hugo.server_api(slug, "status").status_code == 200
    assert container_of("hugo", slug) == before


def _shows_stopped_then_restarts(user: HubUser, slug: str, within_s: float) -> None:
    """The hub notices the dead server (its poll) and the researcher can start it again."""
    deadline = time.monotonic() + within_s
    while (user.server(slug) or {}).get("ready") and time.monotonic() < deadline:
        time.sleep(1)
    assert not (user.server(slug) or {}).get("ready"), "the hub still shows the dead server"
    user.start(slug)
    assert user.server_api(slug, "status").status_code == 200
    assert container_of(user.name, slug)


def test_killed_container_shows_stopped_and_restarts(deployment: Deployment) -> None:
    deployment.account("kim")
    slug = deployment.project("kim")
    kim = deployment.login("kim")
    kim.start(slug)
    subprocess.run(["docker", "kill", container_of("kim", slug)], check=True, capture_output=True)
    _shows_stopped_then_restarts(kim, slug, within_s=60)


def test_docker_engine_outage_shows_servers_stopped_and_restartable(
    deployment: Deployment,
) -> None:
    """The engine goes away while a sandbox runs, and stops it as a restarting engine does.

    The outage is the hub's Docker relay refusing (tests/e2e/hub/docker_relay.py) rather than a
    restart of the machine's dockerd, which would also stop a ``make run`` system's sandboxes.
    """
    deployment.account("rita")
    slug = deployment.project("rita")
    rita = deployment.login("rita")
    rita.start(slug)
    container = container_of("rita", slug)

    deployment.relay.cut()
    try:
        subprocess.run(["docker", "stop", container], check=True, capture_output=True)
        deadline = time.monotonic() + 60  # two of the hub's 15 s polls, and some
        while deployment.relay.refused == 0:
            assert time.monotonic() < deadline, "the hub never tried the engine during the outage"
            time.sleep(0.5)
        assert deploy.health(deployment.settings), "the hub went down with its engine"
    finally:
        deployment.relay.restore()
    _shows_stopped_then_restarts(rita, slug, within_s=90)
