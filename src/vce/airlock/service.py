"""Starting the service: database, worker (resuming unfinished work), Tornado app."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from urllib.parse import urlparse

from tornado.httpserver import HTTPServer

from vce.airlock.app import make_app
from vce.airlock.config import Settings
from vce.airlock.worker import Worker
from vce.airlock.workflow import Airlock

log = logging.getLogger("vce.airlock")


def bind_address(ip: str | None, port: int | None) -> tuple[str, int]:
    """Where to listen: explicit values, else JupyterHub's ``JUPYTERHUB_SERVICE_URL``.

    >>> os.environ.pop("JUPYTERHUB_SERVICE_URL", None) and None
    >>> bind_address(None, None)
    ('127.0.0.1', 10101)
    """
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    return ip or url.hostname or "127.0.0.1", port or url.port or 10101


async def _serve(settings: Settings, ip: str, port: int) -> None:
    airlock = Airlock(settings)
    worker = Worker(airlock)
    worker.start()
    app = make_app(airlock, worker)
    # xheaders off: a client must not choose its own address (the download guard reads it);
    # only a configured proxy's X-Forwarded-For counts (vce.clientaddr).
    server = HTTPServer(app, xheaders=False, max_body_size=32 * 1024 * 1024)
    server.listen(port, ip)
    log.info("airlock listening on http://%s:%s%s", ip, port, app.settings["prefix"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    worker.stop()


def serve(ip: str | None = None, port: int | None = None) -> None:
    """Run until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    host, p = bind_address(ip, port)
    asyncio.run(_serve(settings, host, p))
