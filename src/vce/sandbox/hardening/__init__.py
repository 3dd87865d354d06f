"""Jupyter server hardening for the sandbox: close the bulk download channels.

Loaded as a Jupyter server extension inside the researcher image (enabled by
``jupyter_server_config.json`` next to this file, installed as
``/etc/jupyter/jupyter_server_config.json``). That file also switches off what a sandbox has
no use for and pays for at every spawn: ``jupyter_lsp`` (no language servers are installed),
``notebook_shim``, and JupyterLab's PyPI extension manager, news feed and update check (the
sandbox network refuses the internet anyway). The extension refuses, with HTTP 403 and a
message pointing to the export workflow:

- ``/files/…`` raw downloads (JupyterLab's *Download*, direct links) and ``/view/…``;
- ``/nbconvert/…`` downloads and exports (*Save and Export Notebook As…*);
- contents-API reads of non-notebook files above a size cap (see :mod:`.contents`), and any
  contents-API traffic beyond a budget per server start; oversized lab workspace and settings
  responses (see :mod:`.responses`);
- oversized kernel messages and ``user_expressions``, and kernel traffic beyond a budget per
  server start (see :mod:`.kernel_traffic`).

Terminals are off (the config file). Notebooks, the file browser, text editing, kernels and
uploads are untouched. Every refusal is logged with the ``VCE-REFUSED`` marker and reported to
the airlock's audit chain (:mod:`.report`).

The extension also makes the server non-dumpable (:mod:`vce.sandbox.nodump`), so the kernel
cannot trace or read it, and keeps the notebook-trust secret in memory, so a secret the kernel
writes to the home folder is never the server's.

Why a server extension and not a proxy rule: the server knows what a path *is* (notebook or
data file, its size), and the same image is safe whichever hub or proxy runs it.
"""

from __future__ import annotations

import os
from typing import Any

from vce.sandbox.hardening import responses
from vce.sandbox.hardening.contents import CappedFileContentsManager
from vce.sandbox.hardening.handlers import EmptyExporterListHandler, RefusedDownloadHandler
from vce.sandbox.hardening.kernel_traffic import GuardedKernelWebsocketConnection
from vce.sandbox.hardening.refusal import EXPORT_HINT
from vce.sandbox.nodump import forbid_dumping

__all__ = ["EXPORT_HINT", "CappedFileContentsManager", "RefusedDownloadHandler"]

# Route patterns (below the server's base URL) that are refused outright.
REFUSED_ROUTES = (r"files/(.*)", r"view/(.*)", r"nbconvert/(.*)")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Entry point Jupyter server uses to find this extension."""
    return [{"module": "vce.sandbox.hardening"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the refusing routes ahead of the server's own ones.

    Tornado consults host rules added with ``add_handlers`` before the core handlers, so these
    win over ``FilesHandler`` and the nbconvert handlers. The contents manager is configured
    separately (``ServerApp.contents_manager_class``); a server started without it gets it
    swapped in here, so a configuration mistake cannot open large reads.
    """
    from jupyter_server.utils import url_path_join

    forbid_dumping()  # before any kernel exists (vce-singleuser already did; idempotent)
    base_url = serverapp.web_app.settings["base_url"]
    handlers: list[tuple[str, type, dict[str, Any]]] = [
        (url_path_join(base_url, route), RefusedDownloadHandler, {}) for route in REFUSED_ROUTES
    ]
    handlers.append((url_path_join(base_url, r"api/nbconvert"), EmptyExporterListHandler, {}))
    serverapp.web_app.add_handlers(".*$", handlers)
    if not isinstance(serverapp.contents_manager, CappedFileContentsManager):
        # Fail closed: a server configured without the cap gets it anyway.
        serverapp.log.warning(
            "vce-hardening: contents manager %s is not capped; replacing it with %s (set "
            "ServerApp.contents_manager_class to avoid this warning)",
            type(serverapp.contents_manager).__name__,
            CappedFileContentsManager.__name__,
        )
        capped = CappedFileContentsManager(
            parent=serverapp, log=serverapp.log, root_dir=serverapp.root_dir
        )
        serverapp.contents_manager = capped
        serverapp.web_app.settings["contents_manager"] = capped
    _trust_only_this_start(serverapp.contents_manager)
    responses.install(serverapp.web_app, serverapp.contents_manager.session_budget_bytes)
    settings = serverapp.web_app.settings
    if not issubclass(
        settings.get("kernel_websocket_connection_class") or object,
        GuardedKernelWebsocketConnection,
    ):
        serverapp.log.warning("vce-hardening: installing the guarded kernel websocket connection")
        settings["kernel_websocket_connection_class"] = GuardedKernelWebsocketConnection
    serverapp.log.info("vce-hardening: downloads and exports refused; use vce.request_export()")


def _trust_only_this_start(contents_manager: Any) -> None:
    """Keep the notebook-signing secret and signatures in memory, never in the home folder.

    Jupyter reads the secret from its data folder, which in a sandbox must be writable (home)
    or is empty (/tmp) — either way the kernel could put its own secret there and sign any
    notebook as trusted. In memory, trust lasts one server start.
    """
    notary = contents_manager.notary
    notary.db_file = ":memory:"
    notary.secret = os.urandom(1024)
