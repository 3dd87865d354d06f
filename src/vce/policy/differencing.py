"""The differencing guard: no released cell may differ from another by fewer people than allowed.

Two cells about "FR users" and "FR users but one" are each about hundreds of people, yet
their difference is one person's value. So before release every cell's exact contributor set
(a roaring bitmap, :mod:`vce.policy.contributors`) is compared with the other cells of the
result and with every cell the project released earlier on the same dataset version
(:mod:`vce.policy.releases`): a cell whose set differs from one of them (symmetric difference)
by at least one and fewer than ``min_entities`` people — ``u18.min_entities`` when a minor is
among the difference — is withheld. Identical sets (a repeated query) differ by nobody and
pass.

Comparing every pair would be quadratic; the guard prunes exactly, never by sampling:

* **cardinality** — ``|a Δ b| ≥ ||a| − |b||``: only cells of nearly the same size can be close;
* **prefix filter over bottom-k sketches** — order all entities by a fixed bijective hash and
  keep each cell's ``k = 2 × threshold`` first elements (:func:`sketch`). ``|a Δ b| ≤ d``
  means ``|a ∩ b| ≥ o = ⌈(|a| + |b| − d) / 2⌉``; when ``o ≥ 1`` the first ``|a| − o + 1 ≤
  d + 1`` elements of ``a`` and the first ``|b| − o + 1`` of ``b`` share one (the set
  similarity join's prefix filter), so only pairs sharing a sketch element can be close.
  They are found by joining the sketches' elements (sorted arrays, ``searchsorted``), and
  counted: the sketches also share at least ``min(k, |a|, |b|) − d`` elements (each
  differing person displaces at most one). Pairs with ``|a| + |b| ≤ d`` (``o ≤ 0``: may be
  disjoint) are taken by cardinality alone;
* **exact** — the surviving pairs get ``symmetric_difference_cardinality`` of their bitmaps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vce.policy.contributors import COUNT_CODES, roaring

RULE = "differencing"
HASH_MULTIPLIER = np.uint32(0x9E3779B1)  # odd: a bijection of uint32, fixed forever
SKETCH_WIDTH = 128  # elements kept per recorded cell; a guard needs SKETCH_FACTOR × its threshold
SKETCH_FACTOR = 2  # sketch elements joined per threshold (1: the prefix filter; 2: also counts)


def people(bitmap: Any) -> np.ndarray:
    """The people of a cell's bitmap (its elements without their row-count codes), sorted.

    >>> from pyroaring import BitMap
    >>> people(BitMap([0, 5, 64 * 3 + 2])).tolist()
    [0, 3]
    """
    arr = np.frombuffer(bitmap.to_array(), dtype=np.uint32) // COUNT_CODES
    return arr[np.r_[True, arr[1:] != arr[:-1]]] if len(arr) else arr


def sketch(bitmap: Any, width: int = SKETCH_WIDTH) -> np.ndarray:
    """The ``width`` people of ``bitmap`` that come first in the guard's fixed hash order.

    Pruning works on people (:func:`people`): people who differ between two cells include
    every person in one and not the other, so a bound on those is a bound on these.

    >>> from pyroaring import BitMap
    >>> s = sketch(BitMap(range(0, 64000, 64)), 4)
    >>> len(s), len(set(s.tolist()) & set(sketch(BitMap(range(64, 64000, 64)), 4).tolist())) >= 3
    (4, True)
    >>> sketch(BitMap([5 * 64, 7 * 64]), 4).tolist() == sorted([5, 7],
    ...     key=lambda x: (x * 0x9E3779B1) % 2**32)
    True
    """
    arr = people(bitmap)
    keys = arr * HASH_MULTIPLIER  # (uint32 arithmetic wraps: a permutation)
    if len(arr) > width:
        first = np.argpartition(keys, width - 1)[:width]
        return arr[first[np.argsort(keys[first], kind="stable")]]
    return arr[np.argsort(keys, kind="stable")]


@dataclass(frozen=True)
class Thresholds:
    """People a difference needs; ``u18`` where a minor is among it (``minors`` given)."""

    adult: int
    u18: int
    minors: Any = None  # bitmap of minors' positions; None: no minor can be in any cell

    @property
    def widest(self) -> int:
        """The largest difference that can still be withheld, plus one."""
        return max(self.adult, self.u18) if self.minors is not None else self.adult

    def verdict(self, a: Any, b: Any) -> tuple[int, bool] | None:
        """``(people, minor among them)`` when ``a`` and ``b`` may not both be released.

        Elements are people with a row-count code (:data:`COUNT_CODES` each): the people
        who differ are those with an element in ``a ^ b`` — one or two elements each.

        >>> from pyroaring import BitMap
        >>> people = lambda r: BitMap([p * COUNT_CODES for p in r])
        >>> th = Thresholds(10, 50, BitMap(range(99 * COUNT_CODES, 100 * COUNT_CODES)))
        >>> th.verdict(people(range(100)), people(range(99)))
        (1, True)
        >>> th.verdict(people(range(100)), people(range(20, 100))) is None  # 20 adults
        True
        >>> th.verdict(people(range(100)), people(range(80)))  # 20 people, the minor among them
        (20, True)
        >>> th.verdict(people(range(100)), people(range(100))) is None  # identical
        True
        >>> th.verdict(people(range(100)), people(range(100)) ^ BitMap([0, 1]))  # a row less
        (1, False)
        """
        pairs = a.symmetric_difference_cardinality(b)
        if pairs < 1 or (pairs + 1) // 2 >= self.widest:
            return None
        x = a ^ b
        d = len(np.unique(np.frombuffer(x.to_array(), dtype=np.uint32) // COUNT_CODES))
        if d >= self.widest:
            return None
        minor = self.minors is not None and x.intersection_cardinality(self.minors) > 0
        if d < self.adult or minor:
            return d, minor
        return None


@dataclass
class CellSet:
    """Cells to compare with: sizes, sketches, minor flags; bitmaps loaded when compared.

    ``bitmaps`` holds a BitMap, its serialisation, or ``None`` (then ``load`` fetches the
    serialisations of a list of cells: a history reads only the candidates' bitmaps).
    """

    cardinality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sketches: list[np.ndarray] = field(default_factory=list)
    minor: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    bitmaps: list[Any] = field(default_factory=list)
    load: Callable[[list[int]], list[bytes]] | None = None
    _postings: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def of(cls, bitmaps: Sequence[Any], minors: Any = None, width: int = SKETCH_WIDTH) -> CellSet:
        """Cells from bitmaps (a result's own cells); ``minors``: the minors' bitmap."""
        return cls(
            np.array([len(people(b)) for b in bitmaps], dtype=np.int64),
            [sketch(b, width) for b in bitmaps],
            has_minor(bitmaps, minors),
            list(bitmaps),
        )

    def __len__(self) -> int:
        return len(self.cardinality)

    def prefetch(self, cells: Iterable[int]) -> None:
        """Load the bitmaps of ``cells`` that are not in memory yet, in one read."""
        missing = sorted({int(i) for i in cells if self.bitmaps[int(i)] is None})
        if missing and self.load is not None:
            for i, blob in zip(missing, self.load(missing), strict=True):
                self.bitmaps[i] = blob

    def bitmap(self, i: int) -> Any:
        """Cell ``i``'s bitmap, read and deserialised the first time it is needed."""
        if self.bitmaps[i] is None:
            self.prefetch([i])
        b = self.bitmaps[i]
        if isinstance(b, bytes | bytearray | memoryview):
            b = self.bitmaps[i] = roaring().BitMap.deserialize(bytes(b))
        return b

    def sketch_of(self, i: int, k: int) -> np.ndarray:
        """Cell ``i``'s first ``k`` sketch elements (recomputed if fewer were recorded)."""
        s = self.sketches[i]
        if len(s) < k and len(s) < self.cardinality[i]:
            s = self.sketches[i] = sketch(self.bitmap(i), k)
        return s[:k]


def has_minor(bitmaps: Sequence[Any], minors: Any) -> np.ndarray:
    """Whether each bitmap holds a minor (never, without a minors' bitmap)."""
    if minors is None:
        return np.zeros(len(bitmaps), dtype=bool)
    return np.array([b.intersection_cardinality(minors) > 0 for b in bitmaps], dtype=bool)


def _postings(cells: CellSet, among: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every sketch element of the cells ``among`` (their first ``k``) with its cell, sorted.

    Built once per cell set for the widest ``k`` asked so far (one sort of every sketch
    element); narrower or partial views are filters of it, which keep the order.
    """
    if cells._postings is None or cells._postings[0] < k:
        parts = [cells.sketch_of(i, k) for i in range(len(cells))]
        if parts:
            elems = np.concatenate(parts)
            lengths = np.array([len(x) for x in parts])
            owner = np.repeat(np.arange(len(parts)), lengths)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            rank = np.arange(len(elems)) - np.repeat(starts, lengths)
            order = np.argsort(elems)
            cells._postings = (k, elems[order], owner[order], rank[order])
        else:
            empty = np.zeros(0, dtype=np.int64)
            cells._postings = (k, empty.astype(np.uint32), empty, empty)
    _, elems, owner, rank = cells._postings
    keep = rank < k
    if len(among) < len(cells):
        chosen = np.zeros(len(cells), dtype=bool)
        chosen[among] = True
        keep &= chosen[owner]
    return elems[keep], owner[keep]


def candidate_pairs(
    new: CellSet,
    old: CellSet,
    d_max: int,
    new_among: np.ndarray | None = None,
    old_among: np.ndarray | None = None,
) -> dict[int, np.ndarray]:
    """For each new cell, the old cells that may differ from it by ``0 .. d_max`` people.

    Exact pruning (see the module docstring): a pair left out provably differs by more than
    ``d_max``. ``new_among`` / ``old_among`` restrict both sides to some cells (indices are
    kept).

    >>> from pyroaring import BitMap
    >>> cell = lambda people: BitMap([p * COUNT_CODES for p in people])
    >>> old = CellSet.of([cell(range(0, 500)), cell(range(1000, 1500)), cell(range(5))])
    >>> new = CellSet.of([cell(range(1, 500)), cell(range(7))])
    >>> {i: c.tolist() for i, c in candidate_pairs(new, old, 9).items()}
    {0: [0], 1: [2]}
    """
    out: dict[int, np.ndarray] = {}
    new_ix = np.arange(len(new)) if new_among is None else np.asarray(new_among, dtype=np.int64)
    old_ix = np.arange(len(old)) if old_among is None else np.asarray(old_among, dtype=np.int64)
    if not len(new_ix) or not len(old_ix):
        return out
    k = SKETCH_FACTOR * (d_max + 1)
    found: dict[int, list[np.ndarray]] = {}
    # 1. sketches: pairs that share enough of their first k elements in hash order
    elems, owner = _postings(old, old_ix, k)
    probes = [new.sketch_of(int(i), k) for i in new_ix]
    p = np.concatenate(probes)
    po = np.repeat(new_ix, [len(x) for x in probes])
    lo = np.searchsorted(elems, p, side="left")
    counts = np.searchsorted(elems, p, side="right") - lo
    total = int(counts.sum())
    if total:
        starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        hits = owner[starts + np.arange(total)]
        n_old = len(old)
        uniq, shared = np.unique(np.repeat(po, counts) * n_old + hits, return_counts=True)
        qi, cj = uniq // n_old, uniq % n_old
        ca, cb = new.cardinality[qi], old.cardinality[cj]
        need = np.minimum(np.minimum(ca, cb), k) - d_max
        keep = (np.abs(ca - cb) <= d_max) & (shared >= need)
        qi, cj = qi[keep], cj[keep]
        order = np.argsort(qi, kind="stable")
        qi, cj = qi[order], cj[order]
        if qi.size:
            bounds = np.flatnonzero(np.diff(qi)) + 1
            for q, group in zip(qi[np.r_[0, bounds]], np.split(cj, bounds), strict=True):
                found.setdefault(int(q), []).append(group)
    # 2. two cells of at most d_max people together can be disjoint and still close: those
    #    pairs are found by cardinality alone (every other close pair shares a sketch element)
    rooms = d_max - new.cardinality[new_ix]
    if (rooms >= 1).any():
        by_card = old_ix[np.argsort(old.cardinality[old_ix], kind="stable")]
        ends = np.searchsorted(old.cardinality[by_card], rooms, side="right")
        for i, end in zip(new_ix[ends > 0], ends[ends > 0], strict=True):
            found.setdefault(int(i), []).append(by_card[:end])
    for i, parts in found.items():
        out[i] = np.unique(np.concatenate(parts))
    return out


def _pairs(new: CellSet, old: CellSet, th: Thresholds) -> dict[int, np.ndarray]:
    """Candidates, with the U18 bound only where a minor can be in the difference.

    A pair of cells neither of which holds a minor can only differ by adults: the adult
    threshold bounds it, which keeps sketches short and small cells' windows narrow.
    """
    adult, widest = th.adult - 1, th.widest - 1
    for cells in (new, old):  # one sort of each side's sketch elements, at the widest k
        _postings(cells, np.arange(len(cells)), SKETCH_FACTOR * (widest + 1))
    if widest == adult:
        return candidate_pairs(new, old, adult)
    n0, n1 = np.flatnonzero(~new.minor), np.flatnonzero(new.minor)
    o0, o1 = np.flatnonzero(~old.minor), np.flatnonzero(old.minor)
    merged: dict[int, list[np.ndarray]] = {}
    for part in (
        candidate_pairs(new, old, adult, n0, o0),
        candidate_pairs(new, old, widest, n0, o1),
        candidate_pairs(new, old, widest, n1, None),
    ):
        for i, c in part.items():
            merged.setdefault(i, []).append(c)
    return {i: np.unique(np.concatenate(c)) for i, c in merged.items()}


@dataclass(frozen=True)
class Finding:
    """New cell ``row`` is withheld: it differs from ``other`` by ``difference`` people."""

    row: int
    other: int  # index in the earlier cells, or in this result when ``within``
    within: bool
    difference: int
    minor: bool


def find(new: Sequence[Any], earlier: CellSet, thresholds: Thresholds) -> list[Finding]:
    """The new cells to withhold, compared with ``earlier`` cells and with each other.

    Within one result, rows are decided in order: a row is compared with the earlier rows
    that are released, so of two rows that differ by one person the first leaves.

    >>> from pyroaring import BitMap
    >>> cell = lambda people: BitMap([p * COUNT_CODES for p in people])
    >>> th = Thresholds(10, 50)
    >>> old = CellSet.of([cell(range(100))])
    >>> [(f.row, f.other, f.within, f.difference) for f in find(
    ...     [cell(range(1, 100)), cell(range(200, 300)), cell(range(200, 299)),
    ...      cell(range(100))], old, th)]
    [(0, 0, False, 1), (2, 1, True, 1)]
    """
    width = max(SKETCH_WIDTH, SKETCH_FACTOR * thresholds.widest)
    cells = CellSet.of(new, thresholds.minors, width)
    against_old = _pairs(cells, earlier, thresholds)
    against_new = _pairs(cells, cells, thresholds)
    earlier.prefetch(j for c in against_old.values() for j in c)
    withheld: dict[int, Finding] = {}
    findings: list[Finding] = []
    for i in range(len(cells)):
        a = cells.bitmap(i)
        hit = None
        for j in against_old.get(i, ()):
            v = thresholds.verdict(a, earlier.bitmap(int(j)))
            if v is not None:
                hit = Finding(i, int(j), False, *v)
                break
        if hit is None:
            for j in against_new.get(i, ()):
                if j >= i or int(j) in withheld:
                    continue
                v = thresholds.verdict(a, cells.bitmap(int(j)))
                if v is not None:
                    hit = Finding(i, int(j), True, *v)
                    break
        if hit is not None:
            withheld[i] = hit
            findings.append(hit)
    return findings


def reason(f: Finding, threshold: int) -> str:
    """Why a cell is withheld, in the researcher's terms (no value, no identity).

    >>> reason(Finding(3, 0, False, 1, False), 10)
    'its contributors differ from a cell released earlier by 1 person (fewer than 10)'
    """
    people = "person" if f.difference == 1 else "people"
    which = "another row of this result" if f.within else "a cell released earlier"
    minor = ", a person under 18 among them" if f.minor else ""
    return (
        f"its contributors differ from {which} by {f.difference} {people}{minor} "
        f"(fewer than {threshold})"
    )


@dataclass
class Guarded:
    """A checked result after the guard: what leaves, what is withheld and what to record."""

    table: Any  # pyarrow Table that leaves: withheld cells NULL
    withheld: list[dict[str, Any]]
    cells: list[Any]  # vce.policy.releases.Cell, one per row that leaves whole
    withheld_rows: int = 0


def guard(
    result: Any,
    index: Any,
    earlier: Any,
    policy_thresholds: Any,
    minors_possible: bool,
) -> Guarded:
    """Withhold the cells of a checked result that differ from another cell by too few people.

    ``result`` comes from ``run_checked(..., contributors=True)``. A withheld row keeps its
    place and its group keys; its statistics become NULL and are listed in ``withheld``
    (``row`` indexes the released rows), so every rule's withheld cells read alike. The other
    rows are what recording stores. ``earlier`` is a :class:`vce.policy.releases.Earlier`.
    Row exports (rows that leave one by one, each about one person by the policy's leave) and
    denied results pass unchanged.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from vce.policy.contributors import row_bitmaps
    from vce.policy.releases import Cell

    table = result.table
    if table is None or result.contributor_sets is None or result.row_export:
        return Guarded(table, [], [])
    bitmaps = row_bitmaps(result.contributor_sets, index)
    th = Thresholds(
        policy_thresholds.min_entities,
        policy_thresholds.u18_min_entities,
        index.minors if minors_possible else None,
    )
    findings = find(bitmaps, earlier.cells, th)
    values = [c for c in result.value_columns if c in table.column_names]
    keys = [c for c in table.column_names if c not in values]
    withheld: list[dict[str, Any]] = []
    out = set()
    for f in findings:
        out.add(f.row)
        why = reason(f, th.u18 if f.minor else th.adult)
        other = {"row": f.other} if f.within else earlier.ref(f.other).to_dict()
        for column in values or table.column_names:
            withheld.append(
                {"row": f.row, "column": column, "rule": RULE, "reason": why, "earlier": other}
            )
    keep = [i for i in range(table.num_rows) if i not in out]
    rows = table.select(keys).to_pylist() if keys else [{} for _ in range(table.num_rows)]
    minor = has_minor(bitmaps, th.minors)
    cells = [Cell(i, bitmaps[i], tuple(values), rows[i], bool(minor[i])) for i in keep]
    if out:
        mask = pa.array([i in out for i in range(table.num_rows)])
        for column in values or table.column_names:
            at = table.column_names.index(column)
            col = table.column(at)
            table = table.set_column(at, column, pc.if_else(mask, pa.scalar(None, col.type), col))
    return Guarded(table, withheld, cells, len(out))
