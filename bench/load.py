"""Load, churn, soak and hostile-client runs against a fastws echo server (loopback only).

    python3 -m bench.load idle --connections 10000        # memory per idle connection vs picows/websockets
    python3 -m bench.load active --connections 1000 --seconds 60
    python3 -m bench.load churn --cycles 50000
    python3 -m bench.load slow --seconds 180
    python3 -m bench.load hostile --seconds 30             # the good client's RTT under attack
    python3 -m bench.load hostile --seconds 30 --only ping-flood,slowloris,malformed

Every run starts the server in its own process (``python3 -m bench.load server``),
which answers ``stats`` on its stdin with its RSS, open descriptors, tasks and
connections; the load comes from this process (and the good client of
``hostile`` from a third one), stops by itself and prints its figures as JSON.
tests/load runs short versions of each (``pytest -m load``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from fastws.cli import handshake_share

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
READY_TIMEOUT = 20.0


# --- the server process ------------------------------------------------------------------------


def _status_kib(field_name: bytes) -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1])
    return 0


async def _serve(args: argparse.Namespace) -> None:
    from fastws.echo import EchoListener
    from fastws.server import serve

    async def echo(ws: Any) -> None:  # the awaitable API
        async for message in ws:
            await ws.send(message)

    async def slow_reader(ws: Any) -> None:  # a slow consumer: one message per 10 ms
        async for _ in ws:
            await asyncio.sleep(0.01)

    async def producer(ws: Any) -> None:  # a fast producer: sends while the peer takes it
        chunk = bytes(16384)
        while True:
            await ws.send(chunk)

    async def no_reader(ws: Any) -> None:  # never takes a message: the queue fills up
        await ws.wait_closed()

    handler: Any = {"listener": EchoListener, "awaitable": echo, "slow-reader": slow_reader,
                    "producer": producer, "no-reader": no_reader}[args.api]  # fmt: skip
    loop = asyncio.get_running_loop()
    server = await serve(
        handler,
        HOST,
        0,
        max_size=args.max_size,
        open_timeout=args.open_timeout,
        compression=None if args.no_compression else "deflate",
        handshake_share=args.handshake_share,
    )
    print(f"PORT {server.port}", flush=True)
    done = loop.create_future()

    def command() -> None:
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            if not done.done():
                done.set_result(None)
            return
        stats = {
            "rss_kib": _status_kib(b"VmRSS:"),
            "hwm_kib": _status_kib(b"VmHWM:"),
            "fds": len(os.listdir("/proc/self/fd")),
            "tasks": len(asyncio.all_tasks()),
            "connections": len(server._connections),
            "handles": len(getattr(loop, "_scheduled", ())),  # asyncio only: timers pending
            "cpu_s": round(sum(os.times()[:2]), 2),
        }
        print(json.dumps(stats), flush=True)

    loop.add_reader(sys.stdin.fileno(), command)
    await done
    server.close()
    await server.wait_closed()


def server_main(args: argparse.Namespace) -> int:
    from fastws.runner import run

    if args.nofile:
        _raise_nofile(args.nofile)
    run(_serve(args), loop=args.loop)
    return 0


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"{needed} file descriptors needed, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@dataclass
class ServerProcess:
    """A fastws echo server in its own process; ``stats()`` asks it for its figures."""

    max_size: int = 1 << 20
    api: str = "listener"
    loop: str = "uvloop"
    cpu: Optional[int] = None
    nofile: int = 0
    open_timeout: float = 10.0
    handshake_share: str = "0.1"  # as on the command line ("off": never paced)
    pure: bool = False
    proc: Any = None
    port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "bench.load", "server", "--max-size", str(self.max_size),
               "--api", self.api, "--loop", self.loop, "--open-timeout", str(self.open_timeout),
               "--nofile", str(self.nofile), "--handshake-share", self.handshake_share]  # fmt: skip
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        env = {**os.environ, **self.extra_env, "FASTWS_PURE": "1" if self.pure else "0"}
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + READY_TIMEOUT
        line = self.proc.stdout.readline()
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stats(self) -> dict[str, int]:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- raw peers: exactly the bytes we want on the wire ------------------------------------------


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv1: bool = False, length: Optional[int] = None) -> bytes:
    """A masked client frame (mask key 0: the payload goes as is); ``length`` may lie."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


def upgrade_request(extra: str = "") -> tuple[bytes, bytes]:
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    request = (
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()
    return request, accept


async def ws_open(port: int, extra: str = "", timeout: float = 10.0) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A handshaken raw connection (streams)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    request, accept = upgrade_request(extra)
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    if not head.startswith(b"HTTP/1.1 101") or accept not in head:
        writer.close()
        raise ConnectionError(f"handshake refused: {head[:60]!r}")
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame: (its first byte, its payload)."""
    from fastws.testing.conformance import wire

    f = await wire.read_frame(reader)
    return (0x80 if f.fin else 0) | f.rsv << 4 | f.opcode, f.payload


async def read_data(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes]:
    """The next frame that is not a ping; pings (the server's keepalive) are answered."""
    while True:
        b0, payload = await read_frame(reader)
        if b0 & 0x0F != 0x9:
            return b0, payload
        writer.write(frame(0xA, payload))


async def expect_close(reader: asyncio.StreamReader, timeout: float = 10.0) -> Optional[int]:
    """Read until the server's close frame: its code (None if TCP ended first)."""
    try:
        while True:
            b0, payload = await asyncio.wait_for(read_frame(reader), timeout)
            if b0 & 0x0F == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- the good client (its own process): round trips and new connections -------------------


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            raise ConnectionError("echo connection closed")
        got += chunk
    return got


def probe(port: int, seconds: float, size: int = 16) -> dict[str, Any]:
    """Round trips of ``size``-byte messages on one connection for ``seconds``, plus a new
    connection's handshake every 0.25 s; blocking sockets, no asyncio in the way."""
    rtts: list[float] = []
    handshakes: list[float] = []
    errors: list[str] = []

    def connect() -> socket.socket:
        started = time.perf_counter()
        sock = socket.create_connection((HOST, port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request, accept = upgrade_request()
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101") or accept not in head:
            raise ConnectionError(f"refused: {head[:40]!r}")
        handshakes.append(time.perf_counter() - started)
        return sock

    payload = os.urandom(size)
    message = frame(0x2, payload)
    expected = bytes([0x82, size]) + payload
    deadline = time.monotonic() + seconds
    next_new = time.monotonic()
    try:
        sock = connect()
    except OSError as exc:
        return {"errors": [f"connect: {exc!r}"], "rtts": 0}
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            sock.sendall(message)
            got = _recv_exactly(sock, 2)
            while got[0] == 0x89:  # the server's keepalive ping (every 20 s): answer, read on
                ping = _recv_exactly(sock, got[1])
                sock.sendall(frame(0xA, ping))
                got = _recv_exactly(sock, 2)
            got += _recv_exactly(sock, len(expected) - 2)
        except OSError as exc:
            errors.append(f"echo: {exc!r}")
            break
        rtts.append(time.perf_counter() - started)
        if got != expected:
            errors.append("echo differs")
            break
        if time.monotonic() >= next_new:
            next_new = time.monotonic() + 0.25
            try:
                connect().close()
            except OSError as exc:
                errors.append(f"new connection: {exc!r}")
        time.sleep(0.001)  # a good client is not a flood
    sock.close()
    return {
        "rtts": len(rtts),
        "rtt_p50_us": round(percentile(rtts, 50) * 1e6, 1),
        "rtt_p99_us": round(percentile(rtts, 99) * 1e6, 1),
        "rtt_max_us": round(max(rtts) * 1e6, 1) if rtts else None,
        "handshakes": len(handshakes),
        "handshake_p50_ms": round(percentile(handshakes, 50) * 1e3, 2),
        "handshake_p99_ms": round(percentile(handshakes, 99) * 1e3, 2),
        "handshake_max_ms": round(max(handshakes) * 1e3, 2) if handshakes else None,
        "errors": errors[:5],
    }


def run_probe(port: int, seconds: float, cpu: Optional[int] = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.load", "probe", "--port", str(port), "--seconds", str(seconds)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False)
    if out.returncode:
        raise RuntimeError(f"probe failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


# --- hostile clients (each loops until ``stop`` is set) -------------------------------------


@dataclass
class Tally:
    """What the attackers saw: how many times each got which answer."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


async def _until(stop: asyncio.Event, attack: Callable[[], Awaitable[None]], tally: Tally, name: str) -> None:
    while not stop.is_set():
        try:
            await attack()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
            tally.add(f"{name}: {type(exc).__name__}")
            await asyncio.sleep(0.05)


async def slowloris(port: int, stop: asyncio.Event, tally: Tally) -> None:
    """A handshake that never ends: a header line every second."""

    async def attack() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            while not stop.is_set():
                await asyncio.sleep(1.0)
                if reader.at_eof():
                    break
                writer.write(b"X-Slow: 1\r\n")
            data = await asyncio.wait_for(reader.read(100), 0.5) if not stop.is_set() else b""
            tally.add("slowloris: dropped" if not data else "slowloris: answered")
        finally:
            writer.close()

    await _until(stop, attack, tally, "slowloris")


async def bad_request(port: int, stop: asyncio.Event, tally: Tally, name: str, request: bytes) -> None:
    """A request the server must refuse: tallies the status it answers with."""

    async def attack() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        answer = await asyncio.wait_for(reader.read(12), 5)
        tally.add(f"{name}: {answer[9:12].decode(errors='replace') or 'eof'}")
        writer.close()

    await _until(stop, attack, tally, name)


MALFORMED = b"GET / HTTP/1.1\r\nHost x\r\n\x00garbage\r\n\r\n"  # 400
OVERSIZED = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 65536 + b"\r\n"  # past max_head_size: 431


async def huge_frame(port: int, stop: asyncio.Event, tally: Tally) -> None:
    """A frame announcing 2^63 - 1 bytes: expects close 1009 at once."""

    async def attack() -> None:
        reader, writer = await ws_open(port)
        writer.write(frame(0x2, b"x" * 64, length=(1 << 63) - 1))
        tally.add(f"huge-frame: {await expect_close(reader)}")
        writer.close()

    await _until(stop, attack, tally, "huge-frame")


async def flood(port: int, stop: asyncio.Event, tally: Tally, name: str, batch: bytes,
                first: bytes = b"", extra: str = "") -> None:  # fmt: skip
    """Handshake (with ``extra`` headers), send ``first``, then ``batch`` again and again as fast
    as TCP takes it, never reading; a new connection whenever the server drops this one."""

    async def attack() -> None:
        _, writer = await ws_open(port, extra)
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        writer.write(first)
        try:
            while not stop.is_set():
                writer.write(batch)
                await writer.drain()
        finally:
            writer.transport.abort()  # type: ignore[attr-defined]

    await _until(stop, attack, tally, name)


def deflate_bomb(size: int) -> bytes:
    """A compressed message (RFC 7692 framing) that inflates to ``size`` zero bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(bytes(size)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]  # without the 00 00 ff ff tail


PING_FLOOD = frame(0x9, b"p") * 4096  # pings, never reading a pong
FRAGMENT_FLOOD = frame(0x0, b"", fin=False) * 4096  # one message of endless empty fragments
DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate\r\n"


ATTACKS = ("slowloris", "malformed", "oversized", "huge-frame", "ping-flood", "fragment-flood", "inflate-bomb")


async def _attack(port: int, seconds: float, counts: dict[str, int], max_size: int, tally: Tally,
                  on_tick: Callable[[], None]) -> None:  # fmt: skip
    stop = asyncio.Event()
    tasks = []
    for name, n in counts.items():
        for _ in range(n):
            if name == "slowloris":
                coro = slowloris(port, stop, tally)
            elif name == "malformed":
                coro = bad_request(port, stop, tally, name, MALFORMED)
            elif name == "oversized":
                coro = bad_request(port, stop, tally, name, OVERSIZED)
            elif name == "huge-frame":
                coro = huge_frame(port, stop, tally)
            elif name == "ping-flood":
                coro = flood(port, stop, tally, name, PING_FLOOD)
            elif name == "fragment-flood":
                coro = flood(port, stop, tally, name, FRAGMENT_FLOOD, first=frame(0x1, b"", fin=False))
            elif name == "inflate-bomb":  # ~1000:1, each inflating to max_size; echoes never read
                coro = flood(port, stop, tally, name, frame(0x2, deflate_bomb(max_size), rsv1=True), extra=DEFLATE)
            else:
                raise ValueError(f"unknown attack {name!r} (known: {', '.join(ATTACKS)})")
            tasks.append(asyncio.ensure_future(coro))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        on_tick()
    stop.set()
    await asyncio.wait(tasks, timeout=5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


DEFAULT_ATTACK = {
    "slowloris": 500, "malformed": 4, "oversized": 2, "huge-frame": 2,
    "ping-flood": 20, "fragment-flood": 4, "inflate-bomb": 2,
}  # fmt: skip


def hostile(seconds: float, counts: dict[str, int], max_size: int = 1 << 20, cpu: Optional[int] = None,
            attacker_cpu: Optional[int] = None, probe_seconds: Optional[float] = None,
            handshake_share: str = "0.1") -> dict[str, Any]:  # fmt: skip
    """The good client's round trip alone, then under ``counts`` attackers; the server's RSS peak."""
    import threading

    cores = os.sched_getaffinity(0)  # a core that is not there (a 1-core machine): no pinning
    cpu = cpu if cpu in cores else None
    attacker_cpu = attacker_cpu if attacker_cpu in cores else None
    _raise_nofile(sum(counts.values()) * 2 + 1024)
    nofile = sum(counts.values()) * 2 + 1024
    with ServerProcess(max_size=max_size, cpu=cpu, nofile=nofile, handshake_share=handshake_share) as server:
        probe_s = probe_seconds if probe_seconds is not None else min(seconds, 5.0)
        unloaded = run_probe(server.port, probe_s, cpu)
        before = server.stats()
        peak = dict(before)
        tally = Tally()

        def tick() -> None:
            s = server.stats()
            peak["rss_kib"] = max(peak["rss_kib"], s["rss_kib"])
            peak["connections"] = max(peak["connections"], s["connections"])

        result: dict[str, Any] = {}
        attack_cmd_done = threading.Event()

        def attackers() -> None:
            try:
                if attacker_cpu is not None:
                    os.sched_setaffinity(0, {attacker_cpu})
                asyncio.run(_attack(server.port, seconds, counts, max_size, tally, tick))
            finally:
                attack_cmd_done.set()

        thread = threading.Thread(target=attackers)
        thread.start()
        time.sleep(min(2.0, seconds / 4))  # attackers in place
        loaded = run_probe(server.port, max(1.0, seconds - min(2.0, seconds / 4) - 1.0), cpu)
        thread.join()
        time.sleep(1.0)
        after = server.stats()
        hwm = after["hwm_kib"]
        # Unloaded again, once the attack is over: the good client's own figure moves by
        # tens of µs from one run to the next here; the ratio is to the mean of both.
        unloaded_after = run_probe(server.port, probe_s, cpu)
        base = (unloaded["rtt_p50_us"] + unloaded_after["rtt_p50_us"]) / 2
        result.update(
            unloaded=unloaded, loaded=loaded, unloaded_after=unloaded_after,
            rtt_p50_ratio=round(loaded["rtt_p50_us"] / base, 2) if base else None,
            attackers=counts, outcomes=tally.counts,
            rss_before_kib=before["rss_kib"], rss_peak_kib=peak["rss_kib"], rss_hwm_kib=hwm,
            rss_after_kib=after["rss_kib"], connections_peak=peak["connections"], after=after,
            server_cpu_s=round(after["cpu_s"] - before["cpu_s"], 2), attack_s=seconds,
        )  # fmt: skip
        return result


# --- active: many connections echoing, every echo checked -------------------------------------


async def _active_client(port: int, index: int, stop: asyncio.Event, interval: float,
                         latencies: list[float], errors: list[str]) -> int:  # fmt: skip
    """Sends numbered messages one at a time; each echo must be that very message."""
    try:
        reader, writer = await ws_open(port, timeout=30)
    except (OSError, asyncio.TimeoutError) as exc:
        errors.append(f"connect {index}: {exc!r}")
        return 0
    sent = 0
    try:
        await asyncio.sleep(interval * (index % 100) / 100)  # spread the first sends
        while not stop.is_set():
            payload = struct.pack("!QQ", index, sent) + os.urandom(16)
            started = time.perf_counter()
            writer.write(frame(0x2, payload))
            b0, echo = await asyncio.wait_for(read_data(reader, writer), 30)
            latencies.append(time.perf_counter() - started)
            if b0 != 0x82 or echo != payload:
                errors.append(f"connection {index}: echo {sent} differs (lost or reordered)")
                return sent
            sent += 1
            await asyncio.sleep(interval)
        writer.write(frame(0x8, struct.pack("!H", 1000)))
        code = await expect_close(reader)
        if code != 1000:
            errors.append(f"connection {index}: close answered with {code}")
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
        errors.append(f"connection {index}: {exc!r}")
    finally:
        writer.close()
    return sent


def active(connections: int, seconds: float, interval: float = 0.05, api: str = "listener") -> dict[str, Any]:
    """``connections`` clients echoing small messages for ``seconds``: errors, latency, RSS over time."""
    _raise_nofile(connections + 512)
    with ServerProcess(api=api, nofile=connections + 512) as server:
        base = server.stats()
        latencies: list[float] = []
        errors: list[str] = []
        samples: list[int] = []

        async def main() -> int:
            stop = asyncio.Event()
            tasks = [asyncio.ensure_future(_active_client(server.port, i, stop, interval, latencies, errors))
                     for i in range(connections)]  # fmt: skip
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(min(1.0, seconds / 10))
                samples.append(server.stats()["rss_kib"])
            stop.set()
            counts = await asyncio.gather(*tasks)
            return sum(counts)

        total = asyncio.run(main())
        time.sleep(0.5)
        end = server.stats()
    warm = samples[len(samples) // 4 :] or samples
    return {
        "connections": connections, "seconds": seconds, "messages": total, "errors": errors[:10],
        "error_count": len(errors), "latency_p50_us": round(percentile(latencies, 50) * 1e6, 1),
        "latency_p99_us": round(percentile(latencies, 99) * 1e6, 1),
        "rss_base_kib": base["rss_kib"], "rss_samples_kib": samples,
        "rss_growth_after_warmup_kib": max(warm) - warm[0] if warm else 0,
        "server_cpu_us_per_message": round((end["cpu_s"] - base["cpu_s"]) / max(total, 1) * 1e6, 1),
        "end": end,
    }  # fmt: skip


# --- churn: connect, handshake, close, many times ------------------------------------------------


async def _cycle(port: int) -> Optional[int]:
    reader, writer = await ws_open(port)
    try:
        writer.write(frame(0x8, struct.pack("!H", 1000)))
        return await expect_close(reader)
    finally:
        writer.close()


def churn(cycles: int, concurrency: int = 50, warmup: int = 500, api: str = "listener") -> dict[str, Any]:
    """``cycles`` connect/handshake/close cycles: the server's descriptors, tasks, connections and
    memory before (after ``warmup`` cycles) and after."""
    with ServerProcess(api=api) as server:

        async def run(n: int) -> dict[str, int]:
            outcomes: dict[str, int] = {}
            queue = iter(range(n))

            async def worker() -> None:
                for _ in queue:
                    try:
                        code = await _cycle(server.port)
                        key = str(code)
                    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                        key = type(exc).__name__
                    outcomes[key] = outcomes.get(key, 0) + 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return outcomes

        asyncio.run(run(warmup))
        time.sleep(0.5)
        before = server.stats()
        started = time.monotonic()
        outcomes = asyncio.run(run(cycles))
        took = time.monotonic() - started
        time.sleep(1.0)  # the last closes' timers and lingering
        after = server.stats()
    return {"cycles": cycles, "seconds": round(took, 1), "outcomes": outcomes, "before": before, "after": after,
            "rss_growth_kib": after["rss_kib"] - before["rss_kib"]}  # fmt: skip


# --- slow consumers, fast producers ---------------------------------------------------------------


async def _consume_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """A slow consumer: one frame per 10 ms (pings answered, or keepalive would drop it)."""
    got = 0
    try:
        while True:
            got += len((await read_data(reader, writer))[1])
            await asyncio.sleep(0.01)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        return got


async def _flood(port: int, seconds: float, size: int) -> int:
    """A fast producer and slow consumer: sends ``size``-byte messages while TCP takes them,
    reads what comes back one frame per 10 ms. Returns the bytes sent."""
    reader, writer = await ws_open(port)
    consumer = asyncio.ensure_future(_consume_slowly(reader, writer))
    message = frame(0x2, bytes(size))
    sent = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            writer.write(message)
            sent += size
            try:
                await asyncio.wait_for(writer.drain(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
    finally:
        consumer.cancel()
        writer.transport.abort()  # type: ignore[attr-defined]
    return sent


async def _read_slowly(port: int, seconds: float) -> int:
    """A slow consumer of a server that sends without pause. Returns the bytes received."""
    reader, writer = await ws_open(port)
    consumer = asyncio.ensure_future(_consume_slowly(reader, writer))
    await asyncio.sleep(seconds)
    consumer.cancel()
    got = await consumer
    writer.transport.abort()  # type: ignore[attr-defined]
    return got


def slow(seconds: float, connections: int = 10, size: int = 65536) -> dict[str, Any]:
    """Three pairings for ``seconds`` each, ``connections`` at a time: clients sending without
    pause to the echo server and reading one echo per 10 ms, clients sending without pause to a
    server that takes one message per 10 ms (awaitable API), and a server sending without pause
    to clients reading one frame per 10 ms. For each: the server's RSS growth per connection,
    and how many bytes went through."""
    results: dict[str, Any] = {}
    for name, api in (("flood-echo", "listener"), ("flood-slow-reader", "slow-reader"), ("producer", "producer")):
        with ServerProcess(api=api) as server:
            before = server.stats()
            peak = before["rss_kib"]

            async def main(server: ServerProcess = server, api: str = api) -> list[int]:
                nonlocal peak
                if api == "producer":
                    coros = [_read_slowly(server.port, seconds) for _ in range(connections)]
                else:
                    coros = [_flood(server.port, seconds, size) for _ in range(connections)]
                tasks = asyncio.gather(*coros)
                while not tasks.done():
                    await asyncio.sleep(0.25)
                    peak = max(peak, server.stats()["rss_kib"])
                return await tasks

            moved = asyncio.run(main())
            time.sleep(0.5)
            after = server.stats()
        results[name] = {
            "moved": sum(moved), "rss_before_kib": before["rss_kib"], "rss_peak_kib": peak,
            "per_connection_kib": round((peak - before["rss_kib"]) / connections, 1), "after": after,
        }  # fmt: skip
    return results


# --- the worst case: what one connection can make the server hold --------------------------------


def memory_bound_kib(max_size: int, max_queue: int = 16, write_limit: int = 65536, queue: bool = True) -> int:
    """The README's bound on what one connection can make the server hold, in KiB.

    Queued messages (awaitable API: ``max_queue`` of up to ``max_size`` each, inflated), frames
    of one read held back (the read buffer), the message in progress (``max_size``), one message
    being inflated or handed to a listener (``max_size``), the write buffer (``write_limit``),
    the deflate state, and the handshake or connection objects (64 KiB, generous).
    """
    from fastws._connection_py import READ_BUFFER_SIZE

    held = (max_queue if queue else 0) * max_size + READ_BUFFER_SIZE + 2 * max_size + write_limit
    return (held + 64 * 1024 + 64 * 1024) // 1024


async def _fill(port: int, max_size: int, messages: int, compress: bool) -> None:
    """Queue ``messages`` messages of ``max_size`` on the server, then half of one more."""
    extra = DEFLATE if compress else ""
    _, writer = await ws_open(port, extra)
    if compress:  # ~1000:1, inflated on arrival
        data = b"".join(frame(0x2, deflate_bomb(max_size), rsv1=True) for _ in range(messages))
    else:
        data = b"".join(frame(0x2, os.urandom(max_size)) for _ in range(messages))
    writer.write(data + frame(0x2, os.urandom(max_size))[: max_size // 2])
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    try:
        await asyncio.wait_for(writer.drain(), 5)
    except asyncio.TimeoutError:
        pass  # the server stopped reading: the queue is full
    _held.append(writer)


_held: list[Any] = []


def worst_case(connections: int = 8, max_size: int = 256 * 1024, compress: bool = False) -> dict[str, Any]:
    """Connections that fill the awaitable API's queue (a handler that never reads) with
    ``max_size`` messages, then leave one half sent: the server's RSS growth per connection,
    next to :func:`memory_bound_kib`."""
    with ServerProcess(api="no-reader", max_size=max_size) as server:
        before = server.stats()

        async def main() -> dict[str, int]:
            await asyncio.gather(*(_fill(server.port, max_size, 16 + 8, compress) for _ in range(connections)))
            await asyncio.sleep(1.0)
            stats = server.stats()
            for writer in _held:
                writer.transport.abort()
            _held.clear()
            return stats

        loaded = asyncio.run(main())
    per_connection = (loaded["rss_kib"] - before["rss_kib"]) / connections
    return {"connections": connections, "max_size": max_size, "compressed": compress,
            "per_connection_kib": round(per_connection, 1), "bound_kib": memory_bound_kib(max_size),
            "rss_before_kib": before["rss_kib"], "rss_loaded_kib": loaded["rss_kib"]}  # fmt: skip


# --- command line ----------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.load", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("server", help="the echo server process (used by the other commands)")
    s.add_argument("--max-size", type=int, default=1 << 20)
    s.add_argument("--api", choices=("listener", "awaitable", "slow-reader", "producer", "no-reader"), default="listener")
    s.add_argument("--loop", default="uvloop")
    s.add_argument("--open-timeout", type=float, default=10.0)
    s.add_argument("--no-compression", action="store_true")
    s.add_argument("--nofile", type=int, default=0)
    s.add_argument("--handshake-share", type=handshake_share, default=0.1, metavar="SHARE")
    p = sub.add_parser("probe", help="the good client (used by hostile)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=5.0)
    h = sub.add_parser("hostile", help="the good client's round trip while attackers push")
    h.add_argument("--seconds", type=float, default=30.0)
    h.add_argument("--only", default="", help=f"comma-separated attacks (default all: {','.join(ATTACKS)})")
    h.add_argument("--count", action="append", default=[], metavar="ATTACK=N", help="attackers of a kind")
    h.add_argument("--max-size", type=int, default=1 << 20)
    h.add_argument("--cpu", type=int, default=0, help="the server and good client's core (-1: any)")
    h.add_argument("--attacker-cpu", type=int, default=None, help="the attackers' core (default: the same)")
    h.add_argument("--handshake-share", default="0.1", metavar="SHARE", help="the server's (or 'off')")
    a = sub.add_parser("active", help="connections echoing small messages, every echo checked")
    a.add_argument("--connections", type=int, default=1000)
    a.add_argument("--seconds", type=float, default=60.0)
    a.add_argument("--interval", type=float, default=0.05, help="pause between a connection's messages")
    a.add_argument("--api", choices=("listener", "awaitable"), default="listener")
    c = sub.add_parser("churn", help="connect/handshake/close cycles")
    c.add_argument("--cycles", type=int, default=50000)
    c.add_argument("--concurrency", type=int, default=50)
    c.add_argument("--api", choices=("listener", "awaitable"), default="listener")
    w = sub.add_parser("slow", help="slow consumers and fast producers, both sides")
    w.add_argument("--seconds", type=float, default=60.0, help="per pairing")
    w.add_argument("--connections", type=int, default=10)
    m = sub.add_parser("worst", help="what one connection can make the server hold, vs the bound")
    m.add_argument("--connections", type=int, default=8)
    m.add_argument("--max-size", type=int, default=1 << 20)
    m.add_argument("--compress", action="store_true", help="deflate bombs: inflated on arrival")
    i = sub.add_parser("idle", help="memory per idle connection (fastws.bench.memory)")
    i.add_argument("--connections", type=int, default=10000)
    i.add_argument("--servers", default="fastws,picows,websockets")
    args = parser.parse_args(argv)
    if args.command == "active":
        print(json.dumps(active(args.connections, args.seconds, args.interval, args.api), indent=1))
        return 0
    if args.command == "churn":
        print(json.dumps(churn(args.cycles, args.concurrency, api=args.api), indent=1))
        return 0
    if args.command == "slow":
        print(json.dumps(slow(args.seconds, args.connections), indent=1))
        return 0
    if args.command == "worst":
        print(json.dumps(worst_case(args.connections, args.max_size, args.compress), indent=1))
        return 0
    if args.command == "idle":
        from fastws.bench import memory

        return memory.main(["--servers", args.servers, "--connections", str(args.connections)])
    if args.command == "server":
        return server_main(args)
    if args.command == "probe":
        print(json.dumps(probe(args.port, args.seconds)))
        return 0
    if args.command == "hostile":
        counts = dict(DEFAULT_ATTACK)
        if args.only:
            counts = {k: v for k, v in counts.items() if k in args.only.split(",")}
        for spec in args.count:
            name, _, n = spec.partition("=")
            counts[name] = int(n)
        cpu = None if args.cpu < 0 else args.cpu
        attacker_cpu = args.attacker_cpu if args.attacker_cpu is not None else cpu
        handshake_share(args.handshake_share)  # checked here, not in the server process
        print(json.dumps(hostile(args.seconds, counts, args.max_size, cpu, attacker_cpu,
                                 handshake_share=args.handshake_share), indent=1))  # fmt: skip
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
