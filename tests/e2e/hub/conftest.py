"""Fixtures of the hub's end-to-end tests: one real deployment for the whole session."""

from __future__ import annotations

import random
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_relay import DockerRelay
from hubstack import Deployment, require_stack, start_hub, write_config

import loopback_names

loopback_names.install()  # <user>.localhost and airlock--service.localhost, as in Chromium


@pytest.fixture(scope="session")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, dataset: Path, sandbox_image: str
) -> Iterator[Deployment]:
    """Start the whole system once; tear everything down afterwards (each test makes its own
    accounts and project, so tests do not depend on each other)."""
    require_stack()
    from vce.hub import deploy
    from vce.hub.config import load_settings

    root = tmp_path_factory.mktemp("hub")
    relay = DockerRelay(root / "docker.sock")
    name = f"vcet{uuid.uuid4().hex[:6]}"
    last: Exception | None = None
    settings = None
    for _ in range(5):
        config = write_config(root, dataset.parent, random.randint(20, 250), name, sandbox_image)
        settings = load_settings(config, environ={})
        try:
            start_hub(settings, config, relay)
            break
        except Exception as exc:  # subnet taken by another network: try another
            last = exc
            deploy.stop(settings)
    else:
        raise RuntimeError(f"could not start the deployment: {last}")
    dep = Deployment(root=root, config=config, settings=settings, relay=relay)
    dep.account("admin")
    try:
        yield dep
    finally:
        deploy.stop(settings)
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", "name=vce-home-"],
            capture_output=True,
            text=True,
        ).stdout.split()
        # Only this session's projects: a running `make run` system keeps its home volumes.
        mine = [v for v in volumes if any(v.endswith(f"--{slug}") for slug in dep.projects)]
        if mine:
            subprocess.run(["docker", "volume", "rm", "-f", *mine], capture_output=True)
        relay.close()
