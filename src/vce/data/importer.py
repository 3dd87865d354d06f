"""``vce datasets import``: turn existing Parquet extracts into a VCE dataset.

A production warehouse export arrives as ``SRC/<table>/*.parquet`` (or ``SRC/<table>.parquet``).
Every column must be classified by the policy — an unclassified column is refused rather than
guessed, since a wrong guess could leak an identifier. Rows are split into ``adult`` and
``minor`` partitions from an age column of the people table, synthetic stand-ins for the
minors are derived as in :mod:`vce.data.synthetic`, and a manifest seals the result.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vce.data.layout import DatasetError, PartitionedWriter, atomic_dataset_dir
from vce.data.manifest import build_manifest
from vce.data.schema import MINOR_AGE_BANDS
from vce.data.synthetic import SynthState, write_synthetic
from vce.policy.model import ColumnClass, Policy, load_policy
from vce.policy.stored_statistics import write_statistics

BATCH_ROWS = 500_000


def _source_files(src: Path) -> dict[str, list[Path]]:
    """Map table name → its Parquet files, from ``SRC/<t>/**.parquet`` or ``SRC/<t>.parquet``."""
    if not src.is_dir():
        raise DatasetError(f"--from {src} is not a folder of Parquet extracts")
    found: dict[str, list[Path]] = {}
    for entry in sorted(src.iterdir()):
        if entry.is_dir():
            files = sorted(entry.rglob("*.parquet"))
            if files:
                found[entry.name] = files
        elif entry.suffix == ".parquet":
            found[entry.stem] = [entry]
    if not found:
        raise DatasetError(f"--from {src} holds no .parquet files (expected SRC/<table>/*.parquet)")
    return found


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_against_policy(
    files: dict[str, list[Path]], policy: Policy, policy_path: str
) -> dict[str, pa.Schema]:
    """Every table and column must be classified by the policy, and every file readable."""
    schemas: dict[str, pa.Schema] = {}
    for table, paths in files.items():
        if table not in policy.tables:
            raise DatasetError(
                f"table {table!r} is not in policy {policy_path}"
                f"{_suggest(table, list(policy.tables))};"
                f" classify its columns under tables.{table} or remove it from the source"
            )
        schema = None
        for path in paths:
            try:
                s = pq.ParquetFile(path).schema_arrow
            except (pa.ArrowException, OSError) as exc:
                raise DatasetError(
                    f"{path} is not readable Parquet ({exc}); re-export it"
                ) from None
            if schema is not None and not s.equals(schema):
                raise DatasetError(f"{path} has a different schema from {paths[0]}")
            schema = s
        assert schema is not None
        classified = policy.tables[table].columns
        for col in schema.names:
            if col == "audience":
                raise DatasetError(f"{table}: the source already has an 'audience' column; drop it")
            if col not in classified:
                raise DatasetError(
                    f"{table}.{col} is not classified in policy {policy_path}"
                    f"{_suggest(col, list(classified))}; add it under tables.{table}.columns "
                    "as identifier, free_text, dimension or measure"
                )
        missing = sorted(set(classified) - set(schema.names))
        if missing:
            raise DatasetError(
                f"{table}: the policy classifies {missing} but the source lacks them"
            )
        schemas[table] = schema
    return schemas


def _minor_predicate(values: pa.Array) -> np.ndarray:
    """Minor flags from an age column: age bands like ``'13-15'`` or integer ages."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        ages = np.asarray(values.to_numpy(zero_copy_only=False), dtype=float)
        return np.nan_to_num(ages, nan=99) < 18
    return np.isin(np.asarray(values.to_pylist(), dtype=object), list(MINOR_AGE_BANDS))


def _order(policy: Policy, tables: list[str], first: str) -> list[str]:
    """The age table first, then tables after those they refer to (for synthetic references)."""
    deps = {
        t: {
            c.refers.split(".", 1)[0]
            for c in policy.tables[t].columns.values()
            if c.refers and c.refers.split(".", 1)[0] != t
        }
        for t in tables
    }
    ordered = [first]
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and deps[t] <= set(ordered) | {first}]
        ready = ready or [t for t in tables if t not in ordered]  # cycles: any order
        ordered.append(sorted(ready)[0])
    return ordered


def import_extracts(
    src: Path,
    *,
    name: str,
    out: Path,
    policy_path: Path | None,
    age_column: str = "users.age_band",
    force: bool = False,
) -> dict[str, Any]:
    """Validate, partition by audience, synthesize stand-ins for minors, write a manifest."""
    src, out = Path(src), Path(out)
    policy = load_policy(policy_path)
    files = _source_files(src)
    schemas = _check_against_policy(files, policy, policy.source)
    age_table, _, age_col = age_column.partition(".")
    if age_table not in files or age_col not in schemas[age_table].names:
        raise DatasetError(
            f"--age-column {age_column}: no such column in the source; name the people table's "
            "age column as TABLE.COLUMN (age bands like '13-15' or integer ages)"
        )
    person_key = (policy.tables[age_table].entity or (None,))[0]
    if person_key is None:
        raise DatasetError(f"policy {policy.source}: table {age_table} names no entity column")
    people = pq.read_table(files[age_table], columns=[person_key, age_col])
    minor_flags = _minor_predicate(people.column(age_col).combine_chunks())
    con = duckdb.connect()
    con.register(
        "minor_ids", pa.table({"id": people.column(person_key).filter(pa.array(minor_flags))})
    )
    state = SynthState(people_tables=frozenset(t for t in files if policy.tables[t].entity))
    for t in files:
        key = next((c for c, p in policy.tables[t].columns.items()
                    if p.cls is ColumnClass.IDENTIFIER and p.refers is None), None)  # fmt: skip
        if t not in state.people_tables and key:
            state.catalogues[t] = (
                pq.read_table(files[t], columns=[key]).column(key).combine_chunks()
            )
    order = _order(policy, list(files), age_table)
    with atomic_dataset_dir(out, force) as tmp:
        with PartitionedWriter(tmp) as writer:
            for table in order:
                quoted = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files[table])
                con.execute(f"CREATE OR REPLACE VIEW src AS SELECT * FROM read_parquet([{quoted}])")
                entity = policy.tables[table].entity
                if not entity:
                    for batch in con.sql("SELECT * FROM src").fetch_arrow_reader(BATCH_ROWS):
                        writer.write(table, pa.Table.from_batches([batch]).cast(schemas[table]))
                    writer.ensure(table, schemas[table])
                    continue
                any_minor = " OR ".join(f'"{c}" IN (SELECT id FROM minor_ids)' for c in entity)
                for audience, cond in (("adult", f"NOT ({any_minor})"), ("minor", any_minor)):
                    reader = con.sql(f"SELECT * FROM src WHERE {cond}").fetch_arrow_reader(
                        BATCH_ROWS
                    )
                    for batch in reader:
                        part = pa.Table.from_batches([batch]).cast(schemas[table])
                        writer.write(table, part, audience)
                    writer.ensure(table, schemas[table], audience)
            people = [t for t in order if t in state.people_tables]
            write_synthetic(tmp, writer, policy, people, state, seed=[1])
        policy_file = Path(policy.source)
        policy_hash = hashlib.sha256(policy_file.read_bytes()).hexdigest()
        manifest = build_manifest(
            tmp,
            name=name,
            version="1.0.0",
            files=writer.files,
            source={
                "importer": "vce datasets import",
                "from": str(src.resolve()),
                "policy": str(policy_file),
                "policy_sha256": policy_hash,
            },
            note=f"imported from {src} with policy {policy_file.name}",
        )
        write_statistics(tmp, policy)  # the trusted side's bounds: not on a first query
        return manifest
