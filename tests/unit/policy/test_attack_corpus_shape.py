"""The shape of the hostile attack corpus: every attack class of issue #14, U18 and multi-query.

The corpus is only as strong as its coverage: these counts keep a class from quietly
disappearing when attacks are edited. Whether each attack works is for
tests/integration/policy/test_attack_corpus.py (RAW) and whether it is stopped for CHECKED.
"""

from __future__ import annotations

from collections import Counter

import jinja2
import pytest

from corpus.load import ATTACKS_FILE, Absent, Released, load_attacks, load_corpus, reconstructed

ATTACKS = load_attacks()
CLASSES = {
    "complement",
    "arithmetic-condition",
    "inner-filter",
    "window-total",
    "quantile-extreme",
    "rounding-partial",
    "dominance-partial",
    "yes-no-oracle",
    "anti-join",
    "row-export-linked",
    "across-queries",
    "crash",
}
"""The "Why" list of issue #14, one class per kind of attack."""


def test_at_least_sixty_attacks_over_every_class() -> None:
    counts = Counter(a.cls for a in ATTACKS)
    assert len(ATTACKS) >= 60
    assert set(counts) == CLASSES, "every attack is of a known class, every class is present"
    assert min(counts.values()) >= 3, counts


def test_u18_variants_and_multi_query_attacks_are_present() -> None:
    u18 = [a for a in ATTACKS if a.u18]
    assert len(u18) >= len(ATTACKS) // 3
    assert {a.cls for a in u18} == CLASSES, "every class is tried on a real minor too"
    multi = [a for a in ATTACKS if a.multi_query]
    assert len(multi) >= 15
    assert {a.cls for a in multi} >= {"across-queries", "yes-no-oracle", "anti-join"}
    assert max(len(a.queries) for a in ATTACKS) >= 15, "a many-query (binary search) attack"


def test_attack_queries_render_with_every_variable_defined() -> None:
    """StrictUndefined: a misspelt variable fails here rather than as odd SQL at run time."""
    names = ["T", "G", "R", "N", "LX", "L", "LO", "HI", "K", "W0", "RB", "VT", "VR", "PV", "C"]
    variables = dict.fromkeys([*names, "CB", "DG", "CG"], "x")
    for attack in ATTACKS:
        for name, sql in attack.render(variables):
            assert sql.upper().startswith(("SELECT", "WITH")), (attack.id, name)
    with pytest.raises(jinja2.UndefinedError):
        ATTACKS[0].render({})


def test_the_attack_file_stays_out_of_the_query_corpus() -> None:
    assert all(q.file != ATTACKS_FILE for q in load_corpus())


def test_the_judge_needs_every_value_it_uses() -> None:
    """A withheld value makes no guess; a rounded one still counts when close (see load.py)."""
    attack = next(a for a in ATTACKS if a.id == "across-group-minus-one")
    full = {"a": Released([{"s": 10_000}]), "b": Released([{"s": 5_169}])}
    assert reconstructed(attack, full, {}, 4_831, rounding=5)
    assert reconstructed(
        attack,
        {"a": Released([{"s": 10_000}]), "b": Released([{"s": 5_170}])},
        {},
        4_831,
        rounding=5,
    )
    assert not reconstructed(attack, {"a": full["a"], "b": Released([])}, {}, 4_831, rounding=5)
    assert not reconstructed(
        attack, {"a": full["a"], "b": Released([{"s": None}])}, {}, 4_831, rounding=5
    )
    with pytest.raises(Absent):
        _ = Released([]).s
