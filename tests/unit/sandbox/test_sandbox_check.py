"""vce.check: the real policy engine's verdict, rendered for a terminal and a notebook."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vce
from vce.sandbox.checking import CheckReport, Issue, u18_approved

IDENTIFIER_SQL = "SELECT region_code,\n       user_id\nFROM users"


def test_allowed_aggregate() -> None:
    report = vce.check("SELECT region_code, count(*) AS n FROM videos GROUP BY 1", tables=None)
    assert report.allowed and bool(report)
    assert "exportable" in str(report) and "#d4edda" in report._repr_html_()


def test_violation_shows_rule_message_and_caret_under_the_sql() -> None:
    report = vce.check(IDENTIFIER_SQL, tables=None)
    assert not report.allowed
    text = str(report)
    assert "[identifier-output] (line 2, column 8)" in text
    # the offending line, then a caret under user_id's first character
    assert "       user_id\n" + " " * 4 + " " * 7 + "^" in text
    html = report._repr_html_()
    assert "identifier-output" in html and "<pre" in html and "#f8d7da" in html


def test_html_escapes_sql() -> None:
    report = CheckReport("SELECT '<b>'", False, (Issue("r", "<script>", 1, 8),))
    assert "<script>" not in report._repr_html_() and "&lt;script&gt;" in report._repr_html_()


def test_granted_tables_limit_what_passes() -> None:
    report = vce.check(
        "SELECT region_code, count(*) FROM videos GROUP BY 1", tables=frozenset({"users"})
    )
    assert not report.allowed


def test_u18_flag_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCE_U18_APPROVED", "1")
    assert u18_approved()
    monkeypatch.setenv("VCE_U18_APPROVED", "0")
    assert not u18_approved()


def test_to_dict_is_the_engine_json() -> None:
    d = vce.check(IDENTIFIER_SQL, tables=None).to_dict()
    assert d["allowed"] is False and {v["rule"] for v in d["violations"]} >= {"identifier-output"}


def test_import_vce_stays_cheap() -> None:
    code = (
        "import sys, vce\n"
        "heavy = [m for m in ('duckdb', 'pyarrow', 'sqlglot', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
        "assert callable(vce.connect) and 'duckdb' in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
