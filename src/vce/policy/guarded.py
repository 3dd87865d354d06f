"""Trusted execution with the differencing guard: run, compare with the history, record.

The one sequence both ``vce check --releases`` and the airlock's worker follow: run the query
keeping its contributor sets (:func:`vce.policy.execute.run_checked`), compare its cells with
the release histories that apply (:mod:`vce.policy.releases`) and with each other
(:mod:`vce.policy.differencing`), and withhold what differs by too few people. Recording is a
separate step: the airlock records on release, not on check.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vce.policy.context import Context
from vce.policy.contributors import ContributorsUnavailable, dataset_version, entity_index
from vce.policy.differencing import guard
from vce.policy.execute import CheckedResult, run_checked
from vce.policy.releases import Cell, Earlier, ReleaseStore, ReleaseStoreError
from vce.policy.violations import Violation


@dataclass
class GuardedRun:
    """A checked result after the guard, and what recording it would store."""

    result: CheckedResult
    dataset_version: str
    cells: list[Cell] = field(default_factory=list)


def run_guarded(
    sql: str,
    ctx: Context,
    data_dirs: Sequence[Path],
    histories: Sequence[ReleaseStore],
    *,
    timeout_s: float = 60,
    pending: Collection[str] = (),
    exclude: str | None = None,
) -> GuardedRun:
    """``run_checked`` whose released rows also pass the differencing guard.

    ``histories``: the project's own release history, plus every other project's when the
    airlock compares across projects; ``pending`` and ``exclude`` as in
    :meth:`ReleaseStore.earlier`. Withheld rows leave the table and are listed in
    ``result.withheld`` with the earlier cell they are too close to.
    """
    result = run_checked(sql, ctx, data_dirs, timeout_s=timeout_s, contributors=True)
    version = dataset_version(data_dirs)
    if not result.allowed or result.table is None:
        return GuardedRun(result, version)
    try:
        index = entity_index(data_dirs, ctx.policy)
        earlier = Earlier.concat(h.earlier(version, pending, exclude) for h in histories)
        guarded = guard(result, index, earlier, ctx.policy.thresholds, ctx.u18_approved)
    except ContributorsUnavailable as e:
        result.allowed, result.table = False, None
        result.reasons.append(Violation(e.rule, str(e)))
        return GuardedRun(result, version)
    except ReleaseStoreError:
        raise
    except Exception as e:  # deny, never release unguarded
        result.allowed, result.table = False, None
        result.reasons.append(Violation("internal-error", f"the differencing guard failed ({e!r})"))
        return GuardedRun(result, version)
    result.table = guarded.table
    result.withheld = guarded.withheld
    result.withheld_rows = guarded.withheld_rows
    return GuardedRun(result, version, guarded.cells)


def record(
    store: ReleaseStore,
    run: GuardedRun,
    *,
    ref: str,
    project: str,
    sql: str,
    pending: bool = False,
) -> int | None:
    """Record what a guarded run released (nothing when nothing left).

    ``pending``: the airlock records at check time, before review (see
    :mod:`vce.policy.releases`); ``vce check --record`` records as released.
    """
    if not run.cells:
        return None
    return store.record(
        ref=ref,
        project=project,
        dataset_version=run.dataset_version,
        sql=sql,
        cells=run.cells,
        pending=pending,
    )
