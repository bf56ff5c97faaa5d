"""The real server in a background thread and the Chromium launch settings; shared by
the browser tests and bench/editor_bench.py."""
from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # a test pattern for a camera, allowed without a prompt (Webcam Capture)
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """create_app(...) served by aiohttp's AppRunner on its own event loop thread."""

    def __init__(self, base: Path, port: int = 0, registry=None, prepare=None, runners=None, **config) -> None:
        from server.app import create_app
        from server.config import ServerConfig

        self.port = port or free_port()
        self.app = create_app(ServerConfig(base_dir=base, port=self.port, **config), registry=registry, prepare=prepare,
                              runners=runners)
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, name="studio-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def start(self) -> "ServerThread":
        self.thread.start()
        assert self.started.wait(60), "server did not start"
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
