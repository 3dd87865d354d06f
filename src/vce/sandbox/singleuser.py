"""The sandbox's server command: JupyterHub's single-user server without the hub's database layer.

``jupyterhub-singleuser`` imports ``jupyterhub.log`` for its request logger. That module
imports the hub's page handlers only to recognise the hub's health-check handler, and
``jupyterhub.metrics`` imports the hub's ORM only for a collector that queries the hub's
database. Together they load SQLAlchemy's ORM, Alembic and Mako into every sandbox start:
0.15 s of CPU, an eighth of what a researcher's login-to-ready costs the machine, paid ten
times over when ten researchers start at once. The single-user server never serves a hub
handler nor opens the hub's database, so this command

- registers a stand-in for ``jupyterhub.handlers.pages`` whose ``HealthCheckHandler`` no
  handler in this process is an instance of (``log_request`` only asks ``isinstance``), and
- defers ``jupyterhub.orm`` with the standard library's ``LazyLoader``: it still loads, in
  full, on first attribute access.

Both apply only to the JupyterHub release series they were checked against
(:data:`CHECKED_SERIES`); any other version starts exactly as ``jupyterhub-singleuser`` does.
``tests/e2e/sandbox/test_sandbox_image.py`` checks the effect in the image; every end-to-end
test runs the server through this command.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence

# JupyterHub series whose single-user import chain was read: jupyterhub/log.py takes only
# HealthCheckHandler from handlers.pages; jupyterhub/metrics.py uses orm inside methods only.
CHECKED_SERIES = (5, 5)
DEFERRED = "jupyterhub.orm"
STAND_IN = "jupyterhub.handlers.pages"


class _DeferredImport(importlib.abc.MetaPathFinder):
    """Find :data:`DEFERRED` as usual, but load it lazily (on first attribute access)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """Return the normal spec for :data:`DEFERRED` with a lazy loader; ``None`` otherwise."""
        if fullname != DEFERRED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


class _HubHandlerStandIn:
    """Stands for the hub's handler classes; the single-user server never creates one."""


def _stand_in_module() -> types.ModuleType:
    module = types.ModuleType(STAND_IN, "Stand-in set by vce.sandbox.singleuser (see there).")
    module.HealthCheckHandler = _HubHandlerStandIn  # type: ignore[attr-defined]

    def __getattr__(name: str) -> object:
        raise AttributeError(
            f"{STAND_IN}.{name} is not available in the sandbox: vce.sandbox.singleuser stands "
            f"in for the hub's page handlers; start the server with jupyterhub-singleuser "
            f"instead if a server extension needs them"
        )

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return module


def is_checked_version(version: str) -> bool:
    """Whether a JupyterHub version belongs to :data:`CHECKED_SERIES`.

    >>> is_checked_version("5.5.4"), is_checked_version("5.6.0"), is_checked_version("6.0.0b1")
    (True, False, False)
    """
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) == CHECKED_SERIES


def skip_hub_database_layer() -> bool:
    """Install the stand-in and the deferred import; ``False`` (and no change) on other versions.

    Must run before anything imports ``jupyterhub.log``.
    """
    from jupyterhub._version import __version__

    if not is_checked_version(__version__) or "jupyterhub.log" in sys.modules:
        return False
    sys.modules.setdefault(STAND_IN, _stand_in_module())
    if not any(isinstance(finder, _DeferredImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DeferredImport())
    return True


def main() -> None:
    """Entry point ``vce-singleuser``: ``jupyterhub-singleuser`` with a lighter start.

    The process is made non-dumpable first (:mod:`vce.sandbox.nodump`), before it reads any
    file, so no kernel it starts later can trace or read it.
    """
    from vce.sandbox.nodump import forbid_dumping

    forbid_dumping()
    skip_hub_database_layer()
    from jupyterhub.singleuser import main as singleuser_main

    sys.exit(singleuser_main())
