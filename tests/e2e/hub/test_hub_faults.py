"""Faults: the hub restarts under running sandboxes; a sandbox dies under the hub."""

from __future__ import annotations

import subprocess
import time

import pytest
from hubstack import Deployment, container_of

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
    deploy.start(deployment.settings, deployment.config)

    hugo = deployment.login("hugo")  # cookie secret kept: a new login works as before
    assert (hugo.server(slug) or {}).get("ready")
    assert hugo.server_api(slug, "status").status_code == 200
    assert container_of("hugo", slug) == before


def test_killed_container_shows_stopped_and_restarts(deployment: Deployment) -> None:
    deployment.account("kim")
    slug = deployment.project("kim")
    kim = deployment.login("kim")
    kim.start(slug)
    subprocess.run(["docker", "kill", container_of("kim", slug)], check=True, capture_output=True)

    deadline = time.monotonic() + 60
    while (kim.server(slug) or {}).get("ready") and time.monotonic() < deadline:
        time.sleep(1)
    assert not (kim.server(slug) or {}).get("ready"), "the hub still shows the dead server"
    kim.start(slug)
    assert kim.server_api(slug, "status").status_code == 200
    assert container_of("kim", slug)
