"""Deployment settings: defaults, vce.toml, environment, and errors that name key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vce.hub.config import SCHEMA, ConfigError, defaults, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "vce.toml"
    p.write_text(text)
    return p


def test_defaults_validate_and_derive_addresses() -> None:
    s = load_settings(path=None, environ={})
    assert s["sandbox"]["uid"] == 1000
    assert s.gateway == "172.30.213.1"
    assert s.hub_api_url == "http://172.30.213.1:8081"
    assert s.airlock_url == "http://172.30.213.1:8090/services/airlock/"
    assert s.public_url == "http://localhost:8000/"
    assert s.airlock_public_url == "http://airlock--service.localhost:8000/services/airlock/"


def test_the_airlock_origin_is_the_one_jupyterhub_gives_its_service() -> None:
    from jupyterhub.utils import subdomain_hook_idna

    s = load_settings(path=None, environ={"VCE_HUB_DOMAIN": "vce.example.org"})
    host = subdomain_hook_idna("airlock", "vce.example.org", kind="service")
    assert s.airlock_public_url == f"http://{host}:8000/services/airlock/"
    one = load_settings(path=None, environ={"VCE_HUB_DOMAIN": ""})
    assert one.public_url == "http://127.0.0.1:8000/"


def test_file_then_environment_override(tmp_path: Path) -> None:
    p = write(tmp_path, '[sandbox]\nmem_limit = "1G"\npids_limit = 100\n[hub]\nstate_dir = "st"\n')
    s = load_settings(p, environ={"VCE_SANDBOX_PIDS_LIMIT": "64", "VCE_HUB_REVIEWERS": "a, b"})
    assert s["sandbox"]["mem_limit"] == "1G"
    assert s["sandbox"]["pids_limit"] == 64
    assert s["hub"]["reviewers"] == ["a", "b"]
    assert s.state_dir == tmp_path / "st"
    assert s.origin["sandbox.pids_limit"] == "environment VCE_SANDBOX_PIDS_LIMIT"
    assert s.origin["sandbox.mem_limit"] == str(p)


def test_vce_config_env_names_the_file(tmp_path: Path) -> None:
    p = write(tmp_path, "[network]\nfirewall = false\n")
    assert load_settings(environ={"VCE_CONFIG": str(p)})["network"]["firewall"] is False


def test_unknown_key_suggests_the_known_one(tmp_path: Path) -> None:
    p = write(tmp_path, '[sandbox]\nmem_limt = "1G"\n')
    with pytest.raises(
        ConfigError, match=r"unknown setting 'sandbox.mem_limt'.*'sandbox.mem_limit'"
    ):
        load_settings(p, environ={})


def test_bad_value_names_key_origin_and_fix(tmp_path: Path) -> None:
    p = write(tmp_path, '[sandbox]\nmem_limit = "2 GB"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(p, environ={})
    msg = str(err.value)
    assert str(p) in msg and "sandbox.mem_limit" in msg and 'Fix: a byte size like "2G"' in msg


def test_root_uid_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"sandbox.uid = 0.*never 0"):
        load_settings(environ={"VCE_SANDBOX_UID": "0"})


def test_bad_env_type_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="VCE_SANDBOX_PIDS_LIMIT='many'"):
        load_settings(environ={"VCE_SANDBOX_PIDS_LIMIT": "many"})


def test_public_subnet_and_port_clash_are_refused() -> None:
    with pytest.raises(ConfigError, match="private IPv4"):
        load_settings(environ={"VCE_NETWORK_SUBNET": "8.8.8.0/24"})
    with pytest.raises(ConfigError, match=r"already used by hub\.hub_port"):
        load_settings(environ={"VCE_AIRLOCK_PORT": "8081"})


def test_oidc_needs_client_and_issuer() -> None:
    with pytest.raises(ConfigError, match=r"auth\.oidc_client_id, auth\.oidc_client_secret"):
        load_settings(environ={"VCE_AUTH_TYPE": "oidc"})


def test_every_setting_has_description_fix_and_valid_default() -> None:
    for section in SCHEMA["properties"].values():
        for key, spec in section["properties"].items():
            assert spec["description"] and spec["x-fix"], key
    assert defaults()["auth"]["type"] == "native"


def test_reference_documents_every_setting() -> None:
    from vce.hub.config import reference_markdown

    doc = (Path(__file__).parents[3] / "docs/reference/configuration.md").read_text()
    for name, section in SCHEMA["properties"].items():
        for key in section["properties"]:
            assert f"`{name}.{key}`" in doc, f"{name}.{key} missing from configuration.md"
    assert reference_markdown() in doc, "regenerate: python -m vce.hub.config"
