"""In-memory form of a policy file: column classes, entity columns, thresholds.

Loading is strict and pure: :func:`parse_policy` takes the YAML text, so the same code runs in
the sandbox (early feedback) and in the airlock (enforcement).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


def _default_policy_path() -> Path:
    """``policies/default.yaml`` of a checkout, or the copy a wheel carries in ``vce/_policies``."""
    here = Path(__file__).resolve()
    checkout = here.parents[3] / "policies" / "default.yaml"
    return checkout if checkout.exists() else here.parents[1] / "_policies" / "default.yaml"


DEFAULT_POLICY_PATH = _default_policy_path()


class ColumnClass(StrEnum):
    """What a column may be used for; see DESIGN "Policy semantics"."""

    IDENTIFIER = "identifier"
    FREE_TEXT = "free_text"
    DIMENSION = "dimension"
    MEASURE = "measure"


@dataclass(frozen=True)
class ColumnPolicy:
    """How one column may be used."""

    name: str
    cls: ColumnClass
    dominance: bool = False
    refers: str | None = None  # "table.column" this identifier points at


@dataclass(frozen=True)
class TablePolicy:
    """How one table may be used: its columns, entity columns and row-level export."""

    name: str
    columns: dict[str, ColumnPolicy]
    entity: tuple[str, ...] = ()
    row_export_columns: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Thresholds:
    """Disclosure-control numbers (anchors in DESIGN: OpenSAFELY, ACRO)."""

    min_entities: int = 10
    u18_min_entities: int = 50
    rounding: int = 5
    max_rows: int = 10_000
    max_bytes: int = 16 * 1024 * 1024
    dominance_n: int = 2
    dominance_k: float = 0.9
    min_dof: int = 10  # residual degrees of freedom of a released regression (ACRO)
    dominance_p: float = 0.1  # ACRO's p% rule: the rest must hide the largest by >= p

    def needed(self, minor: bool) -> int:
        """Distinct people a row needs: a row with a minor meets both thresholds.

        >>> Thresholds().needed(False), Thresholds().needed(True)
        (10, 50)
        >>> Thresholds(min_entities=100, u18_min_entities=20).needed(True)
        100
        """
        return max(self.min_entities, self.u18_min_entities) if minor else self.min_entities


@dataclass(frozen=True, eq=False)
class Policy:
    """A whole policy file.

    Compared and hashed by identity (``eq=False``) so that a policy can key the analysis
    cache; its tables are plain dicts, which a value hash could not cover.
    """

    name: str
    tables: dict[str, TablePolicy]
    thresholds: Thresholds = field(default_factory=Thresholds)
    aggregate_functions: frozenset[str] = frozenset()
    scalar_functions: frozenset[str] = frozenset()
    source: str = "<string>"

    def column(self, table: str, column: str) -> ColumnPolicy:
        """The policy for ``table.column`` (KeyError when unclassified)."""
        return self.tables[table].columns[column]


def _column(name: str, spec: Any) -> ColumnPolicy:
    if isinstance(spec, str):
        return ColumnPolicy(name, ColumnClass(spec))
    return ColumnPolicy(
        name,
        ColumnClass(spec["class"]),
        dominance=bool(spec.get("dominance", False)),
        refers=spec.get("refers"),
    )


def policy_from_dict(doc: dict[str, Any], source: str = "<string>") -> Policy:
    """Build a :class:`Policy` from an already-validated document."""
    tables = {}
    for tname, tspec in doc["tables"].items():
        row_export = tspec.get("row_export") or {}
        tables[tname] = TablePolicy(
            name=tname,
            columns={c: _column(c, s) for c, s in tspec["columns"].items()},
            entity=tuple(tspec.get("entity") or ()),
            row_export_columns=frozenset(row_export.get("columns", ()) if row_export else ()),
        )
    th = doc.get("thresholds") or {}
    dom = th.get("dominance") or {}
    thresholds = Thresholds(
        min_entities=th.get("min_entities", 10),
        u18_min_entities=(th.get("u18") or {}).get("min_entities", 50),
        rounding=th.get("rounding", 5),
        max_rows=th.get("max_rows", 10_000),
        max_bytes=th.get("max_bytes", 16 * 1024 * 1024),
        dominance_n=dom.get("n", 2),
        dominance_k=dom.get("k", 0.9),
        dominance_p=dom.get("p", 0.1),
        min_dof=th.get("min_dof", 10),
    )
    funcs = doc.get("functions") or {}
    return Policy(
        name=doc.get("name", "unnamed"),
        tables=tables,
        thresholds=thresholds,
        aggregate_functions=frozenset(f.lower() for f in funcs.get("aggregate", ())),
        scalar_functions=frozenset(f.lower() for f in funcs.get("scalar", ())),
        source=source,
    )


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse policy YAML text.

    >>> p = parse_policy("tables: {t: {entity: [a], columns: {a: identifier, b: dimension}}}")
    >>> p.column("t", "b").cls.value
    'dimension'
    """
    from vce.policy.loading import load_document  # validates: schema + cross-references

    return policy_from_dict(load_document(text, source), source)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file; ``None`` means the shipped ``policies/default.yaml``.

    The same unchanged file gives the same :class:`Policy` object (cached on path, size and
    modification time), so callers that load per request keep the analysis caches warm.
    """
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    st = p.stat()
    return _load_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int) -> Policy:
    del mtime_ns, size  # cache key only: a changed file is read again
    return parse_policy(Path(path).read_text(encoding="utf-8"), path)
