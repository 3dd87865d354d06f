"""Mount discovery and the views over odd mounts: missing partitions, empty tables, bad roots."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vce
from vce.data.schema import TABLES
from vce.sandbox.mount import MountError, discover


def _write(path: Path, table: str, rows: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    schema = TABLES[table].schema
    data = {f.name: pa.array([None] * rows, type=f.type) for f in schema}
    if "region_code" in data:
        data["region_code"] = pa.array(["US"] * rows)
    pq.write_table(pa.table(data, schema=schema), path / "part-00000.parquet")


@pytest.fixture
def odd_mount(tmp_path: Path) -> Path:
    ds = tmp_path / "mount" / "tiny"
    _write(ds / "videos" / "audience=adult", "videos", 3)  # no synthetic minors at all
    _write(ds / "users" / "audience=adult", "users", 2)
    _write(ds / "users" / "audience=minor_synthetic", "users", 1)
    _write(ds / "users" / "audience=minor", "users", 5)  # a full extract: never read
    (ds / "comments" / "audience=adult").mkdir(parents=True)  # a table without any file
    _write(ds / "shops", "shops", 4)
    return tmp_path / "mount"


def test_discover_finds_dataset_folders(odd_mount: Path) -> None:
    mount = discover(odd_mount)
    assert [d.folder for d in mount.datasets] == ["tiny"]
    assert mount.table_names() == {"videos", "users", "comments", "shops"}
    assert mount.datasets[0].tables["users"].real_minor_present


def test_views_over_odd_partitions(odd_mount: Path) -> None:
    with vce.connect(odd_mount, quiet=True) as con:
        assert con.sql("SELECT audience, count(*) FROM users GROUP BY 1 ORDER BY 1").fetchall() == [
            ("adult", 2),
            ("minor", 1),  # the synthetic row; the 5 real minors' rows are not read
        ]
        assert con.sql("SELECT DISTINCT audience FROM videos").fetchall() == [("adult",)]
        cols = [r[0] for r in con.sql("DESCRIBE comments").fetchall()]
        assert cols == [*TABLES["comments"].schema.names, "audience"]
        assert con.sql("SELECT count(*) FROM comments").fetchone() == (0,)
        assert con.sql("SELECT count(*) FROM shops").fetchone() == (4,)
        assert "real minors' partitions (users)" in con.banner.text()


@pytest.mark.parametrize("layout", ["missing", "file", "empty"])
def test_bad_data_dir_says_what_to_do(tmp_path: Path, layout: str) -> None:
    target = tmp_path / "data"
    if layout == "file":
        target.write_text("x")
    elif layout == "empty":
        target.mkdir()
    with pytest.raises(MountError, match="administrator"):
        discover(target)
