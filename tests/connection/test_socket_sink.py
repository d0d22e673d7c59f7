"""The compiled build writes frames to a plain socket itself (``fastws._socket_sink``).

Once the opening handshake is done, a connection on a plain TCP or Unix transport of
asyncio or uvloop gets a ``SocketSink``: ``write()`` to the socket while the transport holds nothing
unsent, the transport for the rest. These tests check what that must never change:
every byte arrives, in order, through full socket buffers and stalls; a transport
closed behind the sink's back is never written past (its fd number may already belong
to another socket); TLS and the pure build keep the transport. Both event loops; the
pure build runs this file again through ``test_pure_core.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import tempfile
from typing import Any

import pytest

from fastws import connect, serve
from fastws._socket_sink import socket_sink

pytestmark = pytest.mark.timeout(60)

COUNT = 3000
SIZE = 1000  # x COUNT: 3 MB, far past the kernel buffers of a peer that stops reading


def direct(ws: Any) -> bool:
    return type(ws.sink).__name__ == "SocketSink"


def message(i: int) -> bytes:
    return struct.pack("!I", i) + bytes([i % 251]) * (SIZE - 4)


def test_plain_connections_write_to_the_socket(run, impl) -> None:
    """Compiled build: both sides of a ws:// connection write directly; pure: the transport."""

    async def main() -> None:
        sides: list[Any] = []

        async def handler(ws: Any) -> None:
            sides.append(ws)
            await ws.send(await ws.recv())

        async with await serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert direct(ws) is (impl == "c") and (ws.sink is ws.transport) is (impl != "c")
                await ws.send("hello")
                assert await ws.recv() == "hello"
        assert direct(sides[0]) is (impl == "c")
        if impl == "c":
            assert sides[0].sink.fd == -1  # closed through the sink: it forgot the fd

    run(main())


def test_unix_socket_connections_write_to_the_socket(run, impl) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ws.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            async def greet(ws: Any) -> None:
                await ws.send("hi")

            async with await serve(greet, sock=listener):
                client_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client_sock.connect(path)
                async with connect("ws://localhost/", sock=client_sock) as ws:
                    assert direct(ws) is (impl == "c")
                    assert await ws.recv() == "hi"

    run(main())


def test_order_kept_through_a_peer_that_stalls(run) -> None:
    """3 MB to a client that stops reading, then reads in bursts: direct sends, the
    transport's queue when the kernel is full, direct again once it drains — every
    message arrives once, in order, intact."""

    async def main() -> None:
        buffered: list[int] = []

        async def handler(ws: Any) -> None:
            # Small kernel buffers on both sides (the client reads nothing past max_queue
            # messages): the server's socket fills within a few dozen messages.
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            for i in range(COUNT):
                pending = ws.send(message(i))
                buffered.append(ws.transport.get_write_buffer_size())
                if i % 50 == 49:
                    await pending  # flow control, now and then: the queue grows and drains
            await ws.close()

        async with await serve(handler, "127.0.0.1", 0, write_limit=256 * 1024) as server:
            client_sock = socket.socket()
            client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            client_sock.connect(("127.0.0.1", server.port))
            client_sock.setblocking(False)
            async with connect(f"ws://127.0.0.1:{server.port}/", sock=client_sock, max_size=SIZE, max_queue=4) as ws:
                await asyncio.sleep(0.3)  # stall: the server fills both kernel buffers
                for i in range(COUNT):
                    assert await ws.recv() == message(i)
                    if i % 500 == 0:
                        await asyncio.sleep(0.05)
                with pytest.raises(Exception) as info:
                    await ws.recv()
                assert getattr(info.value, "code", None) == 1000
        assert max(buffered) > 0  # the transport's queue was used ...
        assert buffered[-1] == 0 or buffered.count(0) > 1  # ... and left again

    run(main())


def test_no_write_past_a_transport_closed_behind_the_sink(run, loop_name) -> None:
    """transport.abort() called directly (not through the sink), then a new socket that may
    reuse the fd number: a write through the old sink must not reach it."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        sink = socket_sink(transport)
        assert type(sink).__name__ == "SocketSink"
        old_fd = sink.fd
        transport.abort()
        await asyncio.sleep(0)  # asyncio closes the socket one callback later
        await asyncio.sleep(0)
        a, b = socket.socketpair()
        try:
            b.setblocking(False)
            # What the transport does with a write once closed is up to it (uvloop raises
            # RuntimeError, asyncio drops it): the sink passes it on, as without it.
            with contextlib.suppress(RuntimeError):
                sink.write(b"must not arrive")
            with contextlib.suppress(RuntimeError):
                sink.write(memoryview(b"nor this"))
            for peer in (a, b):
                peer.setblocking(False)
                with pytest.raises(BlockingIOError):
                    peer.recv(100)
            reused = old_fd in (a.fileno(), b.fileno())
            assert reused or loop_name == "asyncio"  # uvloop frees the fd at once: reused here
        finally:
            a.close()
            b.close()
            server.close()

    run(main())


def test_sink_close_and_abort_forget_the_fd(run) -> None:

    async def main() -> None:
        loop = asyncio.get_running_loop()
        received = bytearray()
        done = loop.create_future()

        class Collect(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                received.extend(data)

            def connection_lost(self, exc: Any) -> None:
                done.set_result(None)

        server = await loop.create_server(Collect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for how in ("close", "abort"):
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            sink = socket_sink(transport)
            sink.write(b"abc")
            sink.write(bytearray(b"def"))
            with pytest.raises(TypeError):
                sink.write("text is not bytes")
            getattr(sink, how)()
            assert sink.fd == -1 and transport.is_closing()
            await asyncio.wait_for(done, 5)
            assert bytes(received) == b"abcdef"
            received.clear()
            done = loop.create_future()
        server.close()

    run(main())


def test_other_transports_are_not_bypassed() -> None:
    """Only asyncio's and uvloop's plain stream transports are bypassed (TLS: test_tls.py)."""

    class Fake:
        def __init__(self, info: dict[str, Any]) -> None:
            self.info = info

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return self.info.get(name, default)

    plain = Fake({"socket": socket.socket()})
    try:
        assert socket_sink(plain) is plain
    finally:
        plain.info["socket"].close()
