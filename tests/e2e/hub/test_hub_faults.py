"""Faults: the hub restarts under running sandboxes; a sandbox or the Docker engine dies under it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hubstack import Deployment, HubUser, container_of

from vce.hub import deploy

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]


def test_hub_restart_leaves_running_servers_reachable(deployment: Deployment) -> None:
    deployment.account("hugo")
    slug = deployment.project("hugo")
    hugo = deployment.login("hugo")
    hugo.start(slug)
    before = container_of("hugo", slug)

    assert deploy.stop_hub(deployment.settings)
    assert not deploy.health(deployment.settings)
    assert container_of("hugo", slug) == before  # the sandbox outlives the hub
    deploy.start(deployment.settings, deployment.config)

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


def _restart_docker_engine() -> None:
    """Stop dockerd as a service manager would (SIGTERM) and start it the way CI does."""
    pids = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    assert pids, "no dockerd process to restart"
    for pid in pids:
        os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 90
    while subprocess.run(["pidof", "dockerd"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "dockerd did not stop within 90 s"
        time.sleep(0.5)
    subprocess.run(["bash", str(REPO / "scripts" / "docker-engine.sh")], check=True)


def test_docker_engine_restart_shows_servers_stopped_and_restartable(
    deployment: Deployment,
) -> None:
    deployment.account("rita")
    slug = deployment.project("rita")
    rita = deployment.login("rita")
    rita.start(slug)
    assert container_of("rita", slug)

    _restart_docker_engine()
    _shows_stopped_then_restarts(rita, slug, within_s=90)
