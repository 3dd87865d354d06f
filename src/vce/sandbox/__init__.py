"""The in-sandbox client: a locked-down DuckDB over the project's data and the export calls.

Researchers use it as ``import vce``: ``vce.connect()``, ``vce.check(sql)``,
``vce.request_export(...)``, ``vce.request_file_export(...)``, ``vce.exports()``,
``vce.resubmit_export(...)``, ``vce.withdraw_export(...)`` and the
``%%vce`` cell magic (``%load_ext vce``). Reference: docs/reference/client.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Public name -> the submodule defining it. Resolved on first use (PEP 562), so that the
# Jupyter server importing ``vce.sandbox.hardening`` at every spawn does not also pay for
# DuckDB, pyarrow and sqlglot (~0.1 s of CPU); kernels import them when a researcher does.
_EXPORTS = {
    "AirlockError": "airlock_client",
    "AirlockRefused": "airlock_client",
    "AirlockUnreachable": "airlock_client",
    "exports": "airlock_client",
    "request_export": "airlock_client",
    "request_file_export": "airlock_client",
    "resubmit_export": "airlock_client",
    "withdraw_export": "airlock_client",
    "CheckReport": "checking",
    "check": "checking",
    "SandboxConnection": "connection",
    "SandboxRelation": "connection",
    "connect": "connection",
    "SandboxRefusal": "guard",
    "load_ipython_extension": "magic",
    "MountError": "mount",
    "QueryTimeout": "timeout",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use."""
    if name in _EXPORTS:
        return getattr(import_module(f"vce.sandbox.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vce.sandbox' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
