"""A Docker socket the test hub talks through, which a test can cut off and restore.

Why: the fault tests need the hub to lose its Docker engine and get it back. Restarting the
machine's real ``dockerd`` would also stop every container of a ``make run`` system sharing
the engine, so the test deployment's hub reaches the real engine through this relay
(``DOCKER_HOST=unix://<relay>``), and an outage is the relay refusing: every open connection
is dropped and each new one is closed at once, as while an engine restarts. The engine, the
containers and the hub stay real.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

ENGINE = "/var/run/docker.sock"


class DockerRelay:
    """Relay a unix socket at ``path`` to the Docker engine's socket, byte for byte."""

    def __init__(self, path: Path, engine: str = ENGINE) -> None:
        """Listen at ``path`` (replacing a stale socket) and relay to ``engine``."""
        self.path, self.engine = path, engine
        self.refused = 0
        """Connections refused while cut: proof that a client tried the engine meanwhile."""
        self._down = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        path.unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value that makes a Docker client use this relay."""
        return f"unix://{self.path}"

    def cut(self) -> None:
        """The engine goes away: drop every open connection and refuse new ones."""
        with self._lock:
            self._down, self.refused = True, 0
            doomed, self._open = self._open, set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        """The engine is back: relay new connections again."""
        with self._lock:
            self._down = False

    def close(self) -> None:
        """Stop listening and remove the socket."""
        self.cut()
        self._listener.close()
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                down = self._down
                self.refused += down
            if down:
                client.close()
                continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.engine)
            except OSError:
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        with self._lock:
            self._open -= {client, upstream}
        client.close()
        upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends (or either is cut), then end ``dst``'s side."""
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)
