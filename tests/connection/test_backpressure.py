"""Flow control: memory stays bounded whichever side is slow.

The large transfers run the server in a subprocess (backpressure_peer.py) so
that its resident memory can be read from /proc/<pid>/status without the test
process's own allocations in the way; the client runs in the test process.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Optional

import pytest

from fastws import connect, serve
from fastws.exceptions import ConnectionClosedError

PEER = Path(__file__).with_name("backpressure_peer.py")
MiB = 1 << 20
TOTAL = 200 * MiB  # compression is off throughout: these tests measure flow control on raw frames
MESSAGE = 64 * 1024
BOUND = 64 * MiB  # allowed RSS growth while 200 MiB go through

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def memory_kib(pid: str = "self") -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(value.split()[0])
    return values["VmRSS"], values["VmHWM"]


def rss(pid: str = "self") -> int:
    return memory_kib(pid)[0] * 1024


class Peer:
    """The subprocess server and its stdin/stdout command channel."""

    def __init__(self, mode: str, loop_name: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(PEER),
                mode,
                "--loop",
                loop_name,
                "--total",
                str(TOTAL),
                "--size",
                str(MESSAGE),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.pid = str(self.proc.pid)

    async def readline(self) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)
        if not line:
            raise RuntimeError(f"peer exited with {self.proc.poll()}")
        return line.strip()

    async def port(self) -> int:
        line = await self.readline()
        assert line.startswith("PORT "), line
        return int(line.split()[1])

    def command(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    async def progress(self) -> int:
        self.command("progress")
        line = await self.readline()
        assert line.startswith("PROGRESS "), line
        return int(line.split()[1])

    def stop(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


async def still_pending(aw: Awaitable[Any], timeout: float) -> Optional[asyncio.Future[None]]:
    """Await what send() returned for up to ``timeout``: None if it completed, else a task
    still awaiting it (to be awaited later)."""

    async def wait() -> None:
        await aw

    task = asyncio.ensure_future(wait())
    done, _ = await asyncio.wait({task}, timeout=timeout)
    return None if done else task


@pytest.mark.timeout(30)
def test_slow_reader_server_blocks_sender_and_bounds_memory(run, loop_name: str) -> None:
    """The server's handler does not read: the client's send() must block, the server must not buffer."""
    peer = Peer("slowread", loop_name)

    async def main() -> None:
        port = await peer.port()
        server_base = rss(peer.pid)
        client_base = rss()
        server_peak, client_peak = server_base, client_base
        payload = os.urandom(MESSAGE)
        async with connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            sent = 0
            # Phase 1: the server does not read; send until send() makes us wait.
            while True:
                assert sent < TOTAL, (
                    f"send() never blocked: {sent // MiB} MiB sent to a server that reads nothing "
                    f"(server RSS grew by {(rss(peer.pid) - server_base) // MiB} MiB)"
                )
                aw = ws.send(payload)
                sent += MESSAGE
                if sent % (8 * MiB) == 0:
                    server_peak = max(server_peak, rss(peer.pid))
                    client_peak = max(client_peak, rss())
                pending = await still_pending(aw, 0.3)
                if pending is not None:
                    break
            stalled_at = sent
            await asyncio.sleep(0.2)
            assert not pending.done(), "send() must keep waiting while the server does not read"
            server_stalled = rss(peer.pid)
            server_peak = max(server_peak, server_stalled)
            # Phase 2: the server reads; the pending send completes and the rest goes through.
            peer.command("go")
            await asyncio.wait_for(pending, 10)
            while sent < TOTAL:
                await ws.send(payload)
                sent += MESSAGE
                if sent % (8 * MiB) == 0:
                    server_peak = max(server_peak, rss(peer.pid))
                    client_peak = max(client_peak, rss())
            assert await asyncio.wait_for(ws.recv(), 10) == str(TOTAL)
        server_peak = max(server_peak, memory_kib(peer.pid)[1] * 1024)

        # What went out before send() blocked fits in socket buffers + the server's queue.
        assert stalled_at < TOTAL // 4, stalled_at
        assert server_stalled - server_base < BOUND, (server_base, server_stalled)
        assert server_peak - server_base < BOUND, (server_base, server_peak)
        assert client_peak - client_base < BOUND, (client_base, client_peak)

    try:
        run(main())
    finally:
        peer.stop()


@pytest.mark.timeout(30)
def test_slow_reader_client_pauses_fast_writer_server(run, loop_name: str) -> None:
    """The server writes as fast as it can, the client does not read: both stay bounded."""
    peer = Peer("fastwrite", loop_name)

    async def main() -> None:
        port = await peer.port()
        server_base = rss(peer.pid)
        client_base = rss()
        async with connect(f"ws://127.0.0.1:{port}/", max_queue=16, compression=None) as ws:
            await asyncio.sleep(0.5)  # not reading
            first = await peer.progress()
            await asyncio.sleep(0.3)
            second = await peer.progress()
            # The server's send() is blocked: nothing more went out while we did not read.
            assert first == second, (first, second)
            assert 0 < second < TOTAL // 4, second
            assert rss() - client_base < BOUND
            assert rss(peer.pid) - server_base < BOUND

            # Now read everything, in order; reading resumes after the queue drains.
            client_peak = rss()
            server_peak = rss(peer.pid)
            received = 0
            seq = 0
            while received < TOTAL:
                message = await asyncio.wait_for(ws.recv(), 10)
                assert isinstance(message, bytes) and len(message) == MESSAGE
                assert struct.unpack_from("!Q", message)[0] == seq
                seq += 1
                received += len(message)
                if seq % 128 == 0:
                    client_peak = max(client_peak, rss())
                    server_peak = max(server_peak, rss(peer.pid))
            assert await asyncio.wait_for(ws.recv(), 10) == "done"
        server_peak = max(server_peak, memory_kib(peer.pid)[1] * 1024)
        assert client_peak - client_base < BOUND, (client_base, client_peak)
        assert server_peak - server_base < BOUND, (server_base, server_peak)

    try:
        run(main())
    finally:
        peer.stop()


@pytest.mark.timeout(20)
def test_send_returns_pending_awaitable_while_paused(run, impl) -> None:
    """write_limit small: once the transport pauses, send() returns an awaitable that is not done
    until the peer reads; messages are neither lost nor reordered."""
    go = asyncio.Event()
    server_side: list[Any] = []

    async def handler(ws: Any) -> None:
        server_side.append(ws)
        await go.wait()
        count = 0
        async for message in ws:
            if message == "end":
                break
            assert struct.unpack_from("!I", message)[0] == count
            count += 1
        await ws.send(str(count))

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0, max_queue=4, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", write_limit=16 * 1024, compression=None) as ws:
                filler = bytes(MESSAGE - 4)
                sent = 0
                pending = None
                while sent < 2000:
                    aw = ws.send(struct.pack("!I", sent) + filler)
                    sent += 1
                    pending = await still_pending(aw, 0.2)
                    if pending is not None:
                        break
                assert pending is not None, "send() never waited"
                await asyncio.sleep(0.2)
                assert not pending.done()
                # Still paused: the next send() is written but its awaitable is pending too.
                again = await still_pending(ws.send(struct.pack("!I", sent) + filler), 0.1)
                sent += 1
                assert again is not None
                # The server stopped reading from its socket (its queue is full).
                assert server_side and not server_side[0].transport.is_reading()
                go.set()
                await asyncio.wait_for(pending, 5)
                await asyncio.wait_for(again, 5)
                ws.send("end")
                assert await asyncio.wait_for(ws.recv(), 5) == str(sent)

    run(main())


@pytest.mark.timeout(20)
def test_paused_sender_wakes_up_when_the_connection_is_lost(run, impl) -> None:
    """A send() waiting for the buffer to drain must not hang when the peer goes away."""
    server_side: list[Any] = []

    async def handler(ws: Any) -> None:
        server_side.append(ws)
        await asyncio.sleep(30)  # never reads

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0, max_queue=2, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", write_limit=16 * 1024, compression=None) as ws:
                payload = bytes(MESSAGE)
                for _ in range(2000):
                    pending = await still_pending(ws.send(payload), 0.2)
                    if pending is not None:
                        break
                else:
                    pytest.fail("send() never waited")
                server_side[0].abort()
                await asyncio.wait_for(pending, 5)  # woken up, not stuck forever
                await asyncio.wait_for(ws.wait_closed(), 5)
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.send(payload)
                assert info.value.code == 1006

    run(main())


@pytest.mark.timeout(20)
def test_reading_resumes_after_recv_drains_the_queue(run, impl) -> None:
    """max_queue: the server stops reading when its queue is full and resumes once recv() drains it."""
    states: list[bool] = []

    async def handler(ws: Any) -> None:
        await asyncio.sleep(0.2)  # 50 messages arrive, more than max_queue
        states.append(ws.transport.is_reading())
        for i in range(50):
            assert await ws.recv() == f"a{i}"
        states.append(ws.transport.is_reading())
        await ws.send("drained")
        for i in range(50):  # these can only arrive if reading resumed
            assert await ws.recv() == f"b{i}"
        await ws.send("done")

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0, max_queue=4, compression=None) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", compression=None) as ws:
                for i in range(50):
                    ws.send(f"a{i}")
                assert await asyncio.wait_for(ws.recv(), 5) == "drained"
                for i in range(50):
                    await ws.send(f"b{i}")
                    await asyncio.sleep(0)
                assert await asyncio.wait_for(ws.recv(), 5) == "done"
        assert states == [False, True]

    run(main())


@pytest.mark.timeout(20)
def test_client_queue_pauses_reading(run, impl) -> None:
    """The same on the client: a non-reading client stops reading its socket, then catches up."""

    async def handler(ws: Any) -> None:
        for i in range(200):
            await ws.send(f"m{i}" + "x" * 1000)
        await ws.send("end")
        async for _ in ws:
            pass

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", max_queue=8) as ws:
                await asyncio.sleep(0.2)
                assert not ws.transport.is_reading()
                for i in range(200):
                    assert (await asyncio.wait_for(ws.recv(), 5)).startswith(f"m{i}x")
                assert await asyncio.wait_for(ws.recv(), 5) == "end"
                assert ws.transport.is_reading()

    run(main())
