"""Caps on what the kernel sends to the browser over the kernel websocket.

Jupyter's own output rate limit counts only ``stream`` messages on iopub and resets whenever
the kernel goes idle; replies on the shell channel are not limited at all. An execute request
can ask the kernel to evaluate ``user_expressions`` and put the results in its
``execute_reply``: a notebook moved 28 MB/s that way. This connection class, which the
hardening config installs as ``ServerApp.kernel_websocket_connection_class``, adds:

- ``user_expressions`` in an ``execute_reply``: at most 16 KiB in all (JupyterLab itself never
  asks for them); larger results are replaced by an error entry;
- every message from the kernel: at most 8 MiB (a plot or a table is far smaller);
- per server start, a byte budget for replies (shell, control, stdin: 16 MiB) and one for
  iopub output (1 GiB); once spent, only small messages pass (4 KiB replies, 64 KiB output),
  so a notebook keeps running but bulk stops.

Every refusal and the first hit of each budget is recorded (:func:`.refusal.log_refusal`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from traitlets import Int

from vce.sandbox.hardening.budget import ByteBudget, KiB, MiB, budget
from vce.sandbox.hardening.refusal import EXPORT_HINT, log_refusal

REPLY_CHANNELS = frozenset({"shell", "control", "stdin"})


class GuardedKernelWebsocketConnection(ZMQChannelsWebsocketConnection):
    """The standard kernel websocket with caps and budgets on kernel-to-browser bytes."""

    max_user_expressions_bytes = Int(16 * KiB, config=True, help="Cap on user_expressions.")
    max_message_bytes = Int(8 * MiB, config=True, help="Cap on one message from the kernel.")
    reply_budget_bytes = Int(16 * MiB, config=True, help="Reply bytes per server start.")
    output_budget_bytes = Int(1024 * MiB, config=True, help="iopub bytes per server start.")
    small_reply_bytes = Int(4 * KiB, config=True, help="Replies passing a spent budget.")
    small_output_bytes = Int(64 * KiB, config=True, help="Output passing a spent budget.")

    def _budget(self, channel: str) -> ByteBudget:
        if channel in REPLY_CHANNELS:
            return budget("kernel replies", self.reply_budget_bytes, self.small_reply_bytes)
        return budget("kernel output", self.output_budget_bytes, self.small_output_bytes)

    def _refuse(self, what: str, size: int, parent: dict[str, Any]) -> None:
        log_refusal(
            self.log, what, f"kernel {self.kernel_id}", os.environ.get("JUPYTERHUB_USER"), size
        )
        self.write_stderr(f"VCE: {what} ({size} bytes) was not sent. {EXPORT_HINT}", parent)

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Check sizes and budgets, trim ``user_expressions``, then hand on as usual."""
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", None)
        channel = channel or "iopub"
        idents, fed = self.session.feed_identities(outgoing_msg)
        size = sum(len(part) for part in fed[1:])
        header = self.session.unpack(fed[1]) if len(fed) > 1 else {}
        msg_type = header.get("msg_type", "")
        parent = self.session.unpack(fed[2]) if len(fed) > 2 else {}
        if channel == "shell" and msg_type == "execute_reply":
            outgoing_msg, size = self._trim_user_expressions(idents, fed, size, parent)
        if size > self.max_message_bytes:
            self._refuse(
                f"kernel {msg_type} over the {self.max_message_bytes}-byte cap", size, parent
            )
            if channel in REPLY_CHANNELS:
                outgoing_msg = self._replaced_reply(idents, fed)
            else:
                return
        spent = self._budget(channel)
        if not spent.take(size):
            if spent.first_exhaustion():
                self._refuse(f"{spent.name} budget of {spent.limit} bytes spent", size, parent)
            else:
                self.write_stderr(
                    f"VCE: {spent.name} budget spent; large messages refused.", parent
                )
            if channel in REPLY_CHANNELS:
                outgoing_msg = self._replaced_reply(idents, fed)
            else:
                return
        super().handle_outgoing_message(stream, outgoing_msg)

    def _trim_user_expressions(
        self, idents: list[bytes], fed: list[bytes], size: int, parent: dict[str, Any]
    ) -> tuple[list[Any], int]:
        content = self.session.unpack(fed[4])
        expressions = content.get("user_expressions") or {}
        encoded = len(json.dumps(expressions, default=str))
        if encoded <= self.max_user_expressions_bytes:
            return [*idents, b"<IDS|MSG>", *fed], size
        self._refuse(
            f"user_expressions over the {self.max_user_expressions_bytes}-byte cap", encoded, parent
        )
        content["user_expressions"] = {
            name: {
                "status": "error",
                "ename": "VCERefused",
                "evalue": "user_expressions larger than the sandbox allows",
                "traceback": [],
            }
            for name in expressions
        }
        rebuilt = self._resigned(idents, fed, content)
        return rebuilt, sum(len(p) for p in self.session.feed_identities(rebuilt)[1][1:])

    def _replaced_reply(self, idents: list[bytes], fed: list[bytes]) -> list[Any]:
        content = {
            "status": "error",
            "ename": "VCERefused",
            "evalue": "reply larger than the sandbox allows",
            "traceback": [],
        }
        return self._resigned(idents, fed, content, keep_buffers=False)

    def _resigned(
        self,
        idents: list[bytes],
        fed: list[bytes],
        content: dict[str, Any],
        keep_buffers: bool = True,
    ) -> list[Any]:
        """The message with new content, signed again so the normal path accepts it."""
        parts = [fed[1], fed[2], fed[3], self.session.pack(content)]
        buffers = list(fed[5:]) if keep_buffers else []
        return [*idents, b"<IDS|MSG>", self.session.sign(parts), *parts, *buffers]
