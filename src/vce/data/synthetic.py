"""The ``minor_synthetic`` partition: stand-ins for minors' rows, safe to show in a sandbox.

Researchers develop queries on these rows; the airlock re-runs them on the real ones. The
rule is that nothing identifying is ever copied from a real minor's row:

* dimensions and measures are drawn column by column from their *safe marginal* over the whole
  minors' partition (:mod:`vce.data.marginals`): a value held by fewer than the U18
  threshold's number of real minors never appears, and no real row is reproduced;
* identifiers are fresh synthetic (negative) ids; references to other people tables point at
  their synthetic rows, references to public catalogues (products …) are drawn uniformly from
  the catalogue, independent of what minors did;
* usernames and free text are newly composed and carry a ``synthetic`` marker.

The same pass, :func:`write_synthetic`, serves the generator and ``vce datasets import``: it
runs once every real partition is on disk, so each marginal covers all of a table's minors
rather than one chunk of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vce.data.ids import make_ids
from vce.data.layout import PartitionedWriter, partition_dir
from vce.data.marginals import Column, safe_marginals
from vce.data.text import LANGUAGES, TOPIC_CDF, TextPool, build_pool
from vce.policy.model import ColumnClass, Policy, TablePolicy

BATCH_ROWS = 500_000


@dataclass
class SynthState:
    """What synthesis needs to know across tables and chunks.

    ``counts[t]`` is how many synthetic rows people table ``t`` has so far (their ids are
    ``make_ids(t, 0..count, synthetic=True)``); ``catalogues[t]`` holds the key values of a
    public table that synthetic rows may reference.
    """

    counts: dict[str, int] = field(default_factory=dict)
    catalogues: dict[str, pa.Array] = field(default_factory=dict)
    people_tables: frozenset[str] = frozenset()
    pool: TextPool = field(default_factory=lambda: build_pool(synthetic=True))


def _resample(col: pa.ChunkedArray | pa.Array, idx: np.ndarray) -> pa.Array:
    return pc.take(col, pa.array(idx))


def _reference(
    ref: str, n: int, state: SynthState, rng: np.random.Generator
) -> tuple[pa.Array, np.ndarray | None]:
    """Values (and synthetic indexes, for people tables) for an identifier referring to ``ref``."""
    table = ref.split(".", 1)[0]
    if table in state.people_tables:
        have = state.counts.get(table, 0)
        if have == 0:
            return pa.nulls(n, pa.int64()), None
        k = rng.integers(0, have, n)
        return pa.array(make_ids(table, k, synthetic=True)), k
    catalogue = state.catalogues.get(table)
    if catalogue is None or len(catalogue) == 0:
        return pa.nulls(n, pa.int64()), None
    return _resample(catalogue, rng.integers(0, len(catalogue), n)), None


def synthesize(
    table: str,
    minors: pa.Table,
    policy: TablePolicy,
    state: SynthState,
    rng: np.random.Generator,
    marginals: Mapping[str, Column],
) -> pa.Table:
    """Return as many synthetic rows as ``minors`` has, with the same schema.

    ``marginals`` are the table's safe marginals over its *whole* minors' partition
    (:func:`~vce.data.marginals.safe_marginals`); ``minors`` may be one chunk of it. Call
    tables in reference order (users before the tables pointing at them); ``state`` is
    updated with this table's new synthetic row count.
    """
    n = minors.num_rows
    start = state.counts.get(table, 0)
    own = np.arange(start, start + n)
    state.counts[table] = start + n  # self-references may point at this chunk's rows
    person_index: np.ndarray | None = None
    columns: dict[str, pa.Array] = {}
    string_ids: list[str] = []
    for name in minors.column_names:
        col = minors.column(name)
        cp = policy.columns[name]
        if cp.cls is ColumnClass.IDENTIFIER:
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                string_ids.append(name)
                continue
            own_key = cp.refers is None or (
                cp.refers.split(".", 1)[0] == table and name in policy.entity
            )
            if own_key:
                values, k = pa.array(make_ids(table, own, synthetic=True)), own
            else:
                values, k = _reference(cp.refers, n, state, rng)
                if n:  # keep the column's share of missing references
                    nulls = pc.is_null(_resample(col, rng.integers(0, n, n)))
                    if pc.any(nulls).as_py():
                        values = pc.if_else(nulls, pa.nulls(n, values.type), values)
            if name in policy.entity and person_index is None:
                person_index = k
            columns[name] = values.cast(col.type)
        elif cp.cls is ColumnClass.FREE_TEXT:
            lang = rng.integers(0, len(LANGUAGES), n)
            topic = np.searchsorted(TOPIC_CDF, rng.random(n) * TOPIC_CDF[-1])
            columns[name] = state.pool.draw(rng, lang, topic).cast(col.type)
        else:
            columns[name] = marginals[name].draw(n, rng).cast(col.type)
    for name in string_ids:
        k = person_index if person_index is not None else own
        label = "user" if person_index is not None else table
        columns[name] = pc.binary_join_element_wise(
            f"synthetic_{label}_", pc.cast(pa.array(k, pa.int64()), pa.string()), ""
        ).cast(minors.schema.field(name).type)
    return pa.table([columns[c] for c in minors.column_names], schema=minors.schema)


def write_synthetic(
    root: Path,
    writer: PartitionedWriter,
    policy: Policy,
    tables: Sequence[str],
    state: SynthState,
    seed: Sequence[int],
) -> None:
    """Write the ``minor_synthetic`` partition of each people table, in reference order.

    Runs after every real partition is written: the writer is flushed, each table's safe
    marginals are computed over its whole minors' partition on disk, and that partition is
    then read back in batches, each batch giving as many synthetic rows. Random streams come
    from ``seed`` plus (table position, batch), so the result is deterministic.
    """
    writer.flush()
    for t_no, table in enumerate(tables):
        files = sorted(partition_dir(root, table, "minor").glob("*.parquet"))
        marginals = safe_marginals(root, table, policy)
        batch_no = 0
        for path in files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                rng = np.random.default_rng([*seed, t_no, batch_no])
                minors = pa.Table.from_batches([batch])
                fake = synthesize(table, minors, policy.tables[table], state, rng, marginals)
                writer.write(table, fake, "minor_synthetic")
                batch_no += 1
        if files:
            writer.ensure(table, pq.read_schema(files[0]), "minor_synthetic")
