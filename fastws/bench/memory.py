"""Memory per idle connection: how much a server's RSS grows per open, idle WebSocket.

    python -m fastws.bench.memory --servers fastws,websockets --connections 2000

For each server: start it in its own process (as the round-trip benchmark
does), open ``WARMUP`` connections and keep them (the first connections pay
one-time costs: lazy imports, caches, the first arenas), read the server's
VmRSS once it is steady, open ``N`` more handshaken connections, let them sit
idle, read VmRSS again once steady, and divide the growth by ``N``.

The opener is a bare asyncio protocol in this process: one upgrade request per
connection (no compression offered), the 101 and its Sec-WebSocket-Accept
checked, nothing else; so the load side is the same for every server and costs
little.  Connections are opened in batches, below the servers' listen backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..handshake import accept_key, generate_key
from .common import HOST
from .servers import DEFAULT_SERVERS, SERVERS

DEFAULT_CONNECTIONS = 2000
WARMUP = 10  # connections opened (and kept) before the baseline reading
BATCH = 100  # handshakes in flight at once: asyncio's default listen backlog is 100
HANDSHAKE_TIMEOUT = 10.0
SETTLE_MAX = 5.0  # seconds to wait for a steady RSS
SETTLE_POLL = 0.1
SETTLE_READINGS = 5  # consecutive readings that must agree ...
SETTLE_TOLERANCE_KIB = 64  # ... within this many KiB
FD_MARGIN = 256  # descriptors beyond the connections: the loop, pipes, logs, imports

Progress = Callable[[str], None]


# --- the server process: the only coupling to runner.py ---------------------------------------


@dataclass
class Server:
    pid: int
    port: int
    stop: Callable[[], None]


def start_server(name: str, core: int, progress: Progress) -> Server:
    """Start server ``name`` pinned to ``core`` and wait until it listens (``runner.start_server``).

    Raises ``runner.ServerSkipped`` (an optional peer that cannot run here) or
    ``runner.BenchError`` (it did not come up); nothing is left running then.
    """
    from . import runner

    server = runner.start_server(name, core, note=progress)
    return Server(server.pid, server.port, server.stop)


# --- /proc -------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB; raises ProcessLookupError once it has exited (a zombie has none)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])  # "VmRSS:   12345 kB"
    except FileNotFoundError:
        pass
    raise ProcessLookupError(f"process {pid} has exited")


async def steady_rss_kib(pid: int) -> int:
    """VmRSS once ``SETTLE_READINGS`` consecutive readings agree (the server may still be
    finishing handshakes or freeing buffers); the last reading if it never settles."""
    readings: list[int] = []
    deadline = time.monotonic() + SETTLE_MAX
    while True:
        readings.append(rss_kib(pid))
        last = readings[-SETTLE_READINGS:]
        if len(last) == SETTLE_READINGS and max(last) - min(last) <= SETTLE_TOLERANCE_KIB:
            return sorted(last)[len(last) // 2]
        if time.monotonic() >= deadline:
            return readings[-1]
        await asyncio.sleep(SETTLE_POLL)


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to at least ``needed`` (servers started
    afterwards inherit it); returns the new soft limit.  Raises OSError if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise OSError(f"{needed} file descriptors needed, hard limit RLIMIT_NOFILE is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    return soft


# --- the opener --------------------------------------------------------------------------------


class Upgrade(asyncio.Protocol):
    """One client connection: send the upgrade request, check the 101, then stay idle."""

    def __init__(self, host: str, port: int) -> None:
        key = generate_key()
        self.accept = accept_key(key).encode()
        self.request = (
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buffer = b""
        self.transport: Optional[asyncio.Transport] = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # idle: whatever the server sends later is not our concern
        self.buffer += data
        head, found, _ = self.buffer.partition(b"\r\n\r\n")
        if not found:
            if len(self.buffer) > 16384:
                self._fail("no end of the response head within 16 KiB")
            return
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 101"):
            self._fail(f"answer {lines[0].decode(errors='replace')!r}")
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"sec-websocket-accept") != self.accept:
            self._fail("wrong or missing Sec-WebSocket-Accept")
            return
        self.done.set_result(None)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = True
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed before the handshake completed ({exc})"))

    def _fail(self, why: str) -> None:
        self.done.set_exception(ConnectionError(f"handshake refused: {why}"))
        if self.transport is not None:
            self.transport.abort()


async def open_connections(port: int, count: int, into: list[Upgrade], host: str = HOST) -> None:
    """Open ``count`` handshaken connections, ``BATCH`` at a time, appending each to ``into``
    (the caller closes them, also when this raises)."""
    loop = asyncio.get_running_loop()

    async def one() -> None:
        protocol = Upgrade(host, port)
        into.append(protocol)
        await loop.create_connection(lambda: protocol, host, port)
        await protocol.done

    opened = 0
    while opened < count:
        batch = min(BATCH, count - opened)
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(one() for _ in range(batch)), return_exceptions=True), HANDSHAKE_TIMEOUT
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise errors[0]
        opened += batch


def close_all(protocols: Sequence[Upgrade]) -> None:
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.abort()  # an RST: nothing to wait for, on either side


async def _measure(server: Server, connections: int, progress: Progress, name: str) -> dict:
    protocols: list[Upgrade] = []
    try:
        await open_connections(server.port, WARMUP, protocols)
        before = await steady_rss_kib(server.pid)
        progress(f"{name}: {before:,} KiB with {WARMUP} warm-up connections; opening {connections:,} more")
        started = time.monotonic()
        await open_connections(server.port, connections, protocols)
        opened_s = time.monotonic() - started
        after = await steady_rss_kib(server.pid)
        lost = sum(1 for p in protocols if p.lost)
        if lost:
            raise ConnectionError(f"the server closed {lost} idle connection(s) before the reading")
        return {
            "ok": True,
            "status": "ok",
            "error": None,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "per_connection_kib": (after - before) / connections,
            "open_s": round(opened_s, 3),
        }
    finally:
        close_all(protocols)
        await asyncio.sleep(0)  # let the loop run the aborts' callbacks before it closes


def _failure(error: str, status: str = "failed") -> dict:
    return {
        "ok": False,
        "status": status,
        "error": error,
        "rss_before_kib": 0,
        "rss_after_kib": 0,
        "per_connection_kib": 0.0,
    }


def _skipped(why: str) -> dict:
    return _failure(why, "skipped")


def status(result: dict) -> str:
    """The status of one server's figures: "ok", "failed" or "skipped" (the measurement does not apply: raw TCP, an absent optional
    peer; not a failure) of one server's figures; files from before "status" existed said
    "skipped: ..." in the error."""
    if result.get("status") in ("ok", "failed", "skipped"):
        return result["status"]
    if result.get("ok"):
        return "ok"
    return "skipped" if str(result.get("error") or "").startswith("skipped") else "failed"


def reason(result: dict) -> str:
    """The first line of a server's error or skip reason ("" when it was measured)."""
    text = str(result.get("error") or "").splitlines()
    return text[0].removeprefix("skipped: ") if text else ""


def measure_one(name: str, connections: int, progress: Progress, core: int = 0) -> dict:
    """One server's figures (see :func:`measure_idle`); never raises for a server's failure."""
    from .runner import BenchError, ServerSkipped

    spec = SERVERS.get(name)
    if spec is None:
        return _failure(f"unknown server {name!r}")
    if spec.protocol != "ws":
        return _skipped(f"{name} is not a WebSocket server (no handshake)")
    try:
        server = start_server(name, core, progress)
    except ServerSkipped as exc:
        return _skipped(str(exc))
    except BenchError as exc:
        return _failure(f"did not start: {exc}")
    try:
        return asyncio.run(_measure(server, connections, progress, name))
    except ProcessLookupError:
        return _failure(f"server {name} exited during the measurement")
    except (OSError, asyncio.TimeoutError) as exc:
        # a dead server shows up as refused / reset connections: say so rather than the symptom
        try:
            rss_kib(server.pid)
        except ProcessLookupError:
            return _failure(f"server {name} exited during the measurement ({exc!r})")
        return _failure(f"{type(exc).__name__}: {exc}")
    finally:
        server.stop()


def measure_idle(server_names: Sequence[str], connections: int, progress: Progress) -> dict:
    """Server RSS growth per idle WebSocket connection, in KiB, for each server.

    Returns ``{"connections": N, "servers": {name: {"ok", "status", "error", "rss_before_kib",
    "rss_after_kib", "per_connection_kib"}}}`` (measured ones also have "open_s", the
    seconds the N handshakes took).  ``status`` is "ok", "failed" (the server failed to
    start, died or refused connections: ``error`` says how) or "skipped" (the measurement
    does not apply: raw TCP, an absent optional peer; ``error`` says why; not a failure);
    ``ok`` is ``status == "ok"``.  The other servers still run after a failure.
    """
    if connections < 1:
        raise ValueError("connections must be >= 1")
    results: dict[str, dict] = {}
    try:
        # Raised here, before the servers start, so they inherit it (they do not raise it themselves).
        raise_fd_limit(WARMUP + connections + FD_MARGIN)
    except (OSError, ValueError) as exc:
        return {"connections": connections, "servers": {name: _failure(str(exc)) for name in server_names}}
    for name in server_names:
        progress(f"{name}: starting")
        result = measure_one(name, connections, progress)
        results[name] = result
        if result["ok"]:
            progress(f"{name}: {result['per_connection_kib']:.1f} KiB per idle connection")
        elif result["status"] == "skipped":
            progress(f"{name}: skipped: {reason(result)}")
        else:
            progress(f"{name}: FAILED: {reason(result)}")
    return {"connections": connections, "servers": results}


def render_text(memory: dict) -> str:
    """The figures as a small table."""
    lines = [f"Memory per idle connection (server RSS growth / {memory['connections']:,} connections)"]
    for name, r in memory["servers"].items():
        label = SERVERS[name].label if name in SERVERS else name
        if r["ok"]:
            lines.append(
                f"  {label:<22} {r['per_connection_kib']:7.1f} KiB"
                f"   (RSS {r['rss_before_kib']:,} -> {r['rss_after_kib']:,} KiB)"
            )
        else:
            lines.append(f"  {label:<22}  {status(r)}: {reason(r)}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    default = [name for name in DEFAULT_SERVERS if SERVERS[name].protocol == "ws"]
    parser = argparse.ArgumentParser(
        prog="python -m fastws.bench.memory", description="Server memory per idle WebSocket connection."
    )
    parser.add_argument("--servers", default=",".join(default), help="comma-separated (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS, help="default %(default)s")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)} (known: {', '.join(SERVERS)})")
    if args.connections < 1:
        parser.error("--connections must be >= 1")

    def progress(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    memory = measure_idle(names, args.connections, progress)
    print(render_text(memory))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(memory, f, indent=1)
    return 1 if any(status(r) == "failed" for r in memory["servers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
