"""The Kubernetes rendering carries the same hardening as the Docker deployment."""

from __future__ import annotations

from pathlib import Path

import yaml

from vce.hub.access import SpawnGrant
from vce.hub.config import load_settings
from vce.hub.kubespawner import data_volumes, helm_values


def values() -> dict:
    return helm_values(load_settings(environ={"VCE_HUB_REVIEWERS": "rev1"}))


def test_sandbox_security_context_is_restricted() -> None:
    ks = values()["hub"]["config"]["KubeSpawner"]
    ctx = ks["container_security_context"]
    assert ctx["runAsUser"] == 1000 and ctx["runAsNonRoot"] is True
    assert ctx["allowPrivilegeEscalation"] is False and ctx["privileged"] is False
    assert ctx["readOnlyRootFilesystem"] is True and ctx["capabilities"] == {"drop": ["ALL"]}
    assert ks["automount_service_account_token"] is False
    assert ks["profile_list"] == [] and ks["options_form"] == ""


def test_network_policy_allows_no_egress_but_airlock_and_dns() -> None:
    np = values()["singleuser"]["networkPolicy"]
    assert np["enabled"] is True
    rules = np["egressAllowRules"]
    assert not any(rules[k] for k in rules if k != "dnsPortsKubeSystemNamespace")
    assert [p["port"] for rule in np["egress"] for p in rule["ports"]] == [8090]


def test_limits_tmpfs_home_and_roles() -> None:
    v = values()
    su = v["singleuser"]
    assert su["memory"]["limit"] == "2Gi" and su["cpu"]["limit"] == 1.0
    assert su["storage"]["homeMountPath"] == "/home/jovyan"
    assert su["storage"]["extraVolumes"][0]["emptyDir"]["medium"] == "Memory"
    assert v["hub"]["loadRoles"]["vce-reviewer"]["users"] == ["rev1"]
    assert v["hub"]["config"]["JupyterHub"]["admin_access"] is False
    assert yaml.safe_load(yaml.safe_dump(v)) == v  # plain data, renders as YAML


def test_data_volumes_are_read_only_partitions_without_real_minors(tmp_path: Path) -> None:
    for part in ("adult", "minor", "minor_synthetic"):
        (tmp_path / "demo" / "videos" / f"audience={part}").mkdir(parents=True)
    (tmp_path / "demo" / "shops").mkdir()
    grant = SpawnGrant("p", "ada", ("demo",), u18_approved=True)
    volumes, mounts = data_volumes(tmp_path, grant)
    assert volumes == [
        {
            "name": "data-demo",
            "persistentVolumeClaim": {"claimName": "vce-data-demo", "readOnly": True},
        }
    ]
    assert all(m["readOnly"] for m in mounts)
    assert sorted(m["subPath"] for m in mounts) == [
        "shops",
        "videos/audience=adult",
        "videos/audience=minor_synthetic",
    ]
    assert not any(m["subPath"].endswith("audience=minor") for m in mounts)
