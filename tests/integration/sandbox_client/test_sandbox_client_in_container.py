"""The same attacks inside a container of the real image, started with DESIGN's hardening flags.

The researcher's side is ``docker exec python`` as uid 1000 in the container (what a notebook
kernel or a terminal runs); the host only compares what came back with the dataset on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vce.data.schema import TABLES

ATTACKS_SOURCE = (Path(__file__).parent / "attacks.py").read_text(encoding="utf-8")

PROBE = r"""
import glob, json, os
import pandas as pd
import vce

con = vce.connect(quiet=True)
mount = sorted(glob.glob("/data/*/videos/audience=adult/*.parquet"))[0]
paths = {"mount": mount, "mount_dir": os.path.dirname(mount), "outside": "/etc/passwd"}
out = {"tables": con.tables(), "banner": con.banner.text()}
out["guarded"] = run_attacks(con, paths)
out["raw"] = run_attacks(con.duckdb_connection, paths, set(DUCKDB_ENFORCED))
out["counts"] = {
    t: dict(con.sql(f"SELECT audience, count(*) FROM {t} GROUP BY 1").fetchall())
    if "audience" in [c[0] for c in con.sql(f"DESCRIBE {t}").fetchall()]
    else {"": con.sql(f"SELECT count(*) FROM {t}").fetchone()[0]}
    for t in con.tables()
}
out["settings"] = dict(con.sql("SELECT name, value FROM duckdb_settings()").fetchall())
leak_df = pd.DataFrame({"x": [1]})
try:
    con.sql("SELECT * FROM leak_df").fetchall()
    out["replacement_scan"] = None
except Exception as e:
    out["replacement_scan"] = f"{type(e).__name__}: {e}"
writes = {}
for target in [os.path.dirname(mount) + "/evil.parquet", "/data/evil", "/usr/local/evil",
               "/etc/evil", "/var/tmp/evil", "/opt/evil", "/home/jovyan/ok", "/tmp/ok"]:
    try:
        with open(target, "w") as fh:
            fh.write("x")
        writes[target] = None
    except OSError as e:
        writes[target] = f"{type(e).__name__}: {e}"
out["writes"] = writes
out["minor_dirs"] = glob.glob("/data/*/*/audience=minor")
req = vce.request_export(
    "SELECT region_code, count(*) AS n FROM videos GROUP BY 1", name="in-box", purpose="probe"
)
out["export"] = {"id": req.id, "state": req.state, "listed": [r.id for r in vce.exports()]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe(sandbox_container) -> dict:
    rc, stdout, stderr = sandbox_container.exec(ATTACKS_SOURCE + PROBE)
    assert rc == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _rows(path: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in path.glob("*.parquet"))


@pytest.mark.docker
def test_every_table_with_synthetic_minors_only(probe, dataset: Path) -> None:
    assert set(probe["tables"]) == set(TABLES)
    assert probe["minor_dirs"] == []  # the real minors' partitions are not even mounted
    for name, table in TABLES.items():
        counts = probe["counts"][name]
        if not table.about_people:
            assert counts == {"": _rows(dataset / name)}, name
            continue
        assert counts.get("adult", 0) == _rows(dataset / name / "audience=adult"), name
        assert counts.get("minor", 0) == _rows(dataset / name / "audience=minor_synthetic"), name
    assert "audience = 'minor' are SYNTHETIC" in probe["banner"]


@pytest.mark.docker
def test_every_attack_is_refused_in_the_container(probe) -> None:
    from attacks import ATTACKS

    accepted = [name for name, err in probe["guarded"].items() if err is None]
    assert accepted == []
    for name, err in probe["guarded"].items():
        assert ATTACKS[name][1] in err, (name, err)


@pytest.mark.docker
def test_duckdb_refuses_without_the_guard_in_the_container(probe) -> None:
    accepted = [name for name, err in probe["raw"].items() if err is None]
    assert accepted == []


@pytest.mark.docker
def test_locked_settings_and_cgroup_limits_in_the_container(probe) -> None:
    from vce.sandbox.lockdown import LOCKED_SETTINGS

    s = probe["settings"]
    for name, value in LOCKED_SETTINGS.items():
        assert s[name] == value, name
    assert s["threads"] == "1"
    # 60 % of the container's 2 GiB (--memory=2g), not the host's RAM
    assert s["memory_limit"] in ("1.1 GiB", "1.2 GiB", "1228.0 MiB"), s["memory_limit"]


@pytest.mark.docker
def test_python_dataframe_replacement_scan_refused_in_the_container(probe) -> None:
    assert probe["replacement_scan"] is not None
    assert "replacement scans are off" in probe["replacement_scan"]


@pytest.mark.docker
def test_export_request_reaches_the_airlock_from_the_container(probe, sandbox_container) -> None:
    sent = [r for r in sandbox_container.airlock.requests if r["name"] == "in-box"]
    assert len(sent) == 1
    body = sent[0]["body"]
    assert body["kind"] == "query" and body["project"] == sandbox_container.env["VCE_PROJECT"]
    assert body["sql"].startswith("SELECT region_code")
    assert probe["export"]["id"] == sent[0]["id"]
    assert probe["export"]["id"] in probe["export"]["listed"]


@pytest.mark.docker
def test_writes_only_land_in_tmpfs(probe) -> None:
    w = probe["writes"]
    for target, err in w.items():
        if target.startswith(("/home/jovyan/", "/tmp/")):
            assert err is None, (target, err)
        else:
            assert err is not None and ("Read-only" in err or "Permission" in err), (target, err)
