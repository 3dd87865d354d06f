"""%%vce in a real IPython shell: result and export verdict side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from sandbox_fixtures import sandbox_env_fixture, sandbox_root_fixture  # noqa: F401 (fixtures)

from vce.sandbox import connection


@pytest.fixture
def ip(sandbox_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(connection, "_DEFAULT", None)
    monkeypatch.setattr(connection, "_BANNER_SHOWN", True)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "vce")
    yield shell
    if connection._DEFAULT is not None:
        connection._DEFAULT.close()


def test_cell_magic_shows_result_and_verdict(ip) -> None:
    sql = "SELECT audience, count(*) AS n FROM videos GROUP BY 1 ORDER BY 1"
    shown = ip.run_cell_magic("vce", "by_audience", sql)
    html = shown._repr_html_()
    assert "<table" in html and "minor" in html and "exportable" in html
    df = ip.user_ns["by_audience"]
    assert isinstance(df, pd.DataFrame) and list(df["audience"]) == ["adult", "minor"]
    assert "export check:" in repr(shown)


def test_cell_magic_verdict_for_a_refused_query(ip) -> None:
    shown = ip.run_cell_magic("vce", "", "SELECT username FROM users LIMIT 3")
    assert "not exportable" in repr(shown) and "identifier-output" in shown._repr_html_()


def test_cell_magic_keeps_the_guard(ip) -> None:
    from vce.sandbox import SandboxRefusal

    with pytest.raises(SandboxRefusal):
        ip.run_cell_magic("vce", "", "SELECT * FROM read_csv('/etc/passwd')")
