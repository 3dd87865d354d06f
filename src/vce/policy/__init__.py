"""Query policy engine: decides which query results may leave the sandbox.

Static half (pure, no I/O)::

    from vce.policy import analyze, Context, load_policy
    d = analyze(sql, Context(policy=load_policy(), tables=None, u18_approved=False))
    d.allowed, d.violations, d.tables, d.expression, d.to_dict()

See docs/explanation/policy-rules.md for the rules and the threat model.
"""

from vce.policy.analyze import analyze, clear_cache
from vce.policy.context import Context
from vce.policy.model import ColumnClass, Policy, load_policy
from vce.policy.violations import Decision, Violation

__all__ = [
    "ColumnClass",
    "Context",
    "Decision",
    "Policy",
    "Violation",
    "analyze",
    "clear_cache",
    "load_policy",
]
