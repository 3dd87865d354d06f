"""Load the query corpus (tests/corpus/*.yaml): ``from corpus.load import load_corpus``.

Shared by the static tests and the trusted-execution tests (tests/ is on sys.path).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CORPUS_DIR = Path(__file__).resolve().parent


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

    @property
    def allowed(self) -> bool:
        return self.verdict == "allowed"


def load_corpus(directory: Path = CORPUS_DIR) -> list[CorpusQuery]:
    out = []
    for path in sorted(directory.glob("*.yaml")):
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
                )
            )
    return out
