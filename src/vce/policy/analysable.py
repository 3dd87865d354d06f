"""The expressions the engine can analyse inside an aggregate: an allow-list, deny by default.

Every check that bounds one person's influence on a released statistic — who contributed,
dominance, the p% rule, rounding of counts — reasons about *rows of one measure in one cell*.
Arithmetic can hide a condition the checks never see: ``x * least(1, abs(epoch(t) - epoch(T)))``
is ``x`` everywhere except at ``T``, so ``sum(x)`` minus it is one person's value; an offset
(``CASE WHEN c THEN x + C ELSE C END``) makes every contribution about equal so dominance
passes; two columns mixed in one sum hide which one a person moves. So only these forms are
accepted as the argument of an aggregate (:func:`problem` says why anything else is not):

- a column (of a table, or of an inner query whose own expression is one of these forms);
- a transform of one such form that keeps it a function of one measure: ``abs``, ``round``,
  ``floor``, ``ceil``, ``sqrt``, ``ln``/``log`` (also of ``x + 1``), ``power(x, c)``,
  ``CAST``, multiplication or division by a positive number literal (so ``floor(x / w) * w``);
- a cell: ``CASE WHEN cond THEN <form> [ELSE NULL | ELSE 0] END`` or ``IF(cond, <form>, NULL)``,
  every branch the same form; conditions are cells the contributor checks count;
- constants only (``sum(1)``, ``CASE WHEN c THEN 1 ELSE 0 END``): counts, which
  :mod:`vce.policy.countlike` recognises and rounds.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, build_scope

from vce.policy.countlike import constant_values

# an inner query's projection for a column reference (None: a table's column, or unknown)
Definition = Callable[[exp.Column], exp.Expression | None]

_NUMERIC_TYPES = exp.DataType.NUMERIC_TYPES
SUGGESTION = (
    "e.g. sum(x) FILTER (WHERE condition), sum(CASE WHEN condition THEN x END), "
    "sum(x) + sum(y) as separate columns, abs/round/floor/ln of one measure, or x * 2"
)


def _positive_number(e: exp.Expression | None) -> bool:
    while isinstance(e, exp.Paren):
        e = e.this
    return isinstance(e, exp.Literal) and not e.is_string and float(e.this) > 0


def _is_zero_or_null(e: exp.Expression | None) -> bool:
    while isinstance(e, exp.Paren):
        e = e.this
    if e is None or isinstance(e, exp.Null):
        return True
    return isinstance(e, exp.Literal) and not e.is_string and float(e.this) == 0


def _columns(e: exp.Expression) -> set[tuple[str, str]]:
    return {(c.table, c.name) for c in e.find_all(exp.Column)}


def problem(
    e: exp.Expression, define: Definition, is_bool: Callable[[exp.Column], bool]
) -> str | None:
    """Why ``e`` (an aggregate's argument) is not an analysable form; ``None`` when it is.

    >>> import sqlglot
    >>> f = lambda s: problem(sqlglot.parse_one(s, read="duckdb"), lambda c: None, lambda c: False)
    >>> f("x"), f("floor(x / 10) * 10"), f("ln(x + 1)"), f("CASE WHEN a > 1 THEN x ELSE 0 END")
    (None, None, None, None)
    >>> f("round(x, -3)"), f("round(x, y)")
    (None, 'ROUND(x, y) rounds to a computed number of digits')
    >>> f("x * least(1, abs(epoch(t) - 5))")
    'x * LEAST(1, ABS(EPOCH(t) - 5)) multiplies by something other than a positive number literal'
    >>> f("least(x, 1)")
    'least(...) is not a transform of one measure the engine can analyse'
    >>> f("x + y")
    'x + y adds to a measure, which can offset or mix values'
    >>> f("-x")
    '-x negates a measure, which hides it from dominance'
    """
    if constant_values(e, is_bool) is not None:
        return None  # counts (or constants times a count: count-arithmetic's concern)
    return _form(e, define, is_bool, depth=0)


def _form(
    e: exp.Expression, define: Definition, is_bool: Callable[[exp.Column], bool], depth: int
) -> str | None:
    if depth > 50:
        return "is nested too deeply to analyse"
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.AggFunc):
        return None  # sum(count(*)) OVER (): the inner aggregate is checked on its own
    if isinstance(e, exp.Column):
        inner = define(e)
        if inner is None or isinstance(inner, exp.AggFunc) or _aggregated(inner):
            return None  # a table's column, or a statistic computed by an inner query
        if constant_values(inner, is_bool) is not None:
            return None
        why = _form(inner, define, is_bool, depth + 1)
        return (
            None
            if why is None
            else f"{e.name} (computed in an inner query as {_short(inner)}): {why}"
        )
    if isinstance(e, exp.Cast | exp.TryCast):
        to = e.args.get("to")
        if to is None or to.this not in _NUMERIC_TYPES:
            return f"{_short(e)} casts to a type that is not a number"
        return _form(e.this, define, is_bool, depth + 1)
    if isinstance(e, exp.Round | exp.Floor | exp.Ceil):
        digits = e.args.get("decimals")
        if isinstance(digits, exp.Neg):  # round(x, -3): to thousands
            digits = digits.this
        if digits is not None and not (isinstance(digits, exp.Literal) and not digits.is_string):
            return f"{_short(e)} rounds to a computed number of digits"
        return _form(e.this, define, is_bool, depth + 1)
    if isinstance(e, exp.Abs | exp.Sqrt):
        return _form(e.this, define, is_bool, depth + 1)
    if isinstance(e, exp.Ln | exp.Log):
        arg = e.this
        if isinstance(e, exp.Log) and e.args.get("expression") is not None:
            if not _positive_number(e.this):
                return f"{_short(e)} has a base that is not a number literal"
            arg = e.expression
        while isinstance(arg, exp.Paren):
            arg = arg.this
        if isinstance(arg, exp.Add) and _is_one(arg.expression):  # ln(x + 1): log1p
            arg = arg.this
        return _form(arg, define, is_bool, depth + 1)
    if isinstance(e, exp.Pow):
        if not _positive_number(e.expression):
            return f"{_short(e)} raises to a power that is not a positive number literal"
        return _form(e.this, define, is_bool, depth + 1)
    if isinstance(e, exp.Mul):
        if _positive_number(e.expression):
            return _form(e.this, define, is_bool, depth + 1)
        if _positive_number(e.this):
            return _form(e.expression, define, is_bool, depth + 1)
        return f"{_short(e)} multiplies by something other than a positive number literal"
    if isinstance(e, exp.Div):
        if _positive_number(e.expression):
            return _form(e.this, define, is_bool, depth + 1)
        return f"{_short(e)} divides by something other than a positive number literal"
    if isinstance(e, exp.Neg):
        return f"{_short(e)} negates a measure, which hides it from dominance"
    if isinstance(e, exp.Add | exp.Sub):
        return f"{_short(e)} adds to a measure, which can offset or mix values"
    if isinstance(e, exp.Case | exp.If):
        return _cell(e, define, is_bool, depth)
    name = e.key if not isinstance(e, exp.Anonymous) else str(e.name).lower()
    return f"{name}(...) is not a transform of one measure the engine can analyse"


def _cell(
    e: exp.Expression, define: Definition, is_bool: Callable[[exp.Column], bool], depth: int
) -> str | None:
    """CASE/IF: each branch the same analysable form or NULL/0 (a cell of the aggregate)."""
    if isinstance(e, exp.Case):
        if e.this is not None:
            return f"{_short(e)} is a CASE on a value; write CASE WHEN condition THEN x END"
        branches = [i.args.get("true") for i in e.args.get("ifs") or []]
        branches.append(e.args.get("default"))
    else:
        branches = [e.args.get("true"), e.args.get("false")]
    forms = [b for b in branches if not _is_zero_or_null(b)]
    if len({b.sql() for b in forms}) > 1:
        if any(constant_values(b, is_bool) is not None for b in forms):
            return f"{_short(e)} has a constant branch other than 0 or NULL (an offset)"
        return f"{_short(e)} mixes different values in its branches"
    for b in forms:
        why = _form(b, define, is_bool, depth + 1)
        if why is not None:
            return why
        if constant_values(b, is_bool) is not None:
            return f"{_short(e)} has a constant branch other than 0 or NULL (an offset)"
    return None


def _is_one(e: exp.Expression | None) -> bool:
    return isinstance(e, exp.Literal) and not e.is_string and float(e.this) == 1


def _aggregated(e: exp.Expression) -> bool:
    return any(
        isinstance(n, exp.AggFunc) and not isinstance(n.parent, exp.Window)
        for n in e.walk()
        if isinstance(n, exp.Expression)
    )


def _short(e: exp.Expression, limit: int = 50) -> str:
    text = e.sql(dialect="duckdb")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Definitions:
    """Resolves a qualified column to the expression an inner query defines it as.

    Built once per qualified tree: a column ``t.v`` in some SELECT, where ``t`` is a derived
    table or CTE of that SELECT's scope, is that scope's projection named ``v`` (the first
    branch's, for a UNION; every branch is checked where it is defined).
    """

    def __init__(self, tree: exp.Expression) -> None:
        self._scope_of: dict[int, Scope] = {}
        root = build_scope(tree)
        if root is not None:
            for scope in root.traverse():
                self._scope_of[id(scope.expression)] = scope

    def __call__(self, col: exp.Column) -> exp.Expression | None:
        sel = col.parent_select
        while sel is not None:
            scope = self._scope_of.get(id(sel))
            if scope is not None and col.table in scope.sources:
                src = scope.sources[col.table]
                if not isinstance(src, Scope):
                    return None
                body = src.expression
                while isinstance(body, exp.SetOperation):
                    body = body.this
                if not isinstance(body, exp.Select):
                    return None
                for p in body.expressions:
                    if p.alias_or_name == col.name:
                        return p.unalias()
                return None
            sel = sel.parent_select if sel.parent is not None else None
        return None
