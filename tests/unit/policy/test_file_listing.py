"""The engine's cached folder listings never serve a stale or another folder's file list."""

from __future__ import annotations

import os
from pathlib import Path

from vce.policy.engine import _real_files


def test_a_file_added_or_removed_is_seen(tmp_path: Path) -> None:
    part = tmp_path / "audience=adult"
    part.mkdir()
    (part / "a.parquet").write_bytes(b"x")
    assert [f.name for f in _real_files(part)] == ["a.parquet"]
    (part / "b.parquet").write_bytes(b"x")
    assert [f.name for f in _real_files(part)] == ["a.parquet", "b.parquet"]
    (part / "a.parquet").unlink()
    assert [f.name for f in _real_files(part)] == ["b.parquet"]


def test_a_path_re_pointed_to_another_folder_lists_that_folder(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, name in ((first, "one.parquet"), (second, "two.parquet")):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
    os.utime(second, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns))  # same mtime
    link = tmp_path / "current"
    link.symlink_to(first, target_is_directory=True)
    assert [f.name for f in _real_files(link)] == ["one.parquet"]
    link.unlink()
    link.symlink_to(second, target_is_directory=True)
    assert _real_files(link) == (second.resolve() / "two.parquet",)


def test_a_missing_folder_or_a_file_lists_nothing(tmp_path: Path) -> None:
    (tmp_path / "file.parquet").write_bytes(b"x")
    assert _real_files(tmp_path / "absent") == ()
    assert _real_files(tmp_path / "file.parquet") == ()
