"""VCE: a Virtual Compute Environment for research on platform data.

Inside a sandbox, ``import vce`` gives researchers the client (``vce.connect()``,
``vce.check()``, ``vce.request_export()`` …); on the trusted side the same package holds the
policy engine, the airlock and the hub configuration.

The client names are resolved lazily (PEP 562 ``__getattr__``): ``import vce`` stays cheap —
no DuckDB, pyarrow or sqlglot import — for the CLI and the trusted services that share it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_CLIENT = frozenset(
    {
        "connect",
        "check",
        "request_export",
        "request_file_export",
        "exports",
        "resubmit_export",
        "withdraw_export",
        "load_ipython_extension",
    }
)
__all__ = ["__version__", *sorted(_CLIENT)]


def __getattr__(name: str) -> Any:
    """Import ``vce.sandbox`` on first use of a client name (``%load_ext vce`` included)."""
    if name in _CLIENT:
        from vce import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module 'vce' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_CLIENT])
