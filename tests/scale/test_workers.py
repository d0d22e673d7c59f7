"""``fastws serve module:handler --workers N``: real supervisor and worker processes on a free port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest
from scale_support import WORKER_LINE, Supervisor, free_port

from fastws import connect
from fastws.exceptions import ConnectionClosed, HandshakeRejected

pytestmark = pytest.mark.timeout(60)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 30))


async def pids_seen(port: int, connections: int) -> set[int]:
    seen = set()
    for i in range(connections):
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send(str(i))
            pid, _, echoed = (await ws.recv()).partition(":")
            assert echoed == str(i)
            seen.add(int(pid))
    return seen


def test_workers_share_one_port_and_stop_with_1001() -> None:
    sup = Supervisor("worker_apps:pid_echo", "--workers", "2", "--port", "0", "--close-timeout", "2")
    try:
        port, pids = sup.started(2)
        assert sorted(pids) == [0, 1] and len(set(pids.values())) == 2
        sup.wait_for(r"^fastws worker \d \(pid \d+\) listening on port \d+ \(codec: c, loop: uvloop\)$", count=2)
        # SO_REUSEPORT hashes each connection's addresses to one listener: 40 connections reach both.
        assert run(pids_seen(port, 40)) == set(pids.values())

        async def held_then_sigterm() -> list[tuple[int, str]]:
            clients = [await connect(f"ws://127.0.0.1:{port}/") for _ in range(8)]
            os.kill(sup.proc.pid, signal.SIGTERM)
            closes = []
            for ws in clients:
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                closes.append((ws.close_code, ws.close_reason))
            return closes

        assert run(held_then_sigterm()) == [(1001, "server shutting down")] * 8
        assert sup.proc.wait(10) == 0
        for pid in pids.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        sup.kill()


def test_sigterm_exits_within_close_timeout_when_peers_never_answer() -> None:
    """Raw TCP peers that finish the handshake, then never read nor answer the close."""
    sup = Supervisor("worker_apps:never_reads", "--workers", "2", "--port", "0", "--close-timeout", "1.5")
    socks = []
    try:
        port, _pids = sup.started(2)
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 101")
            socks.append(sock)
        start = time.monotonic()
        sup.proc.send_signal(signal.SIGTERM)
        assert sup.proc.wait(10) == 0
        took = time.monotonic() - start
        assert took < 1.5 + 1.0, f"supervisor took {took:.2f} s to stop (close_timeout 1.5 s)"
        assert not any("killing it" in line for line in sup.errors), sup.errors
        for sock in socks:  # the server sent its close frame (opcode 8, code 1001), then dropped the laggard
            data = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert b"\x88" in data and (1001).to_bytes(2, "big") in data
    finally:
        for sock in socks:
            sock.close()
        sup.kill()


def test_a_dead_worker_is_logged_and_restarted() -> None:
    sup = Supervisor("worker_apps:pid_echo", "--workers", "2", "--port", "0")
    try:
        port, pids = sup.started(2)
        os.kill(pids[1], signal.SIGKILL)
        line = sup.wait_for(r"worker 1 \(pid (\d+)\) died \(signal SIGKILL\)", stderr=True)[0]
        assert int(line.group(1)) == pids[1]
        sup.wait_for(r"^fastws worker 1 \(pid", count=2)
        new_pid = sup.worker_pids()[1]
        assert new_pid != pids[1]
        assert run(pids_seen(port, 40)) == {pids[0], new_pid}
        assert sup.stop() == 0
    finally:
        sup.kill()


def test_worker_app_options_and_startup_hook() -> None:
    """A WorkerApp's process_request (401) and origins (403) apply in every worker."""
    sup = Supervisor("worker_apps:app", "--workers", "2", "--port", "0")
    try:
        port, _pids = sup.started(2)

        async def scenario() -> None:
            with pytest.raises(HandshakeRejected) as refused:
                await connect(f"ws://127.0.0.1:{port}/")
            assert refused.value.status == 401
            with pytest.raises(HandshakeRejected) as refused:
                await connect(f"ws://127.0.0.1:{port}/?token=secret", origin="http://evil.example")
            assert refused.value.status == 403
            async with connect(f"ws://127.0.0.1:{port}/?token=secret", origin="http://good.example") as ws:
                await ws.send("hi")
                assert (await ws.recv()).endswith(":hi")

        run(scenario())
    finally:
        sup.kill()


def test_a_worker_whose_startup_fails_is_retried_with_backoff_and_stops_on_sigterm() -> None:
    sup = Supervisor("worker_apps:failing_startup", "--workers", "1", "--port", "0")
    try:
        sup.wait_for(r"worker 0 \(pid \d+\) failed to start", stderr=True)
        sup.wait_for(r"RuntimeError: backend unreachable", stderr=True)
        # dying at once, again and again: restarted after a growing delay (0.2 s, 0.4 s...), not in a busy loop
        deaths = sup.wait_for(r"worker 0 \(pid \d+\) died \(exit code 1\) after [\d.]+ s; restarting it in ([\d.]+) s",
                              count=3, stderr=True)  # fmt: skip
        delays = [float(m.group(1)) for m in deaths]
        assert delays == sorted(delays) and delays[0] >= 0.2, delays
        assert sup.stop() == 0
    finally:
        sup.kill()


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["nosuchmodule:handler"], 2, "cannot import 'nosuchmodule:handler': no module named 'nosuchmodule'"),
        (["worker_apps:nope"], 2, "module 'worker_apps' has no attribute 'nope'"),
        (["worker_apps"], 2, "expected 'module:attribute'"),
        (["worker_apps:not_a_handler"], 2, "'worker_apps:not_a_handler' is int, not a handler"),
        (["worker_apps:pid_echo", "--workers", "0"], 2, "--workers must be at least 1, not 0"),
    ],
)
def test_bad_targets_fail_once_with_a_precise_error(args: list[str], status: int, message: str) -> None:
    sup = Supervisor(args[0], *(args[1:] or ["--workers", "2"]), "--port", "0")
    try:
        assert sup.proc.wait(20) == status
        sup.wait_for(re_escape(message), stderr=True, timeout=2)
        assert not sup.worker_pids()
    finally:
        sup.kill()


def test_port_in_use_is_refused() -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        sup = Supervisor("worker_apps:pid_echo", "--workers", "2", "--port", str(port))
        try:
            assert sup.proc.wait(20) == 1
            sup.wait_for(rf"cannot listen on 127\.0\.0\.1:{port}: Address already in use", stderr=True, timeout=2)
        finally:
            sup.kill()


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_echo_server_with_workers() -> None:
    """``fastws serve --echo --workers 2``: the echo listener in every worker, same options."""
    sup = Supervisor("--echo", "--workers", "2", "--port", "0", "--no-compression", "--pure", "--loop", "asyncio")
    try:
        port, _pids = sup.started(2)
        sup.wait_for(r"listening on port \d+ \(codec: python, loop: asyncio\)$", count=2)

        async def scenario() -> None:
            for _ in range(4):
                async with connect(f"ws://127.0.0.1:{port}/", max_size=8 << 20) as ws:
                    assert ws.response.headers.get("Sec-WebSocket-Extensions") is None  # --no-compression
                    await ws.send("héllo")
                    assert await ws.recv() == "héllo"
                    big = os.urandom(3 << 20)  # over the library's 1 MiB default: the echo's 64 MiB applies
                    await ws.send(big)
                    assert await ws.recv() == big

        run(scenario())
    finally:
        sup.kill()


def test_without_workers_the_app_runs_in_this_process() -> None:
    sup = Supervisor("worker_apps:pid_echo", "--port", "0")
    try:
        match = sup.wait_for(WORKER_LINE.pattern)[0]
        pid, port = int(match.group(2)), int(match.group(3))
        assert pid == sup.proc.pid  # no supervisor: the command is the server
        assert run(pids_seen(port, 3)) == {pid}

        async def sigterm_closes_with_1001() -> None:
            ws = await connect(f"ws://127.0.0.1:{port}/")
            sup.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1001

        run(sigterm_closes_with_1001())
        assert sup.proc.wait(10) == 0
    finally:
        sup.kill()


def test_workers_stop_when_the_supervisor_is_killed() -> None:
    """SIGKILL leaves the supervisor no chance to stop its workers: they notice and close with 1001."""
    sup = Supervisor("worker_apps:pid_echo", "--workers", "2", "--port", "0", "--close-timeout", "1")
    try:
        port, pids = sup.started(2)

        async def scenario() -> None:
            clients = [await connect(f"ws://127.0.0.1:{port}/") for _ in range(6)]
            sup.proc.kill()
            for ws in clients:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                assert ws.close_code == 1001

        run(scenario())
        deadline = time.monotonic() + 5
        for pid in pids.values():
            while alive(pid):
                assert time.monotonic() < deadline, f"worker {pid} outlived its supervisor"
                time.sleep(0.05)
        sup.wait_for(r"the supervisor \(pid \d+\) is gone: stopping this worker", count=2, stderr=True)
    finally:
        sup.kill()


def alive(pid: int) -> bool:
    """Running (an exited orphan may stay a zombie until whoever adopted it reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
