"""Helpers for tests/asgi: uvicorn serving an ASGI app with fastws's protocol, in this
process (``serving``) or as a real ``uvicorn`` command (``UvicornProcess``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

HERE = Path(__file__).resolve().parent
WS = "fastws.asgi:WebSocketProtocol"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: Any, **settings: Any) -> AsyncIterator[tuple[uvicorn.Server, str]]:
    """uvicorn in this loop on a free loopback port: ``(server, "ws://127.0.0.1:PORT")``."""
    port = free_port()
    settings = {"lifespan": "off", "log_level": "warning", "timeout_graceful_shutdown": 5, **settings}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, ws=WS, **settings)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield server, f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


class UvicornProcess:
    """``python -m uvicorn APP --ws fastws.asgi:WebSocketProtocol`` on a free loopback port."""

    def __init__(self, app: str, *args: str) -> None:
        self.port = free_port()
        self.cmd = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE), "--host", "127.0.0.1",
                    "--port", str(self.port), "--ws", WS, "--no-access-log", *args]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"fastws-uvicorn-{os.getpid()}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> UvicornProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({self.proc.returncode}):\n{self.output()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"uvicorn did not listen within 30 s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # graceful: open connections get 1012
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.log.unlink()
