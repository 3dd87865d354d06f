"""Who asks: the policy, the tables a project was granted, and its under-18 approval.

The analysis needs a few things derived from a policy (a sqlglot schema to qualify columns
against, the sqlglot node types of allowed functions). They are computed once per policy
object by :func:`compile_policy` and cached, so a context is cheap to build per request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.schema import MappingSchema

from vce.data.schema import PARTITION_COLUMN, TABLES
from vce.policy.model import ColumnClass, Policy

DIALECT = "duckdb"


# Function names whose call syntax is not ``name(args)``; their sqlglot node types directly.
_SYNTAX_FUNCTIONS: dict[str, tuple[type[exp.Expression], ...]] = {
    "cast": (exp.Cast,),
    "try_cast": (exp.TryCast,),
    "extract": (exp.Extract,),
    "case": (exp.Case,),
    "if": (exp.If,),
}


@dataclass(frozen=True)
class Context:
    """The project a query is checked for.

    ``tables`` are the granted table names (``None``: every table of the policy);
    ``u18_approved`` says whether trusted execution will read the minors' partitions.
    Hashable, so decisions can be cached on ``(sql, context)``.
    """

    policy: Policy
    tables: frozenset[str] | None = None
    u18_approved: bool = False

    def __post_init__(self) -> None:
        """Accept any iterable of table names, store a frozenset (hashable)."""
        if self.tables is not None and not isinstance(self.tables, frozenset):
            object.__setattr__(self, "tables", frozenset(self.tables))

    @property
    def granted(self) -> frozenset[str]:
        """The table names this context may read."""
        every = frozenset(self.policy.tables)
        return every if self.tables is None else self.tables & every


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """What the analysis derives from a policy, computed once per policy object."""

    policy: Policy
    classes: dict[str, dict[str, ColumnClass]]
    schema: MappingSchema
    function_types: frozenset[type[exp.Expression]]
    function_names: frozenset[str]
    people_tables: frozenset[str]

    def column_class(self, table: str, column: str) -> ColumnClass | None:
        """The class of ``table.column``, ``None`` when the policy does not know it."""
        return self.classes.get(table, {}).get(column)


def _duckdb_type(table: str, column: str) -> str:
    spec = TABLES.get(table)
    return "VARCHAR" if spec is None else spec.columns.get(column, "VARCHAR")


def _function_types(names: frozenset[str]) -> tuple[frozenset[type], frozenset[str]]:
    """Map allowed SQL names to the sqlglot node types the DuckDB parser produces for them.

    Allow-listing by node type follows the parser, so ``mean(x)`` / ``avg(x)`` or
    ``ifnull`` / ``coalesce`` need no aliases; names the parser does not know stay names.
    """
    types: set[type] = set()
    anonymous: set[str] = set()
    for name in names:
        if name in _SYNTAX_FUNCTIONS:
            types.update(_SYNTAX_FUNCTIONS[name])
            continue
        for arity in range(1, 5):
            args = ", ".join(f"a{i}" for i in range(arity))
            try:
                node = sqlglot.parse_one(f"SELECT {name}({args})", read=DIALECT).selects[0]
            except sqlglot.errors.SqlglotError:
                continue
            if isinstance(node, exp.Anonymous):
                anonymous.add(name)
            elif isinstance(node, exp.Func):
                types.add(type(node))
    return frozenset(types), frozenset(anonymous)


@functools.lru_cache(maxsize=32)
def compile_policy(policy: Policy) -> CompiledPolicy:
    """Derive the qualification schema and function allow-list of ``policy`` (cached)."""
    classes: dict[str, dict[str, ColumnClass]] = {}
    people = frozenset(t for t in policy.tables if t in TABLES and TABLES[t].about_people)
    mapping: dict[str, dict[str, str]] = {}
    for tname, tpol in policy.tables.items():
        cols = {c: cp.cls for c, cp in tpol.columns.items()}
        if tname in people:
            cols.setdefault(PARTITION_COLUMN, ColumnClass.DIMENSION)
        classes[tname] = cols
        mapping[tname] = {c: _duckdb_type(tname, c) for c in cols}
    types, anonymous = _function_types(policy.scalar_functions | policy.aggregate_functions)
    return CompiledPolicy(
        policy=policy,
        classes=classes,
        schema=MappingSchema(mapping, dialect=DIALECT),
        function_types=types,
        function_names=anonymous,
        people_tables=people,
    )
