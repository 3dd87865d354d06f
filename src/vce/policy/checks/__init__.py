"""Result checks applied to every row of a trusted execution, one check per module.

Each check looks at the helper columns the rewrite added (contributor counts per entity
column, minor flags, dominance shares) and says which rows fail. Suppression is decided on
contributors, never on the values themselves, so the order of the checks does not change what
is released; :mod:`vce.policy.execute` attributes a suppressed row to the first check it failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckOutcome:
    """What one check did to a result: counts, the thresholds it used, smallest group kept."""

    name: str
    passed: int = 0
    failed: int = 0
    suppressed: int = 0
    thresholds: dict[str, Any] = field(default_factory=dict)
    smallest_group: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by ``vce check --json`` and the airlock's check report."""
        return {
            "name": self.name,
            "passed": self.passed,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "thresholds": self.thresholds,
            "smallest_group": self.smallest_group,
            "detail": self.detail,
        }
