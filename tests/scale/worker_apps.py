"""Handlers served by the worker tests (``fastws serve worker_apps:...`` from this directory)."""

from __future__ import annotations

import os

import fastws
from fastws.workers import WorkerApp


async def pid_echo(ws: fastws.WebSocket) -> None:
    """Answers every message with this worker's pid and the message."""
    async for message in ws:
        await ws.send(f"{os.getpid()}:{message}")


async def never_reads(ws: fastws.WebSocket) -> None:
    """Keeps the connection open without reading (its close must still come from the server)."""
    await ws.send(str(os.getpid()))
    await ws.wait_closed()


async def _refuse_without_token(ws: fastws.WebSocket, request: object) -> fastws.HTTPResponse | None:
    if "token=secret" not in getattr(request, "path", ""):
        return fastws.HTTPResponse(401, b"bad token\n")
    return None


started = []


async def _startup() -> None:
    started.append(os.getpid())


app = WorkerApp(
    handler=pid_echo,
    serve_options={"process_request": _refuse_without_token, "origins": ["http://good.example", None]},
    on_startup=_startup,
)

not_a_handler = 42


async def _no_backend() -> None:
    raise RuntimeError("backend unreachable")


failing_startup = WorkerApp(handler=pid_echo, on_startup=_no_backend)
