"""The in-sandbox client: a locked-down DuckDB over the project's data and the export calls.

Researchers use it as ``import vce``: ``vce.connect()``, ``vce.check(sql)``,
``vce.request_export(...)``, ``vce.request_file_export(...)``, ``vce.exports()``,
``vce.resubmit_export(...)``, ``vce.withdraw_export(...)`` and the
``%%vce`` cell magic (``%load_ext vce``). Reference: docs/reference/client.md.
"""

from __future__ import annotations

from vce.sandbox.airlock_client import (
    AirlockError,
    AirlockRefused,
    AirlockUnreachable,
    exports,
    request_export,
    request_file_export,
    resubmit_export,
    withdraw_export,
)
from vce.sandbox.checking import CheckReport, check
from vce.sandbox.connection import SandboxConnection, SandboxRelation, connect
from vce.sandbox.guard import SandboxRefusal
from vce.sandbox.magic import load_ipython_extension
from vce.sandbox.mount import MountError
from vce.sandbox.timeout import QueryTimeout

__all__ = [
    "AirlockError",
    "AirlockRefused",
    "AirlockUnreachable",
    "CheckReport",
    "MountError",
    "QueryTimeout",
    "SandboxConnection",
    "SandboxRefusal",
    "SandboxRelation",
    "check",
    "connect",
    "exports",
    "load_ipython_extension",
    "request_export",
    "request_file_export",
    "resubmit_export",
    "withdraw_export",
]
