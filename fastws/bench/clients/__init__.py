"""The load clients: name -> how to run it (module and coroutine function)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Awaitable, Callable


@dataclass(frozen=True)
class ClientSpec:
    name: str  # what --clients takes
    label: str  # table row
    module: str
    function: str  # ``async def function(command: dict) -> dict``
    protocol: str  # "ws" or "tcp"
    distribution: str
    description: str

    def load(self) -> Callable[[dict], Awaitable[dict[str, Any]]]:
        return getattr(importlib.import_module(self.module), self.function)


_PKG = __name__

CLIENTS: dict[str, ClientSpec] = {
    spec.name: spec
    for spec in (
        ClientSpec(
            "raw-tcp",
            "raw TCP",
            f"{_PKG}.tcp_raw",
            "run",
            "tcp",
            "uvloop",
            "asyncio.Protocol on uvloop, counts bytes (drives the raw TCP floor)",
        ),
        ClientSpec(
            "fastws",
            "fastws callback",
            f"{_PKG}.fastws_clients",
            "run_callback",
            "ws",
            "fastws",
            "fastws Listener.on_message -> ws.send (the load client for every WebSocket server)",
        ),
        ClientSpec(
            "raw-tcp-pipe",
            "raw TCP, pipelined",
            f"{_PKG}.tcp_raw",
            "run_pipelined",
            "tcp",
            "uvloop",
            "the raw TCP client with a window of N messages in flight (floor of the pipelined table)",
        ),
        ClientSpec(
            "fastws-pipe",
            "fastws callback, pipelined",
            f"{_PKG}.fastws_clients",
            "run_pipelined",
            "ws",
            "fastws",
            "fastws callback client, a window of N messages in flight on one connection (--window)",
        ),
        ClientSpec(
            "fastws-conns",
            "fastws callback, many connections",
            f"{_PKG}.fastws_clients",
            "run_connections",
            "ws",
            "fastws",
            "fastws callback client, N connections with one message in flight each (--connections)",
        ),
        ClientSpec(
            "fastws-await",
            "fastws awaitable",
            f"{_PKG}.fastws_clients",
            "run_await",
            "ws",
            "fastws",
            "fastws await ws.send / await ws.recv",
        ),
        ClientSpec(
            "picows",
            "picows",
            f"{_PKG}.picows_client",
            "run",
            "ws",
            "picows",
            "picows WSListener.on_ws_frame -> transport.send (uvloop transport)",
        ),
        ClientSpec(
            "websockets",
            "websockets",
            f"{_PKG}.websockets_client",
            "run",
            "ws",
            "websockets",
            "websockets.asyncio.client await send / recv",
        ),
        ClientSpec(
            "aiohttp",
            "aiohttp",
            f"{_PKG}.aiohttp_client",
            "run",
            "ws",
            "aiohttp",
            "aiohttp ws_connect send_bytes / receive",
        ),
        # permessage-deflate mode (``--compression``): text JSON documents, compression on.
        ClientSpec(
            "fastws-deflate",
            "fastws callback",
            f"{_PKG}.deflate_clients",
            "run_fastws",
            "ws",
            "fastws",
            "fastws callback client, permessage-deflate (level 1, memLevel 5, 12-bit windows), JSON text",
        ),
        ClientSpec(
            "fastws-deflate-pipe",
            "fastws callback, pipelined",
            f"{_PKG}.deflate_clients",
            "run_fastws_pipelined",
            "ws",
            "fastws",
            "the same with a window of N messages in flight (--window)",
        ),
        ClientSpec(
            "websockets-deflate",
            "websockets",
            f"{_PKG}.deflate_clients",
            "run_websockets",
            "ws",
            "websockets",
            "websockets client, permessage-deflate with the same settings, JSON text (cross-check)",
        ),
    )
}

DEFAULT_CLIENTS = ("fastws", "fastws-await", "picows", "websockets", "aiohttp")
LOAD_CLIENT = {"ws": "fastws", "tcp": "raw-tcp"}  # who drives each kind of server in the server table
PIPE_CLIENT = {"ws": "fastws-pipe", "tcp": "raw-tcp-pipe"}  # ... in the pipelined table
CONNECTIONS_CLIENT = "fastws-conns"
XCHECK_CLIENT = "picows"  # the second load client: drives every server once more, for a cross-check
REFERENCE_CLIENT = "fastws"
