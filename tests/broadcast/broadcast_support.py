"""Helpers for the broadcast network tests: a server that keeps its open connections, fastws
clients that collect what they receive, and raw subscribers that never read."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from typing import Any, AsyncIterator

import fastws

HOST = "127.0.0.1"


class Hub(fastws.Listener):
    """Server listener: every open connection is in ``Hub.open`` (a fresh set per server)."""

    open: set[fastws.WebSocket]
    sndbuf = 0  # when set: the kernel's send buffer of each connection (no autotuning to MiBs)

    def on_open(self, ws: fastws.WebSocket) -> None:
        if self.sndbuf:
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        self.open.add(ws)

    def on_close(self, ws: fastws.WebSocket, code: int, reason: str) -> None:
        self.open.discard(ws)


def hub_class(sndbuf: int = 0) -> type[Hub]:
    return type("TestHub", (Hub,), {"open": set(), "sndbuf": sndbuf})


class Collector(fastws.Listener):
    """Client listener: the messages received, in order."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    def on_message(self, ws: fastws.WebSocket, message: Any) -> None:
        self.got.append(message)


async def collectors(port: int, count: int, batch: int = 100, **kwargs: Any) -> list[fastws.WebSocket]:
    """``count`` fastws clients with a :class:`Collector` each, connected ``batch`` at a time."""
    kwargs.setdefault("ping_interval", None)
    clients: list[fastws.WebSocket] = []
    for start in range(0, count, batch):
        clients += await asyncio.gather(
            *(
                fastws.connect(f"ws://{HOST}:{port}/", listener=Collector, proxy=None, **kwargs)
                for _ in range(start, min(count, start + batch))
            )
        )
    return clients


def got(client: fastws.WebSocket) -> list[Any]:
    return client.listener.got  # type: ignore[no-any-return]


async def raw_subscriber(port: int, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, (HOST, port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: nothing after the response is read
        byte = await loop.sock_recv(sock, 1)
        assert byte, f"the server closed during the handshake: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def server_side(hub: type[Hub], sock: socket.socket) -> fastws.WebSocket:
    """The server's connection for a raw subscriber's socket."""
    name = sock.getsockname()
    [ws] = [ws for ws in hub.open if tuple(ws.remote_address[:2]) == tuple(name[:2])]
    return ws


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def one_connection() -> AsyncIterator[tuple[fastws.WebSocket, fastws.WebSocket]]:
    """A server with one open connection: (its server side, the collecting client)."""
    hub = hub_class()
    async with fastws.serve(hub, HOST, 0, ping_interval=None) as server:
        [client] = await collectors(server.port, 1)
        await wait_for(lambda: len(hub.open) == 1, 5, "the connection")
        [ws] = hub.open
        yield ws, client
