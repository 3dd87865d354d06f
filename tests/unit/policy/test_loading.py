"""Policy files are validated with errors naming the file, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vce.policy import load_policy
from vce.policy.loading import PolicyError, load_document
from vce.policy.model import DEFAULT_POLICY_PATH


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_document(text, "p.yaml")
    return info.value.problems


def test_shipped_policy_is_valid() -> None:
    policy = load_policy()
    assert policy.thresholds.min_entities == 10 and policy.thresholds.u18_min_entities == 50
    assert DEFAULT_POLICY_PATH.name == "default.yaml"


def test_unknown_class_names_line_and_choices() -> None:
    text = "tables:\n  t:\n    columns:\n      a: dimension\n      b: identifer\n"
    [problem] = _problems(text)
    assert problem.startswith("p.yaml:5: tables.t.columns.b: 'identifer' is not a column class")
    assert "identifier, free_text, dimension, measure" in problem


def test_misspelt_key_suggests_the_right_one() -> None:
    problems = _problems("tables:\n  t:\n    colums: {a: dimension}\n")
    assert any("did you mean columns" in p and p.startswith("p.yaml:2:") for p in problems)


def test_cross_references_are_checked() -> None:
    text = (
        "tables:\n"
        "  t:\n"
        "    entity: [region]\n"
        "    row_export: {columns: [bio, nope]}\n"
        "    columns:\n"
        "      region: dimension\n"
        "      bio: free_text\n"
        "      uid: {class: identifier, refers: other.id}\n"
    )
    problems = _problems(text)
    joined = "\n".join(problems)
    assert "p.yaml:3: tables.t.entity.0: entity 'region' is dimension" in joined
    assert "row_export column 'bio' is free_text" in joined
    assert "row_export column 'nope' is not a column" in joined
    assert "p.yaml:8: tables.t.columns.uid: refers to unknown column 'other.id'" in joined


def test_threshold_bounds_and_yaml_syntax() -> None:
    [problem] = _problems("thresholds: {min_entities: 0}\ntables: {t: {columns: {a: dimension}}}")
    assert "thresholds.min_entities" in problem and "fix:" in problem
    [problem] = _problems("tables: [")
    assert problem.startswith("p.yaml:") and "not valid YAML" in problem


def test_load_policy_reports_the_file_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables:\n  t:\n    columns: {a: secret}\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=rf"{bad}:3: tables.t.columns.a"):
        load_policy(bad)


def test_unchanged_file_loads_to_the_same_policy_object(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("tables: {t: {columns: {a: dimension}}}\n", encoding="utf-8")
    first = load_policy(path)
    assert load_policy(path) is first  # analysis caches key on the policy object
    path.write_text("tables: {t: {columns: {a: dimension, b: measure}}}\n", encoding="utf-8")
    changed = load_policy(path)
    assert changed is not first and "b" in changed.tables["t"].columns
