"""Load the query corpus (tests/corpus/*.yaml): ``from corpus.load import load_corpus``.

Shared by the static tests and the trusted-execution tests (tests/ is on sys.path).

``attacks.yaml`` is a different kind of fixture (an attack is several queries, a target, a
secret and a way to combine released values), loaded by :func:`load_attacks` and judged by
:func:`reconstructed`; :func:`load_corpus` leaves it out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import yaml

CORPUS_DIR = Path(__file__).resolve().parent
ATTACKS_FILE = "attacks.yaml"


@dataclass(frozen=True)
class CorpusQuery:
    """One fixture: the SQL, what the static check must say, and for which project."""

    file: str
    title: str
    sql: str
    verdict: str
    rules: frozenset[str]
    u18: bool
    tables: frozenset[str] | None
    # rules of trusted execution that must withhold a row (or deny) although the static
    # analysis allows the query (e.g. low-effect)
    withheld: frozenset[str] = frozenset()

    @property
    def allowed(self) -> bool:
        return self.verdict == "allowed"


def load_corpus(directory: Path = CORPUS_DIR) -> list[CorpusQuery]:
    out = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == ATTACKS_FILE:
            continue
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            sql = item.get("sql")
            if sql is None:
                sql = item["prefix"] + item["repeat"] * int(item["times"]) + item["suffix"]
            verdict = item["verdict"]
            assert verdict in ("allowed", "denied"), f"{path.name}: {item['title']}: bad verdict"
            tables = item.get("tables")
            out.append(
                CorpusQuery(
                    file=path.name,
                    title=item["title"],
                    sql=sql,
                    verdict=verdict,
                    rules=frozenset(item.get("rules") or ()),
                    u18=bool(item.get("u18", False)),
                    tables=None if tables is None else frozenset(tables),
                    withheld=frozenset(item.get("withheld") or ()),
                )
            )
    return out


# --- the hostile attack corpus (attacks.yaml) ---------------------------------------------

Query = Callable[[str], list[dict[str, Any]]]
"""Runs SQL with plain DuckDB over the data a project may see; rows as JSON-like dicts."""


@dataclass(frozen=True)
class Target:
    """Who an attack is about, picked from the data by plain SQL (``sql`` returns one row).

    Its columns become the template variables of the attack's SQL (``{{ T }}``); only values
    of columns the policy lets anyone filter on (create_time, display name, region, public
    counts) are used to address the target in attack queries.
    """

    name: str
    u18: bool
    sql: str


@dataclass(frozen=True)
class AttackQuery:
    name: str
    sql: str  # a Jinja template over the target's variables


@dataclass(frozen=True)
class Attack:
    """A hostile researcher's attempt to learn ``secret`` from what the engine releases.

    ``queries`` run in order as one project's export requests (multi-query attacks compare
    later releases with earlier ones); ``derive`` is a Python expression over the released
    values (each query's name is a :class:`Released`) giving the attacker's guess.
    """

    id: str
    cls: str
    target: Target
    queries: tuple[AttackQuery, ...]
    secret: str
    derive: str
    tolerance: float | None
    note: str

    @property
    def u18(self) -> bool:
        return self.target.u18

    @property
    def multi_query(self) -> bool:
        return len(self.queries) > 1

    def variables(self, query: Query) -> dict[str, Any]:
        rows = query(self.target.sql)
        assert len(rows) == 1, f"target {self.target.name} picks {len(rows)} rows, not one"
        return rows[0]

    def render(self, variables: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(name, SQL) of every query, with the target's variables filled in."""
        return [(q.name, _render(q.sql, variables)) for q in self.queries]

    def secret_value(self, query: Query, variables: Mapping[str, Any]) -> Any:
        """Ground truth with plain DuckDB over the full data: one value, or a sorted list."""
        rows = query(_render(self.secret, variables))
        values = [tuple(r.values()) for r in rows]
        if len(values) == 1 and len(values[0]) == 1:
            return values[0][0]
        return sorted(v[0] if len(v) == 1 else v for v in values)


_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_JINJA.filters["sql"] = lambda v: "'" + str(v).replace("'", "''") + "'"
_JINJA.globals["with_bit"] = lambda items, bit: [x for i, x in enumerate(items) if i >> bit & 1]
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_JINJA.globals["ALPHABET"] = ALPHABET


def _render(template: str, variables: Mapping[str, Any]) -> str:
    return _JINJA.from_string(template).render(**variables).strip()


def load_attacks(directory: Path = CORPUS_DIR) -> list[Attack]:
    """Every attack of ``attacks.yaml``, one per (attack, target): ``-u18`` for minors."""
    doc = yaml.safe_load((directory / ATTACKS_FILE).read_text(encoding="utf-8"))
    targets = {
        name: Target(name, bool(t.get("u18", False)), t["sql"])
        for name, t in doc["targets"].items()
    }
    out = []
    for item in doc["attacks"]:
        for tname in item["targets"]:
            target = targets[tname]
            out.append(
                Attack(
                    id=item["id"] + ("-u18" if target.u18 else ""),
                    cls=item["class"],
                    target=target,
                    queries=tuple(_expand_queries(item["queries"])),
                    secret=item["secret"],
                    derive=" ".join(item["derive"].split()),
                    tolerance=item.get("tolerance"),
                    note=item.get("note", ""),
                )
            )
    ids = [a.id for a in out]
    assert len(ids) == len(set(ids)), "attack ids are unique"
    return out


def _expand_queries(items: Sequence[Mapping[str, Any]]) -> list[AttackQuery]:
    """``{name, sql}`` items; ``each: {var: [values]}`` repeats one for every combination."""
    out = []
    for item in items:
        each: Mapping[str, Sequence[Any]] = item.get("each") or {}
        combos: list[dict[str, Any]] = [{}]
        for var, values in each.items():
            combos = [c | {var: v} for c in combos for v in values]
        for c in combos:
            name = item["name"] + "".join(f"{k}{v}" for k, v in c.items())
            sql = "".join("{% set " + k + " = " + repr(v) + " %}" for k, v in c.items())
            out.append(AttackQuery(name, sql + item["sql"]))
    return out


# --- what the attacker sees, and the judge ------------------------------------------------


class Absent(Exception):
    """The value the attacker needs was not released (denied, suppressed or withheld)."""


WITHHELD = object()
"""Marks a cell the engine withheld from a released row."""


class Released:
    """What one query released: its rows (none when denied or all suppressed).

    ``q.col`` is the value of ``col`` in the only released row; :meth:`row` picks a row by
    its keys. Any value that was not released raises :class:`Absent`, so a derive that needs
    it makes no guess at all.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], denied: bool = False) -> None:
        self.rows = [dict(r) for r in rows]
        self.denied = denied

    def __repr__(self) -> str:
        return f"Released(rows={self.rows!r}, denied={self.denied})"

    def row(self, **keys: Any) -> Row:
        hits = [r for r in self.rows if all(r.get(k, WITHHELD) == v for k, v in keys.items())]
        if len(hits) != 1:
            raise Absent(f"{len(hits)} released rows match {keys}")
        return Row(hits[0])

    def has_row(self, **keys: Any) -> bool:
        return any(all(r.get(k, WITHHELD) == v for k, v in keys.items()) for r in self.rows)

    def __getattr__(self, col: str) -> Any:
        if col.startswith("_"):
            raise AttributeError(col)
        if len(self.rows) != 1:
            raise Absent(f"{len(self.rows)} rows released, the attack needs one")
        return getattr(Row(self.rows[0]), col)


class Row:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, col: str) -> Any:
        value = self._values.get(col, WITHHELD)
        if value is WITHHELD or value is None:
            raise Absent(f"{col} not released")
        return value


def value(q: Released, col: str) -> Any:
    """The released value of ``col`` in ``q``'s only row, or None when nothing was released."""
    try:
        return getattr(q, col)
    except Absent:
        return None


def zero(q: Released, col: str) -> bool:
    """Whether ``q`` released ``col`` as exactly 0 (an empty group, shown as such)."""
    return value(q, col) == 0


def oracle(pos: Released, neg: Released, col: str) -> bool | None:
    """A yes/no answer from a query and its counter-query (the target in one of them).

    Both released and different: the larger one holds the target. Only one released: that one
    holds the target (the other was suppressed for being one short). Otherwise no answer.
    """
    a, b = value(pos, col), value(neg, col)
    if a is not None and b is not None:
        return None if a == b else a > b
    if a is not None:
        return True
    if b is not None:
        return False
    return None


def empty_oracle(pos: Released, neg: Released, col: str) -> bool | None:
    """A yes/no answer from a one-person group against an empty group (a 0 shown as 0)."""
    if zero(neg, col) and not zero(pos, col):
        return True
    if zero(pos, col) and not zero(neg, col):
        return False
    return None


_DERIVE_GLOBALS: dict[str, Any] = {
    "__builtins__": {},
    **{f.__name__: f for f in (abs, all, any, bool, float, int, len, max, min, range, round)},
    **{f.__name__: f for f in (sorted, str, sum)},
    "math": math,
    "value": value,
    "zero": zero,
    "oracle": oracle,
    "empty_oracle": empty_oracle,
    "ALPHABET": ALPHABET,
}


def derive(attack: Attack, released: Mapping[str, Released], variables: Mapping[str, Any]) -> Any:
    """The attacker's guess, or None when a value it needs was not released.

    The expression sees each query's :class:`Released` by name (and all of them as ``Q``)
    and the target's variables (``R``, ``K``, …), which the attacker chose the queries with.
    """
    names = {**variables, "Q": dict(released), **released}
    try:
        # one namespace: generator expressions in the derive see the names too
        return eval(attack.derive, {**_DERIVE_GLOBALS, **names})
    except (Absent, ZeroDivisionError, IndexError):
        return None


def tolerance(attack: Attack, secret: Any, rounding: int) -> float:
    """How close a guess must come to the secret to count as reconstructing it.

    Exact (0) for booleans, text, lists of rows and small numbers (|secret| <= the rounding
    base): there a difference of a rounding step is the difference between knowing and not
    knowing. Otherwise the rounding base: the defences may round every count-like value, and
    a guess built from two rounded values is off by up to one base; knowing one person's
    4,831 likes to within 5 is still knowing them, so that error must not hide a leak. An
    attack may set its own ``tolerance``.
    """
    if attack.tolerance is not None:
        return float(attack.tolerance)
    if isinstance(secret, bool | str | list | tuple) or secret is None:
        return 0.0
    return 0.0 if abs(secret) <= rounding else float(rounding)


def reconstructed(
    attack: Attack,
    released: Mapping[str, Released],
    variables: Mapping[str, Any],
    secret: Any,
    rounding: int,
) -> bool:
    """Whether the attacker's guess from ``released`` equals ``secret`` (within tolerance)."""
    guess = derive(attack, released, variables)
    if guess is None:
        return False
    if isinstance(secret, bool) or isinstance(guess, bool):
        return isinstance(secret, bool) and isinstance(guess, bool) and guess == secret
    if isinstance(secret, int | float) and isinstance(guess, int | float):
        return math.isfinite(guess) and abs(guess - secret) <= tolerance(attack, secret, rounding)
    return jsonable(guess) == jsonable(secret)


def jsonable(v: Any) -> Any:
    """Values as the CLI's JSON shows them: timestamps as ISO text, decimals as numbers."""
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    return v
