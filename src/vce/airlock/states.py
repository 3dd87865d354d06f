"""Request states and the transitions between them — the single source of truth.

The state diagram in ``docs/explanation/airlock-states.md`` is generated from :data:`TRANSITIONS`
by :func:`mermaid`, so the documentation cannot drift from the code.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a request is in its life."""

    SUBMITTED = "submitted"  # passed the static check, waiting for trusted re-execution
    DENIED = "denied"  # the static check refused it; the researcher sees why and may revise
    CHECKING = "checking"  # a worker is re-executing it on the full extracts
    BLOCKED = "blocked"  # the trusted checks released nothing; reviewers return or reject it
    AWAITING_REVIEW = "awaiting_review"  # checks passed; reviewers vote
    RETURNED = "returned"  # a reviewer sent it back with comments; may be resubmitted
    REJECTED = "rejected"  # final: a reviewer refused it
    APPROVED = "approved"  # enough eligible approvals; the release is being written
    RELEASED = "released"  # final: files written, downloadable by project members
    WITHDRAWN = "withdrawn"  # final: the researcher gave up on it


# state -> {next state: what causes the move}
TRANSITIONS: dict[State, dict[State, str]] = {
    State.SUBMITTED: {
        State.DENIED: "static check refuses it",
        State.CHECKING: "worker picks it up",
        State.WITHDRAWN: "researcher",
    },
    State.DENIED: {State.SUBMITTED: "researcher resubmits", State.WITHDRAWN: "researcher"},
    State.CHECKING: {
        State.BLOCKED: "trusted checks release nothing",
        State.AWAITING_REVIEW: "trusted checks pass",
        State.CHECKING: "restart after a crash re-runs it",
        State.WITHDRAWN: "researcher",
    },
    State.BLOCKED: {
        State.RETURNED: "reviewer returns",
        State.REJECTED: "reviewer rejects",
        State.WITHDRAWN: "researcher",
    },
    State.AWAITING_REVIEW: {
        State.APPROVED: "N-th eligible approval",
        State.RETURNED: "reviewer returns",
        State.REJECTED: "reviewer rejects",
        State.WITHDRAWN: "researcher",
    },
    State.RETURNED: {State.SUBMITTED: "researcher resubmits", State.WITHDRAWN: "researcher"},
    State.APPROVED: {State.RELEASED: "release written atomically"},
    State.REJECTED: {},
    State.RELEASED: {},
    State.WITHDRAWN: {},
}

FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# States a restarted service must pick up again so that nothing stays stuck.
RESUMABLE = frozenset({State.SUBMITTED, State.CHECKING, State.APPROVED})
RESUBMITTABLE = frozenset({State.DENIED, State.RETURNED})
# States reviewers decide on: the checks passed, or they released nothing and the researcher
# can only learn that (and why) through a reviewer's words.
REVIEWABLE = frozenset({State.AWAITING_REVIEW, State.BLOCKED})


def can_move(src: State, dst: State) -> bool:
    """Whether ``src → dst`` is a legal transition.

    >>> can_move(State.AWAITING_REVIEW, State.APPROVED)
    True
    >>> can_move(State.BLOCKED, State.RELEASED)
    False
    >>> can_move(State.BLOCKED, State.SUBMITTED)  # the researcher does not know it is blocked
    False
    """
    return dst in TRANSITIONS[src]


def mermaid() -> str:
    """Render the state diagram as Mermaid source, generated from :data:`TRANSITIONS`.

    >>> "denied --> submitted" in mermaid()
    True
    """
    lines = ["stateDiagram-v2", "    [*] --> submitted: researcher requests an export"]
    for src, nxt in TRANSITIONS.items():
        for dst, why in nxt.items():
            lines.append(f"    {src.value} --> {dst.value}: {why}")
    lines.extend(f"    {s.value} --> [*]" for s in sorted(FINAL, key=lambda s: s.value))
    return "\n".join(lines)
