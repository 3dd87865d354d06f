"""The checks' evaluator reads helper columns by name and fails closed when one is missing."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from vce.policy import Context
from vce.policy.execute import _Evaluator
from vce.policy.model import load_policy
from vce.policy.rewrite import rewrite

POLICY = load_policy()
SQL = "SELECT region_code, count(*) AS n FROM videos GROUP BY 1"


def _batch(slots: tuple[str, ...]) -> pa.RecordBatch:
    return pa.record_batch({"region_code": ["AT"], "n": [100], **{s: [100] for s in slots}})


def test_flags_left_out_as_constant_false_read_as_false() -> None:
    rw = rewrite(SQL, POLICY, minors_possible=False)
    assert "__vce_minor" in rw.false_flags
    ev = _Evaluator(rw, Context(policy=POLICY, u18_approved=False))
    ev.add(_batch(rw.slots))
    assert ev.kept_rows == 1 and ev.suppressed == 0


def test_a_flag_missing_without_being_declared_is_an_error_not_another_column() -> None:
    rw = rewrite(SQL, POLICY, minors_possible=False)
    undeclared = dataclasses.replace(rw, false_flags=())
    ev = _Evaluator(undeclared, Context(policy=POLICY, u18_approved=False))
    with pytest.raises(KeyError, match="__vce_"):
        ev.add(_batch(rw.slots))
