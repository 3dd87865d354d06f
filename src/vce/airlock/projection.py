"""What a researcher may see of a request before it is released: one projection, no special cases.

The trusted run computes on the full extracts — real minors' rows included for U18 projects —
so everything it produces (engine errors, whether every row was suppressed, suppression
counts, how long it took, the data files it read) is a fact about real people. A researcher
who sees any of it before a reviewer has read it can ask one yes/no question of the real data
per request (pad a group with adults they can count in the sandbox, add ``OR`` one minor, and
watch whether the request is blocked). So a researcher's view of a request is *derived only*
from researcher-safe facts:

* what they sent (SQL, file name, purpose) and when;
* the static decision (:func:`vce.policy.execute.static_check`: a function of the SQL and the
  policy alone), shown at once as ``denied`` with the rules;
* reviewers' words and votes (public comments, approvals, returned, rejected);
* the release, once there is one: the released revision's results, report and provenance
  (what reviewers approved) — but still not the trusted run's moves, notes or timing, so
  an earlier revision a reviewer returned stays as undisclosed as it was. The report keeps
  which checks ran and their thresholds, not how many rows each withheld
  (:func:`public_report`): a group withheld for having one person must look like a group
  that has nobody (``empty-cell``).

Every internal state between a passed static check and a reviewer's first vote
(``submitted``, ``checking``, ``awaiting_review``, ``blocked``) reads as ``submitted``; after a
first approval it reads ``under_review``. The history keeps only researchers' and reviewers'
moves, with the same renaming, and timestamps come from those moves only, so neither the
state nor the clock tells how (or how fast) the trusted run ended.

Reviewers, administrators and the audit log see the request as it is
(:meth:`vce.airlock.workflow.Airlock.detail`).
"""

from __future__ import annotations

from typing import Any

from vce.airlock.states import State

SUBMITTED = "submitted"
UNDER_REVIEW = "under_review"
HIDDEN = frozenset({State.SUBMITTED, State.CHECKING, State.AWAITING_REVIEW, State.BLOCKED})
"""Internal states a researcher sees as ``submitted`` (or ``under_review`` once voted on)."""
SYSTEM_MOVES = frozenset({State.CHECKING, State.BLOCKED, State.AWAITING_REVIEW})
"""Targets of the trusted run's moves: left out of a researcher's history."""
NOTES = {
    SUBMITTED: (
        "Passed the static check. The airlock re-runs it on the full data and reviewers decide; "
        "their decision and comments appear here."
    ),
    UNDER_REVIEW: "Reviewers are deciding; their decision and comments appear here.",
    State.DENIED.value: "The static check refused it: revise it with the rules below.",
    State.RETURNED.value: "A reviewer returned it: read the comments, revise and resubmit.",
    State.REJECTED.value: "A reviewer rejected it; the comments say why.",
    State.APPROVED.value: "Approved; the release is being written.",
    State.RELEASED.value: "Released: download the files below.",
    State.WITHDRAWN.value: "You withdrew it.",
}


def public_state(state: str, approvals: int = 0) -> str:
    """The state a researcher sees for an internal ``state``.

    >>> public_state("blocked"), public_state("awaiting_review"), public_state("checking")
    ('submitted', 'submitted', 'submitted')
    >>> public_state("awaiting_review", approvals=1)
    'under_review'
    >>> public_state("denied"), public_state("returned")
    ('denied', 'returned')
    """
    if State(state) in HIDDEN:
        return UNDER_REVIEW if approvals else SUBMITTED
    return state


def public_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history a researcher sees: no move of the trusted run, hidden states renamed.

    >>> moves = [("alice", None, "submitted"), ("airlock", "submitted", "checking"),
    ...          ("airlock", "checking", "blocked"), ("rev1", "blocked", "returned")]
    >>> events = [{"actor": a, "from": f, "to": t} for a, f, t in moves]
    >>> public_events(events)  # doctest: +NORMALIZE_WHITESPACE
    [{'actor': 'alice', 'from': None, 'to': 'submitted'},
     {'actor': 'rev1', 'from': 'submitted', 'to': 'returned'}]
    """
    out = []
    for e in events:
        if e["to"] in SYSTEM_MOVES:
            continue
        out.append(
            e
            | {
                "from": e["from"] and public_state(e["from"]),
                "to": public_state(e["to"]),
            }
        )
    return out


REPORT_CHECK_FIELDS = ("name", "thresholds")
"""What a researcher reads of each check of a released report: which ran, with what limits."""
REPORT_WITHHELD_KEYS = ("suppressed_rows", "withheld")
"""Report keys counting or locating withheld rows: reviewers only."""


def public_report(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """A trusted run's report as its researcher may read it once released.

    Counts of withheld rows (``suppressed_rows``, each check's ``passed``/``failed``/
    ``suppressed``, the exact ``smallest_group``, which rows were withheld) tell an empty
    group from a group withheld for having one person: ``WHERE region_code = 'DE' OR
    (create_time = T AND age_band = '13-15') GROUP BY region_code`` releases the same DE row
    either way, and only the count of suppressed rows says whether the target is 13-15.

    >>> public_report({"allowed": True, "suppressed_rows": 1, "rounded_columns": ["n"],
    ...     "checks": [{"name": "threshold", "passed": 1, "failed": 1, "suppressed": 1,
    ...                 "thresholds": {"min_entities": 10}, "smallest_group": 12}]})
    {'allowed': True, 'rounded_columns': ['n'], 'checks': [{'name': 'threshold', 'thresholds': {'min_entities': 10}}]}
    """  # noqa: E501
    if report is None:
        return None
    out = {k: v for k, v in report.items() if k not in REPORT_WITHHELD_KEYS}
    if isinstance(out.get("checks"), list):
        out["checks"] = [
            {k: c[k] for k in REPORT_CHECK_FIELDS if k in c}
            for c in out["checks"]
            if isinstance(c, dict)
        ]
    return out


def researcher_view(full: dict[str, Any]) -> dict[str, Any]:
    """Project a request's full detail (or summary) onto what its researcher may see.

    ``full`` is what :meth:`~vce.airlock.workflow.Airlock.detail` or ``summary`` built; the
    projection keeps the researcher's own input, the static decision, reviewers' words and
    the release, and nothing the trusted run computed.
    """
    state = public_state(full["state"], full.get("approvals") or 0)
    static_only = full["state"] == State.DENIED.value
    released = full["state"] == State.RELEASED.value
    out = {
        "id": full["id"],
        "state": state,
        "note": NOTES.get(state, ""),
        "project": full["project"],
        "name": full["name"],
        "kind": full["kind"],
        "requester": full["requester"],
        "revision": full["revision"],
        "created": full["created"],
        "updated": full.get("public_updated") or full["created"],
        "reasons": list(full.get("reasons") or []) if static_only or released else [],
    }
    if "events" not in full:  # a summary
        return out
    events = public_events(full["events"])
    out.update(
        purpose=full["purpose"],
        sql=full["sql"],
        filename=full["filename"],
        report=full["report"]
        if static_only
        else public_report(full["report"])
        if released
        else None,
        provenance=full["provenance"] if released else None,
        approvals_required=full["approvals_required"],
        approvals=full["approvals"],
        preview=full["preview"] if released else None,
        votes=full["votes"],
        comments=[c for c in full["comments"] if not c["private"]],
        events=events,
        release=full["release"] if released else None,
        can_review=False,
        can_download=full["can_download"] if released else False,
        can_inspect=full["can_inspect"] if released else False,
    )
    return out
