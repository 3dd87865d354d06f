"""Which partitions a sandbox gets: adult (+ minor_synthetic when U18-approved), never minor."""

from __future__ import annotations

from pathlib import Path

import pytest

from vce.hub.firewall import SandboxNetwork, chain_rules, jump_rules
from vce.hub.mounts import DatasetMissing, data_binds


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for table in ("videos", "comments"):
        for part in ("adult", "minor", "minor_synthetic"):
            (tmp_path / "d" / table / f"audience={part}").mkdir(parents=True)
    (tmp_path / "d" / "shops").mkdir()
    for name in ("manifest.json", "manifest.sandbox.json", "manifest.sandbox-u18.json"):
        (tmp_path / "d" / name).write_text("{}")
    return tmp_path


def test_never_real_minor_rows(root: Path) -> None:
    for u18 in (False, True):
        binds = data_binds(root, ("d",), "/data", u18)
        assert not any(Path(h).name == "audience=minor" for h in binds)
        assert all("audience=minor/" not in t + "/" for t in binds.values())


def test_u18_adds_only_synthetic(root: Path) -> None:
    plain = set(data_binds(root, ("d",), "/data", False).values())
    u18 = set(data_binds(root, ("d",), "/data", True).values())
    assert u18 - plain == {
        "/data/d/videos/audience=minor_synthetic",
        "/data/d/comments/audience=minor_synthetic",
    }
    assert {"/data/d/manifest.json", "/data/d/shops", "/data/d/videos/audience=adult"} <= plain


def test_the_full_manifest_is_never_bound_only_the_sandbox_view(root: Path) -> None:
    for u18, view in ((False, "manifest.sandbox.json"), (True, "manifest.sandbox-u18.json")):
        binds = data_binds(root, ("d",), "/data", u18)
        assert str(root / "d" / "manifest.json") not in binds
        assert binds[str(root / "d" / view)] == "/data/d/manifest.json"


def test_missing_or_odd_dataset_is_refused(root: Path) -> None:
    with pytest.raises(DatasetMissing, match="no folder"):
        data_binds(root, ("other",), "/data", False)
    with pytest.raises(DatasetMissing):
        data_binds(root, ("../d",), "/data", False)


def test_firewall_allows_only_hub_api_and_airlock() -> None:
    net = SandboxNetwork("vce-sandbox", "10.9.0.0/24", "10.9.0.1", (8081, 8090))
    rules = [" ".join(r) for r in chain_rules(net)["VCE-IN-vce-sandbox"]]
    accepts = [r for r in rules if r.endswith("-j ACCEPT")]
    assert accepts == [
        "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-p tcp -d 10.9.0.1 --dport 8081 -m conntrack --ctstate NEW -j ACCEPT",
        "-p tcp -d 10.9.0.1 --dport 8090 -m conntrack --ctstate NEW -j ACCEPT",
    ]
    assert rules[-1].startswith("-j REJECT")
    assert chain_rules(net)["VCE-FWD-vce-sandbox"] == [["-j", "DROP"]]
    assert ("INPUT", ["-i", "vce-sandbox", "-j", "VCE-IN-vce-sandbox"]) in jump_rules(net)
