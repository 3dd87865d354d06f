"""Fuzz the running airlock from its own OpenAPI document with schemathesis: whatever the
input and whoever the caller, no 5xx and no unhandled exception in the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from airlock_hub import Hub, running_hub
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def fuzz_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Path
) -> Iterator[Hub]:
    """Its own hub: the admin fuzzer creates, expires and edits projects at random."""
    with running_hub(tmp_path_factory.mktemp("fuzzhub"), datasets={"demo": dataset}) as h:
        yield h
    log = (h.dir / "hub.log").read_text(errors="replace")
    assert "Uncaught exception" not in log, "the airlock raised an unhandled error"


@pytest.fixture(scope="module")
def airlock_schema(fuzz_hub: Hub):
    return schemathesis.openapi.from_url(fuzz_hub.airlock + "api/openapi.json")


schema = schemathesis.pytest.from_fixture("airlock_schema")
FUZZ = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def _call(case, hub: Hub, user: str) -> None:
    case.call_and_validate(
        base_url=hub.airlock.rstrip("/"),
        headers={"Authorization": f"token {hub.token(user)}"},
        checks=[not_a_server_error],
        timeout=60,
    )


@schema.parametrize()
@FUZZ
def test_fuzz_as_researcher(case, fuzz_hub: Hub) -> None:
    _call(case, fuzz_hub, "alice")


@schema.parametrize()
@FUZZ
def test_fuzz_as_admin(case, fuzz_hub: Hub) -> None:
    _call(case, fuzz_hub, "boss")


@schema.parametrize()
@FUZZ
def test_fuzz_as_reviewer(case, fuzz_hub: Hub) -> None:
    _call(case, fuzz_hub, "rev1")
