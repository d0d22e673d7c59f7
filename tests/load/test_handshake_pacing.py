"""Pacing of opening handshakes while connections are failing in numbers (fastws.admission).

A real server on each loop; the flood is ``ARM_FAILURES`` malformed requests (or
connections failed with 1009), then good clients must still get their 101 in turn,
and the open connections must still be served.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Callable

import pytest

from bench import load
from fastws import Listener, admission, serve

pytestmark = [pytest.mark.load, pytest.mark.timeout(60)]

HOST = "127.0.0.1"


class Echo(Listener):
    def on_message(self, ws: Any, message: Any) -> None:
        ws.send(message)


async def refused(port: int) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(load.MALFORMED)
    answer = await asyncio.wait_for(reader.read(12), 5)
    writer.close()
    return answer


async def flood(port: int, n: int = admission.ARM_FAILURES) -> None:
    for _ in range(n):
        assert await refused(port) == b"HTTP/1.1 400"


async def until(condition: Callable[[], object], seconds: float = 1.0) -> None:
    """Poll ``condition`` every 5 ms until it holds or ``seconds`` pass (the caller asserts)."""
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)


async def echo_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(load.frame(0x2, payload))
    assert await asyncio.wait_for(load.read_frame(reader), 5) == (0x82, payload)


async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(load.frame(0x8, struct.pack("!H", 1000)))
    assert await load.expect_close(reader) == 1000
    writer.close()


def test_no_pacing_without_failures(run) -> None:
    """A burst of good clients is never paced, however tight the share."""

    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=0.0001) as server:
            clients = await asyncio.gather(*(load.ws_open(server.port) for _ in range(60)))
            assert server.gate is not None and not server.gate.armed and not server.gate.waiting
            for reader, writer in clients:
                await echo_once(reader, writer, b"hi")
                await close(reader, writer)

    run(main())


def test_a_flood_of_refusals_paces_new_handshakes_in_turn(run) -> None:
    """Once armed, with a tiny share, new clients wait (reading paused) and then get their
    101 one after the other; the open connection is served meanwhile; refusals still get
    their 400."""

    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=0.002) as server:
            gate = server.gate
            assert gate is not None
            reader, writer = await load.ws_open(server.port)  # open before the flood
            await flood(server.port)
            assert gate.armed
            gate.tokens = 0.0  # the flood's burst is spent: from here each handshake pays its time
            opening = [asyncio.ensure_future(load.ws_open(server.port)) for _ in range(4)]
            await until(lambda: gate.waiting)  # some wait for their turn
            assert gate.waiting, "no handshake was paced"
            await echo_once(reader, writer, b"still served")
            clients = await asyncio.wait_for(asyncio.gather(*opening), 20)
            for r, w in clients:
                await echo_once(r, w, b"after my turn")
                await close(r, w)
            assert await refused(server.port) == b"HTTP/1.1 400"
            await close(reader, writer)

    run(main())


def test_pacing_ends_when_the_failures_stop(run) -> None:
    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=0.002) as server:
            gate = server.gate
            assert gate is not None
            await flood(server.port)
            assert gate.armed
            await asyncio.sleep(admission.ARM_WINDOW + 0.1)
            assert not gate.armed
            clients = await asyncio.gather(*(load.ws_open(server.port) for _ in range(10)))
            assert not gate.waiting
            for r, w in clients:
                await close(r, w)

    run(main())


def test_connections_failed_by_the_server_arm_the_pacing(run) -> None:
    """Frames announcing 2^63 bytes (a full handshake, then close 1009) count as failures."""

    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=0.002) as server:
            gate = server.gate
            assert gate is not None
            for _ in range(admission.ARM_FAILURES):
                reader, writer = await load.ws_open(server.port, timeout=20)
                writer.write(load.frame(0x2, b"x", length=(1 << 63) - 1))
                assert await load.expect_close(reader) == 1009
                writer.close()
                await writer.wait_closed()
            await until(lambda: gate.armed)  # the last connection_lost may come a moment later
            assert gate.armed

    run(main())


def test_a_pipelined_client_waiting_for_its_turn_keeps_its_frames(run) -> None:
    """The request and a frame in one write, held while paced: the echo still comes back."""

    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=0.002) as server:
            await flood(server.port)
            server.gate.tokens = -0.01  # type: ignore[union-attr]  # the bucket is empty: the next one waits
            request, accept = load.upgrade_request()
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(request + load.frame(0x2, b"pipelined"))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            assert head.startswith(b"HTTP/1.1 101") and accept in head
            assert await asyncio.wait_for(load.read_frame(reader), 5) == (0x82, b"pipelined")
            await close(reader, writer)

    run(main())


def test_clients_leaving_while_waiting_and_shutdown_leave_nothing(run) -> None:
    """Clients that give up while paced, then the server closed with others still waiting:
    wait_closed() returns, no connection or timer is left."""

    async def main() -> None:
        server = await serve(Echo, HOST, 0, handshake_share=0.001, open_timeout=5)
        gate = server.gate
        assert gate is not None
        await flood(server.port)
        gate.tokens = -0.05  # 50 s of pacing at this share: nobody gets a turn before the end
        request, _ = load.upgrade_request()
        leaving = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(request)
            leaving.append(writer)
        await until(lambda: len(gate.waiting) == 3)
        assert len(gate.waiting) == 3
        for writer in leaving:
            writer.transport.abort()  # type: ignore[attr-defined]
        await until(lambda: not server.connections)
        assert not server.connections
        staying = [await asyncio.open_connection(HOST, server.port) for _ in range(2)]
        for _, writer in staying:
            writer.write(request)
        await until(lambda: len(gate.waiting) == 5)
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)
        assert not server.connections and not gate.waiting and gate._timer is None
        for reader, writer in staying:
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no 101
            writer.close()

    run(main())


@pytest.mark.parametrize("share", [0, -0.1, 1.5, True, "0.1"])
def test_handshake_share_is_checked(share: Any) -> None:
    with pytest.raises(ValueError, match="handshake_share"):
        serve(Echo, HOST, 0, handshake_share=share)


def test_no_gate_with_handshake_share_none(run) -> None:
    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=None) as server:
            await flood(server.port)
            assert server.gate is None
            reader, writer = await load.ws_open(server.port)
            await close(reader, writer)

    run(main())


def test_a_paced_client_sending_past_max_head_size_is_refused_at_once(run) -> None:
    """What a waiting client sends is held up to max_head_size only: then 431, no turn needed."""

    async def main() -> None:
        async with serve(Echo, HOST, 0, handshake_share=0.001, max_head_size=4096) as server:
            gate = server.gate
            assert gate is not None
            await flood(server.port)
            gate.tokens = -0.05  # nobody's turn comes within this test
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            await until(lambda: gate.waiting)
            assert gate.waiting
            writer.write(b"X-Big: " + b"a" * 8192 + b"\r\n")
            assert (await asyncio.wait_for(reader.read(12), 5)) == b"HTTP/1.1 431"
            writer.close()

    run(main())
