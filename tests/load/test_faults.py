"""Fault injection: peers that reset mid-frame, mid-handshake and mid-close, a TLS peer that
sends garbage, and an event loop stopped with connections open.

A real server on a free loopback port, raw sockets for the faulty peer (an RST is a close
with SO_LINGER 0). Each test checks that nothing hangs (every wait is bounded), nothing
leaks (no connection left in ``server.connections``, no task left running) and that each
close is reported with the right code.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench.load import frame, upgrade_request
from fastws import ConnectionClosedError, Listener, connect, serve

pytestmark = [pytest.mark.load, pytest.mark.timeout(60)]

HOST = "127.0.0.1"


class Closes(Listener):
    """Records every close the server reports: (code, reason)."""

    seen: list[tuple[int, str]]

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        type(self).seen.append((code, reason))


def closes_listener() -> type[Closes]:
    return type("Recorded", (Closes,), {"seen": []})


async def raw_socket(port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, (HOST, port))
    return sock


async def handshake(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    request, accept = upgrade_request()
    await loop.sock_sendall(sock, request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101") and accept in head


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER on, zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def until_empty(server: Any, timeout: float = 5.0) -> None:
    """No connection left on the server (bounded wait)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while server.connections:
        assert asyncio.get_running_loop().time() < deadline, f"connections left: {server.connections}"
        await asyncio.sleep(0.01)


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks still running besides this test's own (and run_on's wait_for around it)."""
    mine = {asyncio.current_task(), *_outer}
    return {t for t in asyncio.all_tasks() if t not in mine and not t.done()}


_outer: set[asyncio.Task[Any]] = set()


def _mark_outer() -> None:
    _outer.clear()
    _outer.update(asyncio.all_tasks())


@pytest.mark.parametrize("cut", [1, 2, 6, 10, 500])
def test_reset_mid_frame_reports_1006(run, cut: int) -> None:
    """The peer resets after ``cut`` bytes of a 1000-byte frame: 1006 on both APIs, nothing left."""

    async def main() -> None:
        _mark_outer()
        listener = closes_listener()
        results: list[Any] = []

        async def handler(ws: Any) -> None:
            try:
                await ws.recv()
            except ConnectionClosedError as exc:
                results.append(exc.code)

        async with serve(listener, HOST, 0, compression=None) as by_listener, \
                serve(handler, HOST, 0, compression=None) as by_handler:  # fmt: skip
            for server in (by_listener, by_handler):
                sock = await raw_socket(server.port)
                await handshake(sock)
                await asyncio.get_running_loop().sock_sendall(sock, frame(0x2, bytes(1000))[:cut])
                await asyncio.sleep(0.05)
                reset(sock)
                await until_empty(server)
            await asyncio.sleep(0.05)
            assert listener.seen == [(1006, "")]
            assert results == [1006]
            assert not other_tasks()

    run(main())


@pytest.mark.parametrize("cut", [0, 1, 30, -4, -1])
def test_reset_mid_handshake_leaves_nothing(run, cut: int) -> None:
    """The peer resets partway through its upgrade request: no handler, no listener, no connection."""

    async def main() -> None:
        _mark_outer()
        listener = closes_listener()
        called = []

        async def handler(ws: Any) -> None:
            called.append(ws)

        request, _ = upgrade_request()
        async with serve(listener, HOST, 0) as by_listener, serve(handler, HOST, 0) as by_handler:
            for server in (by_listener, by_handler):
                sock = await raw_socket(server.port)
                if cut:
                    await asyncio.get_running_loop().sock_sendall(sock, request[:cut])
                await asyncio.sleep(0.05)
                assert len(server.connections) == 1
                reset(sock)
                await until_empty(server)
            assert listener.seen == [] and called == [] and not other_tasks()

    run(main())


def test_reset_after_the_close_frames_reports_their_code(run) -> None:
    """Close frames exchanged, then an RST instead of a TCP close: the code is the peer's (1000)."""

    async def main() -> None:
        _mark_outer()
        listener = closes_listener()
        async with serve(listener, HOST, 0, compression=None) as server:
            loop = asyncio.get_running_loop()
            sock = await raw_socket(server.port)
            await handshake(sock)
            await loop.sock_sendall(sock, frame(0x8, struct.pack("!H", 1000) + b"bye"))
            answer = await asyncio.wait_for(loop.sock_recv(sock, 100), 5)
            assert answer[:4] == b"\x88\x02\x03\xe8"  # the server's close frame, echoing 1000
            reset(sock)
            await until_empty(server)
            assert listener.seen == [(1000, "bye")]

    run(main())


def test_reset_instead_of_answering_our_close_reports_1006_at_once(run) -> None:
    """The server closes; the peer resets rather than answer: 1006 now, not after close_timeout."""

    async def main() -> None:
        _mark_outer()
        opened: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        codes: list[int] = []

        async def handler(ws: Any) -> None:
            opened.set_result(ws)
            await ws.wait_closed()
            codes.append(ws.close_code)

        async with serve(handler, HOST, 0, compression=None, close_timeout=30) as server:
            loop = asyncio.get_running_loop()
            sock = await raw_socket(server.port)
            await handshake(sock)
            ws = await asyncio.wait_for(opened, 5)
            started = loop.time()
            ws.close(1000, "done")
            assert (await asyncio.wait_for(loop.sock_recv(sock, 100), 5))[:2] == b"\x88\x06"
            reset(sock)
            await until_empty(server)
            assert loop.time() - started < 5  # well under close_timeout
            await asyncio.sleep(0.05)
            assert codes == [1006] and not other_tasks()

    run(main())


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """The TLS tests' self-signed certificate (tests/connection/test_tls.py)."""
    path = Path(__file__).parent.parent / "connection" / "test_tls.py"
    spec = importlib.util.spec_from_file_location("_tls_certificates", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_certificate(tmp_path, ["127.0.0.1"])  # type: ignore[no-any-return]


@pytest.mark.parametrize("garbage", ["instead-of-hello", "after-hello"])
def test_tls_peer_sending_garbage_is_dropped_and_others_served(run, tmp_path: Path, garbage: str) -> None:
    cert, key = _certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))

    async def main() -> None:
        _mark_outer()
        listener = closes_listener()

        async def echo(ws: Any) -> None:
            async for message in ws:
                await ws.send(message)

        async with serve(echo, HOST, 0, ssl=server_context) as server:
            loop = asyncio.get_running_loop()
            bad = []
            for _ in range(5):
                sock = await raw_socket(server.port)
                if garbage == "after-hello":
                    # A real ClientHello's first record, then noise where the handshake goes on.
                    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                    tls = client_context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
                    try:
                        tls.do_handshake()
                    except ssl.SSLWantReadError:
                        pass
                    await loop.sock_sendall(sock, outgoing.read())
                    await asyncio.sleep(0.01)
                await loop.sock_sendall(sock, os.urandom(4096))
                bad.append(sock)
            for sock in bad:  # each is dropped: EOF or reset, promptly
                try:
                    while await asyncio.wait_for(loop.sock_recv(sock, 65536), 5):
                        pass
                except ConnectionResetError:
                    pass
                sock.close()
            await until_empty(server)
            async with connect(f"wss://127.0.0.1:{server.port}", ssl=client_context) as ws:
                await ws.send("still serving")
                assert await asyncio.wait_for(ws.recv(), 5) == "still serving"
            assert listener.seen == []

    run(main())


LOOP_STOPPED = textwrap.dedent(
    """
    import asyncio, sys
    from fastws import connect, serve
    from fastws.runner import new_event_loop

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        server = await serve(echo, "127.0.0.1", 0)
        clients = [await connect(f"ws://127.0.0.1:{server.port}") for _ in range(20)]
        for ws in clients:
            await ws.send("x")
            assert await ws.recv() == "x"
        print(len(server.connections), flush=True)
        # Return with 20 connections open on each side, handler tasks waiting, keepalive timers set.

    loop = new_event_loop(sys.argv[1])
    try:
        loop.run_until_complete(main())
        if sys.argv[2] == "stop":
            loop.call_later(0.05, loop.stop)
            loop.run_forever()
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    print("closed", flush=True)
    """
)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("how", ["return", "stop"])
def test_event_loop_stopped_with_connections_open(loop: str, how: str) -> None:
    """A program that ends its loop with connections open exits at once, without errors.

    (Python's dev mode still warns of the server and transports it never closed: its own doing.)
    """
    out = subprocess.run(
        [sys.executable, "-X", "dev", "-c", LOOP_STOPPED, loop, how],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["20", "closed"]
    for sign in ("Traceback", "Exception", "was destroyed but it is pending", "Error"):
        assert sign not in out.stderr, out.stderr
