"""The checks' evaluator reads helper columns by name and fails closed when one is missing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vce.policy import Context
from vce.policy.execute import _Evaluator, to_numpy
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


ARROW_TYPES = [pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8()]
ARROW_TYPES += [pa.uint64(), pa.float32(), pa.float64()]


@given(
    st.sampled_from(ARROW_TYPES),
    st.lists(st.one_of(st.none(), st.integers(0, 120)), max_size=40),
    st.integers(0, 20),
    st.sampled_from([np.int64, float, bool]),
)
def test_helper_columns_read_from_buffers_equal_pyarrows_conversion(
    arrow_type: pa.DataType, values: list[int | None], start: int, dtype: type
) -> None:
    """Offsets (a sliced batch), nulls and every width read as pyarrow's to_numpy reads them."""
    raw = [None if v is None else (v % 2 == 1 if arrow_type == pa.bool_() else v) for v in values]
    arr = pa.array(raw, type=arrow_type).slice(min(start, len(raw)))
    filled = arr.fill_null(False if arrow_type == pa.bool_() else 0)
    expected = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=dtype)
    got = to_numpy(arr, dtype)
    assert got.dtype == expected.dtype and got.tolist() == expected.tolist()


def test_reading_helper_columns_does_not_import_pandas() -> None:
    """pyarrow's to_numpy imports pandas: 0.3 s of every `vce check --execute` start."""
    code = (
        "import sys, duckdb, numpy as np\n"
        "from vce.policy.execute import to_numpy\n"
        "b = duckdb.sql('SELECT 7::BIGINT AS n, NULL::BOOLEAN AS f').to_arrow_table()\n"
        "to_numpy(b['n'].chunks[0], np.int64); to_numpy(b['f'].chunks[0], bool)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
