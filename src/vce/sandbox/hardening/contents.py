"""A contents manager that refuses large reads of data files.

JupyterLab opens text files, CSVs and images through ``GET /api/contents/<path>?content=1``;
for a data file that is a download by another name. Reads of non-notebook files larger than
``max_file_bytes`` (default 1 MiB) are refused with 403 and the export hint; notebooks are read
up to ``max_notebook_bytes`` (default 25 MiB) so normal notebooks always open. Writes (uploads,
saving edits) are unaffected, and ``/files/`` is closed by the same refusal handler.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web
from traitlets import Int, default

from vce.sandbox.hardening.handlers import RefusedDownloadHandler
from vce.sandbox.hardening.refusal import EXPORT_HINT, log_refusal

MiB = 1024 * 1024


class CappedFileContentsManager(AsyncLargeFileManager):
    """``AsyncLargeFileManager`` with a size cap on content reads of non-notebook files."""

    max_file_bytes = Int(
        1 * MiB, config=True, help="Largest non-notebook file whose content the API returns."
    )
    max_notebook_bytes = Int(
        25 * MiB, config=True, help="Largest notebook whose content the API returns."
    )
    session_budget_bytes = Int(
        256 * MiB,
        config=True,
        help="Bytes the contents API returns per server start (vce.sandbox.hardening.responses).",
    )

    @default("files_handler_class")
    def _files_handler_class_default(self) -> type:
        return RefusedDownloadHandler

    @default("files_handler_params")
    def _files_handler_params_default(self) -> dict[str, Any]:
        return {}

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        """Refuse content reads above the cap; everything else as the parent class."""
        if content and type != "directory":
            self._refuse_if_too_large(path, type)
        try:
            return await super().get(
                path, content=content, type=type, format=format, require_hash=require_hash
            )
        except web.HTTPError as e:
            # Jupyter quotes the start of a file that fails to parse as a notebook in the
            # error; a data file renamed to .ipynb must not leak its first line that way.
            if e.status_code == 400 and "Unreadable Notebook" in (e.log_message or ""):
                raise web.HTTPError(400, f"Unreadable Notebook: {path} is not a notebook") from None
            raise

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        """Save as the parent class; a full home folder answers 507 naming the quota.

        Jupyter writes through a temporary file and reports a full disk as whatever failed
        last (often "No such file" for the rename), so the filesystem itself is asked.
        """
        try:
            return await super().save(model, path)
        except (web.HTTPError, OSError) as e:
            needed = len(model.get("content") or "") if isinstance(model, dict) else 0
            if _is_disk_full(e) or _is_disk_full(e.__cause__) or self._is_full(needed):
                raise web.HTTPError(507, home_full_message()) from None
            raise

    def _is_full(self, needed: int) -> bool:
        """Whether the home filesystem lacks room for ``needed`` more bytes (or 1 MiB)."""
        try:
            stats = os.statvfs(self.root_dir)
        except OSError:
            return False
        return stats.f_bavail * stats.f_frsize < max(needed, MiB)

    def _refuse_if_too_large(self, path: str, type: str | None) -> None:
        path = path.strip("/")
        os_path = self._get_os_path(path)
        if not os.path.isfile(os_path):
            return
        as_notebook = type == "notebook" or (type is None and path.endswith(".ipynb"))
        cap = self.max_notebook_bytes if as_notebook else self.max_file_bytes
        size = os.path.getsize(os_path)
        if size > cap:
            log_refusal(
                self.log,
                f"contents read of {size} bytes (cap {cap})",
                path,
                os.environ.get("JUPYTERHUB_USER"),
            )
            raise web.HTTPError(
                403,
                f"{path} is {size} bytes, over the {cap}-byte limit for "
                f"reading files here. {EXPORT_HINT}",
            )


def _is_disk_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def home_full_message() -> str:
    """What a researcher reads when the home folder is full (HTTP 507 Insufficient Storage)."""
    quota = os.environ.get("VCE_HOME_QUOTA") or "its size limit"
    return (
        f"Your home folder is full: it holds at most {quota} (the deployment's "
        "sandbox.home_quota setting). Delete files you no longer need - in a notebook, "
        "`!du -sh ~/* ~/.[!.]*` shows what takes the space - or ask an administrator to raise "
        "sandbox.home_quota."
    )
