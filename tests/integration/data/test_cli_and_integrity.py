"""The datasets CLI: determinism, verification, atomic writes and clear errors on bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vce.data.schema import TABLES

VCE = [sys.executable, "-m", "vce.cli"]


def vce(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*VCE, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def row_digest(root: Path, table: str) -> str:
    """sha256 over the table's rows, sorted — independent of file layout."""
    glob = f"{root}/{table}/**/*.parquet"
    return duckdb.sql(
        f"SELECT sha256(string_agg(h, ',' ORDER BY h)) FROM "
        f"(SELECT md5(CAST(t AS VARCHAR)) h FROM read_parquet('{glob}', hive_partitioning=true) t)"
    ).fetchone()[0]


def test_generate_twice_gives_identical_rows(tmp_path, dataset):
    vce("datasets", "generate", "--out", str(tmp_path / "again"), "--videos", "20000",
        "--seed", "7", "--quiet", check=True)  # fmt: skip
    for table in TABLES:
        assert row_digest(tmp_path / "again", table) == row_digest(dataset, table), table


def test_another_seed_gives_other_rows(tmp_path, dataset):
    vce("datasets", "generate", "--out", str(tmp_path / "other"), "--videos", "20000",
        "--seed", "8", "--quiet", check=True)  # fmt: skip
    assert row_digest(tmp_path / "other", "videos") != row_digest(dataset, "videos")


def test_verify_passes_then_fails_after_one_byte_changes(tmp_path, dataset):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    ok = vce("datasets", "verify", str(copy))
    assert ok.returncode == 0, ok.stderr
    victim = sorted((copy / "comments" / "audience=minor").glob("*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    bad = vce("datasets", "verify", str(copy))
    assert bad.returncode == 1
    assert "comments/audience=minor/part-00000.parquet" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_verify_rejects_manifest_that_does_not_match(tmp_path, dataset):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    doc = json.loads((copy / "manifest.json").read_text())
    doc["tables"]["users"]["files"][0]["rows"] += 1
    doc["tables"]["users"]["files"][0]["sha256"] = doc["tables"]["users"]["files"][0]["sha256"]
    (copy / "manifest.json").write_text(json.dumps(doc))
    bad = vce("datasets", "verify", str(copy))
    assert bad.returncode == 1 and "manifest says" in bad.stderr


def test_verify_rejects_extra_files_and_missing_manifest(tmp_path, dataset):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    shutil.copy(copy / "shops" / "part-00000.parquet", copy / "shops" / "part-00099.parquet")
    assert "unexpected file" in vce("datasets", "verify", str(copy)).stderr
    (copy / "manifest.json").unlink()
    bad = vce("datasets", "verify", str(copy))
    assert bad.returncode == 1 and "no manifest.json" in bad.stderr


@pytest.mark.parametrize(
    ("videos", "message"),
    [("-5", "at least 100"), ("0", "at least 100"), ("999999999999", "at most"),
     ("ten", "not a valid integer")],
)  # fmt: skip
def test_bad_sizes_fail_with_one_line_and_leave_nothing(tmp_path, videos, message):
    out = tmp_path / "out"
    proc = vce("datasets", "generate", "--out", str(out), "--videos", videos, "--quiet")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force_and_is_left_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    proc = vce("datasets", "generate", "--out", str(out), "--videos", "200", "--quiet")
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert (out / "precious.txt").read_text() == "keep me"
    vce("datasets", "generate", "--out", str(out), "--videos", "200", "--force", "--quiet",
        check=True)  # fmt: skip
    assert not (out / "precious.txt").exists()
    assert vce("datasets", "verify", str(out)).returncode == 0


def test_killed_generation_leaves_no_dataset_that_verifies(tmp_path):
    out = tmp_path / "big"
    proc = subprocess.Popen(
        [*VCE, "datasets", "generate", "--out", str(out), "--videos", "2000000", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob(".big.tmp-*/videos")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    leftovers = list(tmp_path.glob(".big.tmp-*"))
    assert leftovers, "the build should have been under way in a temporary sibling"
    assert vce("datasets", "verify", str(leftovers[0])).returncode == 1
    # the next run cleans up what the killed one left behind
    vce("datasets", "generate", "--out", str(out), "--videos", "200", "--quiet", check=True)
    assert list(tmp_path.glob(".big.tmp-*")) == []


def test_interrupt_with_ctrl_c_cleans_up(tmp_path):
    out = tmp_path / "big"
    proc = subprocess.Popen(
        [*VCE, "datasets", "generate", "--out", str(out), "--videos", "2000000", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob(".big.tmp-*/videos")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_info_summarises(dataset):
    proc = vce("datasets", "info", str(dataset), check=True)
    assert "demo" in proc.stdout and "videos" in proc.stdout and "20,000" in proc.stdout


def test_info_on_a_non_dataset_is_a_clear_error(tmp_path):
    proc = vce("datasets", "info", str(tmp_path))
    assert proc.returncode == 2 and "no manifest.json" in proc.stderr


# ---------------------------------------------------------------- import


def export_like_a_warehouse(dataset: Path, dest: Path, *, integer_age: bool = False) -> Path:
    """Real rows only (adult + minor), one folder per table, no audience column."""
    dest.mkdir()
    for table, spec in TABLES.items():
        glob = f"{dataset}/{table}/audience=adult/*.parquet" if spec.about_people else None
        files = (
            [*(dataset / table / "audience=adult").glob("*.parquet"),
             *(dataset / table / "audience=minor").glob("*.parquet")]
            if glob else list((dataset / table).glob("*.parquet"))
        )  # fmt: skip
        data = pa.concat_tables([pq.ParquetFile(f).read() for f in files])
        (dest / table).mkdir()
        pq.write_table(data, dest / table / "extract.parquet")
    if integer_age:
        users = pq.read_table(dest / "users" / "extract.parquet")
        age = (
            duckdb.sql(
                "SELECT CASE age_band WHEN '13-15' THEN 14 WHEN '16-17' THEN 17 ELSE 30 END::INT AS a "
                "FROM users"
            )
            .to_arrow_table()
            .column("a")
        )
        users = users.set_column(users.schema.get_field_index("age_band"), "age_band", age)
        pq.write_table(users, dest / "users" / "extract.parquet")
    return dest


@pytest.mark.parametrize("integer_age", [False, True])
def test_import_partitions_like_the_generator(tmp_path, dataset, integer_age):
    src = export_like_a_warehouse(dataset, tmp_path / "src", integer_age=integer_age)
    out = tmp_path / "imported"
    proc = vce("datasets", "import", "--from", str(src), "--name", "warehouse", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert vce("datasets", "verify", str(out)).returncode == 0
    imported = json.loads((out / "manifest.json").read_text())
    original = json.loads((dataset / "manifest.json").read_text())
    for table in TABLES:
        parts_in = imported["tables"][table]["partitions"]
        parts_orig = original["tables"][table]["partitions"]
        assert parts_in.get("adult") == parts_orig.get("adult"), table
        assert parts_in.get("minor") == parts_orig.get("minor"), table
    assert imported["source"]["policy_sha256"]
    shared = duckdb.sql(
        f"SELECT count(*) FROM (SELECT text FROM read_parquet('{out}/comments/audience=minor_synthetic/*.parquet') "
        f"INTERSECT SELECT text FROM read_parquet('{out}/comments/audience=minor/*.parquet'))"
    ).fetchone()[0]  # fmt: skip
    assert shared == 0


def test_import_refuses_unclassified_column(tmp_path, dataset):
    src = export_like_a_warehouse(dataset, tmp_path / "src")
    videos = pq.read_table(src / "videos" / "extract.parquet")
    videos = videos.append_column("uploader_email", pa.array(["x@example.org"] * videos.num_rows))
    pq.write_table(videos, src / "videos" / "extract.parquet")
    out = tmp_path / "imported"
    proc = vce("datasets", "import", "--from", str(src), "--name", "w", "--out", str(out))
    assert proc.returncode == 2
    assert "videos.uploader_email is not classified" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".imported*"))


def test_import_refuses_corrupt_parquet(tmp_path, dataset):
    src = export_like_a_warehouse(dataset, tmp_path / "src")
    (src / "comments" / "extract.parquet").write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "imported"
    proc = vce("datasets", "import", "--from", str(src), "--name", "w", "--out", str(out))
    assert proc.returncode == 2
    assert "comments/extract.parquet is not readable Parquet" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_import_suggests_the_nearest_table_name(tmp_path, dataset):
    src = export_like_a_warehouse(dataset, tmp_path / "src")
    (src / "videos").rename(src / "video")
    proc = vce(
        "datasets", "import", "--from", str(src), "--name", "w", "--out", str(tmp_path / "o")
    )
    assert proc.returncode == 2 and "did you mean 'videos'" in proc.stderr
