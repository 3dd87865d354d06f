"""Validate policy YAML against ``policies/policy.schema.json`` and its cross-references.

A policy is the security configuration of the whole system, so a typo must stop it loading
with a message an administrator can act on: the file, the line, what is wrong and how to fix
it (``policies/x.yaml:14: tables.users.columns.user_id: 'identifer' is not a column class —
fix: use one of identifier, free_text, dimension, measure``). Beyond the JSON schema,
:func:`validate_document` checks what a schema cannot: entity and row_export columns exist,
``refers`` points at a real column, dominance is declared on measures only, row export never
includes identifiers or free text.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml


def _schema_path() -> Path:
    here = Path(__file__).resolve()
    checkout = here.parents[3] / "policies" / "policy.schema.json"
    return checkout if checkout.exists() else here.parents[1] / "_policies" / "policy.schema.json"


SCHEMA_PATH = _schema_path()
CLASSES = ("identifier", "free_text", "dimension", "measure")


class PolicyError(ValueError):
    """A policy file that may not be used; ``problems`` lists every finding."""

    def __init__(self, source: str, problems: list[str]) -> None:
        """Keep the findings; the message is one per line, ``file:line: path: what — fix``."""
        self.source = source
        self.problems = problems
        super().__init__(f"invalid policy {source}:\n" + "\n".join(problems))


@functools.lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    """The JSON schema of policy files."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema_rs.Draft202012Validator:
    """The compiled schema.

    jsonschema-rs, not jsonschema: every ``vce`` command loads a policy, and importing
    jsonschema (its format checkers) took 0.1-6 s of each command's start.
    """
    return jsonschema_rs.Draft202012Validator(policy_schema())


def _line(root: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the YAML node at ``path`` (or of its deepest existing ancestor)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _dotted(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _keyword(err: jsonschema_rs.ValidationError) -> tuple[str, dict[str, Any]]:
    """The schema keyword that failed and the (sub)schema holding it."""
    *where, keyword = err.schema_path
    schema: Any = policy_schema()
    for part in where:
        schema = schema[part]
    return str(keyword), schema


def _fix(err: jsonschema_rs.ValidationError) -> str:
    """What to do about one schema error, in words."""
    v, schema = _keyword(err)
    if v == "enum" or (v == "anyOf" and schema["anyOf"][0].get("$ref") == "#/$defs/class"):
        return f"use one of {', '.join(CLASSES)} (or {{class: ..., dominance: ..., refers: ...}})"
    if v == "required":
        return f"add {err.kind.property!r}"
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = list(err.kind.unexpected)
        near = [m for k in extra for m in difflib.get_close_matches(k, allowed, n=1)]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        keys = ", ".join(allowed)
        return f"remove or rename {', '.join(map(repr, extra))}{hint}; allowed keys: {keys}"
    if v == "type":
        return f"write a {schema[v]}"
    if v == "pattern":
        return "use lower-case names: letters, digits and _ (refers: table.column)"
    if v in ("minimum", "exclusiveMinimum", "maximum"):
        return f"use a value within the bound ({v} {schema[v]})"
    if v == "const":
        return f"write {schema[v]!r}"
    if v == "anyOf":
        return (
            "write false, or {columns: [...]}"
            if "row_export" in err.instance_path
            else ("see the schema")
        )
    if v == "minProperties":
        return "list at least one entry"
    if v == "uniqueItems":
        return "remove the duplicate entry"
    return "see docs/reference/policy-file.md"


def _what(err: jsonschema_rs.ValidationError) -> str:
    """The problem in words: for a column that fits no form, the closest form's complaint."""
    if type(err.kind).__name__ != "AnyOf" or "row_export" in err.instance_path:
        return err.message
    if isinstance(err.instance, str):
        return f"{err.instance!r} is not a column class"

    # The branch whose own shape fits the value (no type, enum or const complaint about the
    # value itself, only about something inside it) says most.
    def fits(first: jsonschema_rs.ValidationError) -> bool:
        inside = len(first.instance_path) > len(err.instance_path)
        return inside or _keyword(first)[0] not in ("type", "enum", "const")

    branches = [b for b in err.kind.context if b]
    fitting = [b for b in branches if fits(b[0])]
    return (fitting or branches)[0][0].message if branches else err.message


def _cross_checks(doc: dict[str, Any]) -> list[tuple[list[Any], str, str]]:
    """(path, problem, fix) for references a JSON schema cannot check."""
    out: list[tuple[list[Any], str, str]] = []
    tables = doc.get("tables") or {}
    for tname, tspec in tables.items():
        cols = tspec.get("columns") or {}

        def cls(c: str, cols: dict[str, Any] = cols) -> str | None:
            spec = cols.get(c)
            return spec if isinstance(spec, str) else (spec or {}).get("class")

        for i, e in enumerate(tspec.get("entity") or []):
            if e not in cols:
                out.append(
                    (
                        ["tables", tname, "entity", i],
                        f"entity {e!r} is not a column",
                        "name a column",
                    )
                )
            elif cls(e) != "identifier":
                out.append(
                    (
                        ["tables", tname, "entity", i],
                        f"entity {e!r} is {cls(e)}",
                        "the entity column must be an identifier",
                    )
                )
        export = tspec.get("row_export") or {}
        for i, c in enumerate(export.get("columns") or [] if isinstance(export, dict) else []):
            path = ["tables", tname, "row_export", "columns", i]
            if c not in cols:
                near = difflib.get_close_matches(c, list(cols), n=1)
                fix = f"did you mean {near[0]!r}?" if near else "add it to columns or remove it"
                out.append((path, f"row_export column {c!r} is not a column", fix))
            elif cls(c) in ("identifier", "free_text"):
                out.append(
                    (path, f"row_export column {c!r} is {cls(c)}", "remove it: it may never leave")
                )
        for c, spec in cols.items():
            if not isinstance(spec, dict):
                continue
            path = ["tables", tname, "columns", c]
            if spec.get("dominance") and spec.get("class") != "measure":
                out.append((path, "dominance is declared on a non-measure", "remove dominance"))
            ref = spec.get("refers")
            if ref and "." in ref:
                rt, rc = ref.split(".", 1)
                if rc not in ((tables.get(rt) or {}).get("columns") or {}):
                    out.append((path, f"refers to unknown column {ref!r}", "point at table.column"))
    return out


def validate_document(doc: Any, root: yaml.Node | None, source: str) -> dict[str, Any]:
    """Check ``doc`` (parsed YAML) against the schema and cross-references, or raise."""
    problems: list[str] = []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.instance_path)))
    for err in errors:
        path = list(err.instance_path)
        problems.append(
            f"{source}:{_line(root, path)}: {_dotted(path)}: {_what(err)} — fix: {_fix(err)}"
        )
    if not problems and isinstance(doc, dict):
        for path, what, fix in _cross_checks(doc):
            problems.append(f"{source}:{_line(root, path)}: {_dotted(path)}: {what} — fix: {fix}")
    if problems:
        raise PolicyError(source, problems)
    return doc


def load_document(text: str, source: str = "<string>") -> dict[str, Any]:
    """Parse and validate policy YAML text; raise :class:`PolicyError` naming file and line.

    >>> load_document("tables: {t: {columns: {a: identifer}}}", "p.yaml")
    Traceback (most recent call last):
    ...
    vce.policy.loading.PolicyError: invalid policy p.yaml:
    p.yaml:1: tables.t.columns.a: 'identifer' is not a column class — fix: use one of identifier, free_text, dimension, measure (or {class: ..., dominance: ..., refers: ...})
    """  # noqa: E501
    # One parse gives both the nodes (for line numbers) and the document; libyaml's loader
    # when PyYAML was built with it (ten times faster than the pure-Python one).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        doc = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        raise PolicyError(
            source, [f"{source}:{line}: not valid YAML ({err}) — fix the syntax"]
        ) from None
    finally:
        loader.dispose()
    if doc is None:
        raise PolicyError(source, [f"{source}:1: the file is empty — fix: add a tables: section"])
    return validate_document(doc, root, source)
