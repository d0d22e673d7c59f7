"""fastws.asgi.WebSocketProtocol under a real uvicorn server (in this process, both loops):
what uvicorn's own suite cannot check for a class of another library (keepalive attributes),
ASGI messages an application gets wrong, and peers that flood or never read."""

from __future__ import annotations

import asyncio
import collections
import fcntl
import socket
import struct
import termios
from typing import Any

import pytest
from asgi_support import serving
from loops import run_on
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri
from websockets.exceptions import ConnectionClosed

from fastws.asgi import WebSocketProtocol

pytestmark = pytest.mark.timeout(60)
LOOPS = ["asyncio", "uvloop"]

Scope = dict[str, Any]


def unsent_bytes(transport: Any) -> int:
    """Bytes in the kernel's send queue of the transport's socket (SIOCOUTQ)."""
    return kernel_queue(transport.get_extra_info("socket").fileno(), termios.TIOCOUTQ)


def unread_bytes(sock: socket.socket) -> int:
    """Bytes in the kernel's receive queue of a socket (SIOCINQ)."""
    return kernel_queue(sock.fileno(), termios.FIONREAD)


def kernel_queue(fd: int, request: int) -> int:
    (size,) = struct.unpack("i", fcntl.ioctl(fd, request, b"\0\0\0\0"))
    return int(size)


def only_protocol(server: Any) -> WebSocketProtocol:
    (protocol,) = server.server_state.connections
    assert isinstance(protocol, WebSocketProtocol)
    return protocol


async def accept_and_wait(scope: Scope, receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@pytest.mark.parametrize("loop", LOOPS)
def test_keepalive_pings_and_a_live_peer_stays(loop: str) -> None:
    async def main() -> None:
        async with serving(accept_and_wait, ws_ping_interval=0.1, ws_ping_timeout=5.0) as (server, url):
            async with connect(url, ping_interval=None) as ws:
                protocol = only_protocol(server)
                assert protocol.ping_timer is not None
                while protocol.ping_sent_at == 0.0:
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)  # more pings, all answered by the client
                assert not protocol.transport.is_closing()
                await ws.send("still there")

    run_on(loop, main(), 20)


@pytest.mark.parametrize("loop", LOOPS)
def test_keepalive_off(loop: str) -> None:
    async def main() -> None:
        async with serving(accept_and_wait, ws_ping_interval=None) as (server, url):
            async with connect(url, ping_interval=None):
                await asyncio.sleep(0.2)
                protocol = only_protocol(server)
                assert protocol.ping_timer is None and protocol.ping_sent_at == 0.0

    run_on(loop, main(), 20)


BEFORE_ACCEPT = [
    ({}, TypeError),
    ({"type": "websocket.send", "text": "x"}, RuntimeError),
    ({"type": "websocket.accept", "subprotocol": "never-offered"}, ValueError),
    ({"type": "websocket.accept", "subprotocol": 1}, TypeError),
    ({"type": "websocket.accept", "headers": [(b"x-split", b"a\r\nb")]}, ValueError),
    ({"type": "websocket.accept", "headers": [("x-str", "y")]}, TypeError),
    ({"type": "websocket.accept", "headers": [(b"x-three", b"y", b"z")]}, TypeError),
]
AFTER_ACCEPT = [
    ({"type": "websocket.accept"}, RuntimeError),
    ({"type": "websocket.send"}, ValueError),
    ({"type": "websocket.send", "text": b"bytes as text"}, TypeError),
    ({"type": "websocket.send", "bytes": "text as bytes"}, TypeError),
    ({"type": "websocket.send", "bytes": b"x", "text": "x"}, ValueError),
    ({"type": "websocket.close", "code": 999}, ValueError),
    ({"type": "websocket.close", "code": "1000"}, TypeError),
    ({"type": "websocket.close", "reason": "x" * 124}, ValueError),
    ({"type": "websocket.http.response.start", "status": 403}, RuntimeError),
]


@pytest.mark.parametrize("loop", LOOPS)
def test_bad_messages_raise_precise_errors_and_change_nothing(loop: str) -> None:
    raised: list[tuple[dict[str, Any], type[BaseException] | None]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        for stage in (BEFORE_ACCEPT, None, AFTER_ACCEPT):
            if stage is None:
                await send({"type": "websocket.accept", "subprotocol": "chat"})
                continue
            for message, _ in stage:
                try:
                    await send(message)
                except Exception as exc:
                    raised.append((message, type(exc)))
                else:
                    raised.append((message, None))
        await send({"type": "websocket.send", "text": "still fine"})
        await send({"type": "websocket.close", "code": 4000, "reason": "bye"})

    async def main() -> None:
        async with serving(app) as (_, url):
            async with connect(url, subprotocols=["chat"]) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "chat"
                assert await ws.recv() == "still fine"
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "bye")

    run_on(loop, main(), 20)
    assert raised == [(message, error) for message, error in BEFORE_ACCEPT + AFTER_ACCEPT]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_flooding_peer_is_paused_while_the_app_is_behind(loop: str) -> None:
    count, size, max_queue = 2000, 16 * 1024, 8  # 32 MiB: more than loopback's socket buffers hold
    go = asyncio.Event()
    received: list[bytes] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await go.wait()  # behind: reads nothing for a while
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            received.append(message["bytes"])
            if len(received) == count:
                await send({"type": "websocket.send", "text": "done"})

    async def main() -> None:
        async with serving(app, ws_max_queue=max_queue, ws_per_message_deflate=False) as (server, url):
            async with connect(url, compression=None) as ws:
                protocol = only_protocol(server)

                async def send_all() -> None:
                    for i in range(count):
                        await ws.send(i.to_bytes(4, "big") * (size // 4))

                flood = asyncio.ensure_future(send_all())
                await asyncio.sleep(0.5)
                assert not flood.done(), (
                    "the server kept reading 32 MiB for an application that takes nothing"
                )
                assert not protocol.transport.is_reading()
                assert len(protocol.messages) <= max_queue
                go.set()
                await asyncio.wait_for(flood, 10)
                assert await asyncio.wait_for(ws.recv(), 10) == "done"
        assert [m[:4] for m in received] == [i.to_bytes(4, "big") for i in range(count)]

    run_on(loop, main(), 30)


@pytest.mark.parametrize("loop", LOOPS)
def test_sending_to_a_peer_that_never_reads_waits(loop: str) -> None:
    size, count = 256 * 1024, 200  # 50 MiB in all
    sent = 0

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal sent
        await receive()
        await send({"type": "websocket.accept"})
        for i in range(count):
            await send({"type": "websocket.send", "bytes": bytes([i % 256]) * size})
            sent += 1
        await receive()

    async def main() -> None:
        async with serving(app, ws_per_message_deflate=False) as (server, url):
            # websockets' sans-IO client on a socket this test reads itself, so that
            # nothing is read past the handshake until the test says so.
            peer = SansIOClient(url)
            await peer.handshake()
            await asyncio.sleep(0.5)
            protocol = only_protocol(server)
            stalled_at = sent
            await asyncio.sleep(0.3)
            assert sent == stalled_at < count, "send() did not wait for a peer that reads nothing"
            # The transport holds at most its high-water mark (64 KiB) plus one message.
            buffered = protocol.transport.get_write_buffer_size()
            assert buffered <= 64 * 1024 + size + 16
            # Everything else sent is in the kernel (the server's send queue, the client's
            # receive queue: their sizes are the kernel's, autotuned) or was read with the
            # handshake's answer.
            held = unsent_bytes(protocol.transport) + unread_bytes(peer.sock) + buffered + peer.read_early
            assert sent * (size + 10) <= held, (sent, held)
            for i in range(count):
                assert await asyncio.wait_for(peer.recv(), 10) == bytes([i % 256]) * size
            peer.close()
        assert sent == count

    run_on(loop, main(), 40)


class SansIOClient:
    """websockets' ``ClientProtocol`` on a plain non-blocking socket."""

    def __init__(self, url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.port = parse_uri(url).port
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.read_early = 0  # bytes read with the handshake's answer, past it
        self.messages: collections.deque[bytes] = collections.deque()

    async def handshake(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, ("127.0.0.1", self.port))
        self.protocol.send_request(self.protocol.connect())
        await self.flush()
        while self.protocol.handshake_exc is None and self.protocol.state is not State.OPEN:
            data = await loop.sock_recv(self.sock, 4096)
            assert data, "connection closed during the handshake"
            self.protocol.receive_data(data)
            self.read_early = len(data) - data.find(b"\r\n\r\n") - 4
        assert self.protocol.handshake_exc is None
        self.events()

    async def recv(self) -> bytes:
        loop = asyncio.get_running_loop()
        while not self.messages:
            data = await loop.sock_recv(self.sock, 1 << 20)
            assert data, "connection closed"
            self.protocol.receive_data(data)
            self.events()
        return self.messages.popleft()

    def events(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                assert event.fin
                self.messages.append(event.data)

    async def flush(self) -> None:
        for data in self.protocol.data_to_send():
            await asyncio.get_running_loop().sock_sendall(self.sock, data)

    def close(self) -> None:
        self.sock.close()
