"""``fastws bench fanout``: one publisher, N subscribers, every message delivered to all of them.

Each server runs in its own process (pinned to core 0; the subscribers to core 1
when there are two cores) and forwards every message one connection sends to every
other connection: fastws through ``fastws.broadcast``, websockets through its
``broadcast()``, picows, aiohttp and Node's ws with a loop, and a raw TCP floor
that writes the same bytes to N plain sockets.  The subscribers are
``--processes`` processes of fastws callback clients (:mod:`.fanout_subscriber`),
which check every delivery (sequence number per connection, body byte for byte:
nothing lost, reordered, duplicated or altered).  The publisher (this process)
sends text messages stamped with their sequence number and send time
(CLOCK_MONOTONIC, shared by every process on the machine), one at a time: the next
goes out when every subscriber process has acked that the last one reached all of
its connections, so the figures are free of queueing from earlier messages.

Per (server, size, compression): server CPU time per delivered message (from
/proc, as the echo benchmark), delivery latency p50/p99 (send to receipt, over
every subscriber and measured message), the time for one message to reach all N,
bytes the server wrote per delivery.  The default run (1,000 subscribers, 64 B,
1 KiB and 16 KiB, with and without permessage-deflate) takes about 4 minutes;
``--subscribers 10000 --processes 4`` is the long run (10 to 15 minutes).

``fastws-redis-1`` / ``fastws-redis-2``: ``fastws serve --workers N`` with Topics and
the Redis backend, the publisher on one worker, the subscribers spread over all of
them by the kernel; their CPU figure is the whole process tree (redis-server too).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import resource
import shutil
import statistics
import sys
import itertools
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from . import machine, procstat
from .common import HOST, MAX_SIZE, format_size, parse_size
from .fanout_subscriber import bodies, compression_options, message, percentile
from .runner import PROJECT_ROOT, BenchError, ServerProcess, ServerSkipped, _env, _pin, _spawn, _tail
from .servers import node

SIZES = (64, 1024, 16 * 1024)
SUBSCRIBERS = 1000
PROCESSES = 2
DURATION = 2.0  # measured seconds per cell (at least MIN_MESSAGES messages)
WARMUP = 5  # unmeasured messages first (connections' first writes, lazy allocations)
MIN_MESSAGES = 10
MAX_MESSAGES = 20000
ACK_TIMEOUT = 60.0  # seconds for one message to reach every subscriber before the cell fails
START_TIMEOUT = 120.0  # seconds for the subscribers to open their connections
RESULTS_DIR = "fastws-bench-results"
REFERENCE = "fastws"
_cells = itertools.count()


@dataclass(frozen=True)
class FanoutServer:
    name: str
    label: str
    module: str  # ``python -m fastws.bench.servers.<module>``, or a .js script beside them
    protocol: str = "ws"  # "tcp": the raw floor
    deflate: bool = True  # supports permessage-deflate (runs in the compressed table)
    runtime: str = "python"
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    publish_path: str = "/"  # where the publisher connects (subscribers: "/"), plus the cell's "?t=topic"


SERVERS: dict[str, FanoutServer] = {
    s.name: s
    for s in (
        FanoutServer("raw-tcp", "raw TCP (floor)", "fanout_tcp", "tcp", deflate=False),
        FanoutServer("fastws", "fastws (C)", "fanout_fastws", env=(("FASTWS_PURE", "0"),)),
        FanoutServer("fastws-pure", "fastws (pure)", "fanout_fastws", env=(("FASTWS_PURE", "1"),)),
        FanoutServer("picows", "picows", "fanout_picows", deflate=False),
        FanoutServer("websockets", "websockets broadcast()", "fanout_websockets"),
        FanoutServer("aiohttp", "aiohttp", "fanout_aiohttp"),
        FanoutServer("node-ws", "Node ws + bufferutil", "node_ws_fanout.js", runtime="node"),
        # fastws serve --workers N with Topics + RedisHub, redis-server included in the CPU time
        *(
            FanoutServer(
                f"fastws-redis-{n}", f"fastws, {n} worker{'s' if n > 1 else ''} over Redis", "fanout_redis",
                args=("--workers", str(n)), publish_path="/publish",
            )  # fmt: skip
            for n in (1, 2)
        ),
    )
}
# Optional peers, skipped with a note when missing: node-ws (Node.js), fastws-redis-* (redis-server).
DEFAULT_SERVERS = ("raw-tcp", "fastws", "picows", "websockets", "aiohttp", "node-ws", "fastws-redis-1", "fastws-redis-2")


def launch(name: str, compression: bool, core: int, note: Any) -> ServerProcess:
    """Start fan-out server ``name`` (ServerSkipped: Node.js missing); wait_ready() is the caller's."""
    spec = SERVERS[name]
    extra = dict(spec.env)
    if spec.runtime == "node":
        setup = node.prepare(note)
        if not setup.ok:
            raise ServerSkipped(setup.reason)
        program = [setup.node, os.path.join(os.path.dirname(node.SCRIPT), spec.module), "--max-size", str(MAX_SIZE)]
        extra["FASTWS_BENCH_NODE_MODULES"] = setup.modules
        extra["WS_NO_BUFFER_UTIL"] = ""
    else:
        if spec.module == "fanout_redis" and not shutil.which("redis-server"):
            raise ServerSkipped("redis-server not found (Debian: apt-get install redis-server)")
        program = [sys.executable, "-m", f"fastws.bench.servers.{spec.module}"]
    deflate = ["--deflate", "equal"] if compression else []
    cmd = [*_pin(core), *program, "--host", HOST, "--watch-stdin", *spec.args, *deflate]
    return ServerProcess(name, *_spawn(cmd, extra, f"server {name}"))


class _Publisher:
    """The publishing connection: fastws's client, or a plain socket for the raw floor."""

    async def open(self, protocol: str, port: int, path: str) -> None:
        loop = asyncio.get_running_loop()
        if protocol == "tcp":
            self.transport, _ = await loop.create_connection(asyncio.Protocol, HOST, port)
            self.send = self.transport.write
        else:
            from fastws.client import connect

            # No compression on the publisher's own connection: the server's work is the fan-out.
            self.ws = await connect(f"ws://{HOST}:{port}{path}", max_size=MAX_SIZE, ping_interval=None, compression=None)
            send = self.ws.send
            self.send = lambda data: send(data, True, True)

    def close(self) -> None:
        if hasattr(self, "ws"):
            self.ws.abort()
        elif hasattr(self, "transport"):
            self.transport.close()


async def _subscribers(command: dict[str, Any], processes: int, core: int) -> list[asyncio.subprocess.Process]:
    procs = []
    total = command["connections"]
    for i in range(processes):
        share = total // processes + (1 if i < total % processes else 0)
        if not share:
            continue
        proc = await asyncio.create_subprocess_exec(
            *_pin(core), sys.executable, "-m", "fastws.bench.fanout_subscriber", limit=1 << 22,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=_env(), cwd=PROJECT_ROOT,
        )  # fmt: skip
        procs.append(proc)
        assert proc.stdin is not None
        proc.stdin.write((json.dumps({**command, "connections": share}) + "\n").encode())
        await proc.stdin.drain()
    return procs


async def _line(proc: asyncio.subprocess.Process, timeout: float) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        raise BenchError(f"subscriber process exited with status {await proc.wait()}")
    return line.decode().strip()


WARMUP_ACK_TIMEOUT = 2.0


class AckTimeout(BenchError):
    """A message did not reach every subscriber in time: whatever was coming has come."""


async def _await_ack(proc: asyncio.subprocess.Process, seq: int, warming_up: bool, timeout: float) -> None:
    """Read ``proc``'s acks up to the one of message ``seq``.

    A warm-up message may miss a connection the server registers a little after its
    handshake (aiohttp adds it once ``prepare()`` returns): its ack is waited for
    :data:`WARMUP_ACK_TIMEOUT` at most, and a late one is skipped when it comes.
    """
    deadline = time.monotonic() + (min(timeout, WARMUP_ACK_TIMEOUT) if warming_up else timeout)
    while True:
        try:
            ack = await _line(proc, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            if warming_up:
                return
            raise AckTimeout(f"message {seq} did not reach every subscriber within {timeout:g} s") from None
        words = ack.split()
        if len(words) != 2 or words[0] != "a" or not words[1].lstrip("-").isdigit() or int(words[1]) > seq:
            raise BenchError(f"subscriber: {ack!r} after message {seq}")
        if int(words[1]) == seq:
            return
        if int(words[1]) < 0:
            raise BenchError(f"a subscriber failed at message {seq}")


async def run_cell(
    server: ServerProcess, protocol: str, size: int, compression: bool, subscribers: int,
    processes: int, duration: float, warmup: int, core: int, ack_timeout: float = ACK_TIMEOUT,
    publish_path: str = "/",
) -> dict[str, Any]:  # fmt: skip
    """One measured cell; a dict with ``ok`` False and ``error`` when it could not be made."""
    topic = f"t{os.getpid()}-{next(_cells)}"  # a fresh topic per cell (the Redis servers' streams)
    command = {
        "host": HOST, "port": server.port, "protocol": protocol, "connections": subscribers,
        "size": size, "compression": compression, "warmup": warmup, "path": f"/?t={topic}",
    }  # fmt: skip
    procs = await _subscribers(command, processes, core)
    publisher = _Publisher()
    seq = sent = 0
    try:
        for proc in procs:
            line = await _line(proc, START_TIMEOUT)
            if not line.startswith("{") or not json.loads(line).get("ready"):  # "a -1": failed while connecting
                raise BenchError(f"a subscriber process could not connect: {line}")
        await publisher.open(protocol, server.port, f"{publish_path}?t={topic}")
        tree = process_tree(server.pid)
        await asyncio.sleep(0.05)  # the server has seen the publisher's handshake complete
        pool = bodies(size)
        fanout_ns: list[int] = []
        start: Optional[tuple[Optional[int], tuple[int, int], float, tuple[int, int]]] = None
        measure_until = 0.0
        while True:
            if seq == warmup:
                start = (tree_runtime_ns(tree), procstat.io_chars(server.pid), time.monotonic(), tree_ticks(tree))
                measure_until = time.monotonic() + duration
            t0 = time.monotonic_ns()
            publisher.send(message(seq, pool[seq % len(pool)], t0))
            sent += 1
            for proc in procs:
                await _await_ack(proc, seq, seq < warmup, ack_timeout)
            if seq >= warmup:
                fanout_ns.append(time.monotonic_ns() - t0)
            seq += 1
            measured = seq - warmup
            if measured >= MAX_MESSAGES or (measured >= MIN_MESSAGES and time.monotonic() >= measure_until):
                break
        end = (tree_runtime_ns(tree), procstat.io_chars(server.pid), time.monotonic(), tree_ticks(tree))
        results = []
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"stop %d\n" % (seq - 1))
            await proc.stdin.drain()
        for proc in procs:
            results.append(json.loads(await _line(proc, 30)))
    except (BenchError, asyncio.TimeoutError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, BenchError) else str(exc)
        # A subscriber's own error says more (e.g. which message was lost).  After an ack timeout,
        # each one also checks that every connection got every message; otherwise deliveries may
        # still be on their way: "abort" skips that check.
        verb = b"stop" if isinstance(exc, AckTimeout) else b"abort"
        for proc in procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.write(b"%s %d\n" % (verb, sent - 1))
        for proc in procs:
            try:
                while True:
                    line = await _line(proc, 5)
                    if line.startswith("{") and not json.loads(line).get("ok", True):
                        error = json.loads(line)["error"]
                        break
            except Exception:
                pass
        return {"ok": False, "error": error}
    finally:
        publisher.close()
        for proc in procs:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
    failed = [r for r in results if not r.get("ok")]
    if failed:
        return {"ok": False, "error": failed[0].get("error")}
    assert start is not None
    messages = seq - warmup
    deliveries = messages * subscribers
    counted = sum(r["measured"] for r in results)
    if counted != deliveries:
        return {"ok": False, "error": f"{counted} measured deliveries, expected {deliveries}"}
    histogram: dict[int, int] = {}
    for r in results:
        for bucket, count in r["histogram"].items():
            histogram[int(bucket)] = histogram.get(int(bucket), 0) + count
    cpu_ns = end[0] - start[0] if start[0] is not None and end[0] is not None else None
    elapsed = end[2] - start[2]
    return {
        "ok": True,
        "messages": messages,
        "deliveries": deliveries,
        "elapsed_s": elapsed,
        "deliveries_per_s": deliveries / elapsed,
        "server_cpu_s": cpu_ns / 1e9 if cpu_ns is not None else None,
        "server_cpu_us_per_delivery": cpu_ns / 1e3 / deliveries if cpu_ns is not None else None,
        "server_wchar_per_delivery": (end[1][1] - start[1][1]) / deliveries,
        # The same CPU time split (10 ms ticks): user = the library and Python, system = the
        # kernel's work for it, mostly the TCP path of each write (the same for every server).
        "server_user_us_per_delivery": (end[3][0] - start[3][0]) * 1e6 / procstat.CLK_TCK / deliveries,
        "server_system_us_per_delivery": (end[3][1] - start[3][1]) * 1e6 / procstat.CLK_TCK / deliveries,
        "client_cpu_us_per_delivery": sum(r["cpu_s"] for r in results) * 1e6 / (seq * subscribers),
        "latency_ms": {
            "p50": _ms(percentile(histogram, 0.50)),
            "p99": _ms(percentile(histogram, 0.99)),
        },
        "fanout_ms": {
            "p50": statistics.median(fanout_ns) / 1e6,
            "max": max(fanout_ns) / 1e6,
        },
    }


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a launcher's redis-server and workers), from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children", encoding="ascii") as f:
                    todo.extend(int(child) for child in f.read().split())
        except OSError:
            pass  # gone, or no children file on this kernel: the process itself still counts
    return found


def tree_ticks(pids: Sequence[int]) -> tuple[int, int]:
    """(user, system) clock ticks of ``pids``; a process that is gone counts 0."""
    user = system = 0
    for pid in pids:
        try:
            u, k = procstat.user_system_ticks(pid)
        except (OSError, ValueError):
            continue
        user, system = user + u, system + k
    return user, system


def tree_runtime_ns(pids: Sequence[int]) -> Optional[int]:
    """CPU time of ``pids`` (each over its threads), ns; None when the server itself has none."""
    total = 0
    for i, pid in enumerate(pids):
        runtime = procstat.sched_runtime_ns(pid)
        if runtime is None and i == 0:
            return None
        total += runtime or 0
    return total


def _ms(us: Optional[float]) -> Optional[float]:
    return us / 1000 if us is not None else None


def plan(servers: Sequence[str], compressions: Sequence[bool]) -> list[tuple[str, bool]]:
    """(server, compression) groups; a server without permessage-deflate is left out of the compressed table."""
    return [(name, c) for c in compressions for name in servers if not c or SERVERS[name].deflate]


async def run_all(args: argparse.Namespace, note: Any) -> dict[str, Any]:
    """Every (server, compression) group in a shuffled order per round, each over every size."""
    cpus = os.cpu_count() or 1
    server_core, client_core = (0, 1) if cpus >= 2 else (0, 0)
    runs: list[dict[str, Any]] = []
    servers_info: dict[str, dict[str, Any]] = {}
    groups = plan(args.servers, args.compressions)
    total = len(groups) * len(args.sizes) * args.repeat
    done = 0
    for rep in range(args.repeat):
        order = list(groups)
        random.Random(f"fanout/{rep}").shuffle(order)
        for name, compression in order:
            key = f"{name}{'+deflate' if compression else ''}"
            try:
                server = launch(name, compression, server_core, note)
            except ServerSkipped as exc:
                note(f"{key}: skipped: {exc}")
                servers_info[key] = {"status": "skipped", "error": str(exc)}
                for size in args.sizes:
                    runs.append(_run(name, compression, size, rep, {"ok": False, "status": "skipped", "error": str(exc)}))
                done += len(args.sizes)
                continue
            try:
                server.wait_ready(time.monotonic() + 30)
                servers_info[key] = {"status": "ok", **server.info}
                for size in args.sizes:
                    result = await run_cell(
                        server, SERVERS[name].protocol, size, compression, args.subscribers,
                        args.processes, args.duration, args.warmup, client_core,
                        publish_path=SERVERS[name].publish_path,
                    )  # fmt: skip
                    if not result["ok"] and not server.alive():
                        result["error"] = server.exit_error() + f"\n(publisher saw: {result['error']})"
                    elif not result["ok"]:
                        result["server_stderr"] = _tail(server.log)
                    runs.append(_run(name, compression, size, rep, result))
                    done += 1
                    note(f"[{done}/{total}] {describe(runs[-1])}")
            except BenchError as exc:
                note(f"FAILED: {key}: {str(exc).splitlines()[0]}")
                servers_info[key] = {"status": "failed", "error": str(exc)}
                for size in args.sizes:
                    if not any(r["server"] == name and r["size"] == size and r["rep"] == rep and r["compression"] == compression for r in runs):
                        runs.append(_run(name, compression, size, rep, {"ok": False, "error": str(exc)}))
            finally:
                server.stop()
    return {"runs": runs, "servers": servers_info}


def _run(name: str, compression: bool, size: int, rep: int, result: dict[str, Any]) -> dict[str, Any]:
    return {"server": name, "compression": compression, "size": size, "rep": rep, "result": result}


def describe(run: dict[str, Any]) -> str:
    r = run["result"]
    head = f"{run['server']:>10}{' deflate' if run['compression'] else '        '} {format_size(run['size']):>7}"
    if not r["ok"]:
        return f"{head}  {'skipped' if r.get('status') == 'skipped' else 'FAILED'}: {(r.get('error') or '?').splitlines()[0]}"
    return (
        f"{head}  {r['messages']:>5} msgs  server {r['server_cpu_us_per_delivery']:7.3f} µs/delivery  "
        f"p50 {r['latency_ms']['p50']:7.2f} ms  p99 {r['latency_ms']['p99']:7.2f} ms  "
        f"all {r['fanout_ms']['p50']:7.2f} ms"
    )


# --- the report ---------------------------------------------------------------------------


Summary = dict[tuple[str, bool, int], dict[str, Any]]


def summarise(data: dict[str, Any]) -> Summary:
    """Medians over rounds per (server, compression, size): {(name, compression, size): figures}."""
    groups: dict[tuple[str, bool, int], list[dict[str, Any]]] = {}
    for run in data["runs"]:
        groups.setdefault((run["server"], run["compression"], run["size"]), []).append(run["result"])
    out: Summary = {}
    for key, results in groups.items():
        good = [r for r in results if r["ok"]]
        if not good:
            bad = results[0]
            out[key] = {"ok": False, "status": bad.get("status", "failed"), "error": bad.get("error")}
            continue

        def med(get: Any) -> Optional[float]:
            values = [v for v in (get(r) for r in good) if v is not None]
            return statistics.median(values) if values else None

        out[key] = {
            "ok": True,
            "cpu_us": med(lambda r: r["server_cpu_us_per_delivery"]),
            "cpu_s": med(lambda r: r["server_cpu_s"]),
            "p50_ms": med(lambda r: r["latency_ms"]["p50"]),
            "p99_ms": med(lambda r: r["latency_ms"]["p99"]),
            "all_ms": med(lambda r: r["fanout_ms"]["p50"]),
            "wire_bytes": med(lambda r: r["server_wchar_per_delivery"]),
            "user_us": med(lambda r: r.get("server_user_us_per_delivery")),
            "system_us": med(lambda r: r.get("server_system_us_per_delivery")),
            "messages": sum(r["messages"] for r in good),
        }
    # Ratios to fastws taken round by round (the two servers ran minutes apart at most, not a
    # whole run apart), then the median: a shared machine's drift cancels out more.
    cpu = {
        (r["server"], r["compression"], r["size"], r["rep"]): r["result"]["server_cpu_us_per_delivery"]
        for r in data["runs"]
        if r["result"]["ok"] and r["result"].get("server_cpu_us_per_delivery")
    }
    for (name, compression, size, rep), value in cpu.items():
        ref = cpu.get((REFERENCE, compression, size, rep))
        if ref and name != REFERENCE:
            out[(name, compression, size)].setdefault("ratios", []).append(value / ref)
    for entry in out.values():
        if entry.get("ratios"):
            entry["ratio"] = statistics.median(entry["ratios"])
    return out


def _cell(entry: Optional[dict[str, Any]]) -> str:
    if entry is None:
        return "-"
    if not entry["ok"]:
        return "skipped" if entry.get("status") == "skipped" else "FAILED"
    text = f"{entry['cpu_us']:.3f} µs"
    if entry.get("ratio"):
        text += f" (x{entry['ratio']:.2f})"
    return f"{text}; {entry['p50_ms']:.1f} / {entry['p99_ms']:.1f} ms"


def tables(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per compression setting."""
    summary = summarise(data)
    config = data["config"]
    out = []
    for compression in config["compressions"]:
        names = [n for n, c in plan(config["servers"], [compression])]
        header = ["server"] + [f"{format_size(s)}: CPU/delivery; p50 / p99" for s in config["sizes"]]
        rows = []
        for name in names:
            row = [SERVERS[name].label]
            for size in config["sizes"]:
                row.append(_cell(summary.get((name, compression, size))))
            rows.append(row)
        title = (
            f"Fan-out, {'permessage-deflate (level 1, 12-bit windows)' if compression else 'no compression'}: "
            f"1 publisher -> {config['subscribers']} subscribers; server CPU per delivered message "
            f"(x: ratio to fastws, median of the rounds' ratios), delivery latency p50 / p99"
        )
        out.append((title, header, rows))
    split = _split_table(summary, config)
    if split is not None:
        out.append(split)
    return out


def _split_table(summary: Summary, config: dict[str, Any]) -> Optional[tuple[str, list[str], list[list[str]]]]:
    """The CPU per delivery split into user (the library, Python) and system (the kernel):
    at small sizes the kernel's TCP path is most of it, and the same for every server."""
    rows = []
    for compression in config["compressions"]:
        for name, _ in plan(config["servers"], [compression]):
            cells = [summary.get((name, compression, size)) for size in config["sizes"]]
            if not any(c and c.get("ok") and c.get("user_us") is not None for c in cells):
                continue
            row = [SERVERS[name].label + (", deflate" if compression else "")]
            for c in cells:
                ok = c and c.get("ok") and c.get("user_us") is not None
                row.append(f"{c['user_us']:.2f} / {c['system_us']:.2f}" if ok else "-")  # type: ignore[index]
            rows.append(row)
    if not rows:
        return None  # results saved before the split was recorded
    header = ["server"] + [f"{format_size(s)}: user / system µs" for s in config["sizes"]]
    title = ("Server CPU per delivery, split: user (the library and Python) / system (the kernel, "
             "mostly each write's TCP path; medians of the rounds, 10 ms ticks)")  # fmt: skip
    return title, header, rows


def render_text(data: dict[str, Any]) -> str:
    parts = []
    for title, header, rows in tables(data):
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\n" + _target(data)


def render_markdown(data: dict[str, Any]) -> str:
    parts = []
    for title, header, rows in tables(data):
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _target(data: dict[str, Any]) -> str:
    """The targets: the lowest CPU per delivery of the WebSocket servers; with deflate, >= 5x less than websockets."""
    summary = summarise(data)
    lines = []
    for (name, compression, size), entry in sorted(summary.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if name != REFERENCE or not entry["ok"]:
            continue
        others = {
            n: e for (n, c, s), e in summary.items()
            if c == compression and s == size and not n.startswith("fastws") and n != "raw-tcp" and e.get("ratio")
        }  # fmt: skip
        best = min(others.items(), key=lambda kv: kv[1]["ratio"], default=None)
        what = f"{format_size(size)}{' deflate' if compression else ''}: fastws {entry['cpu_us']:.3f} µs"
        if best:
            verdict = "lowest" if best[1]["ratio"] > 1 else "NOT lowest"
            what += f"; closest {best[0]} x{best[1]['ratio']:.2f} ({verdict})"
        ws = others.get("websockets")
        if compression and ws:
            what += f"; websockets / fastws = {ws['ratio']:.1f}x (target >= 5x)"
        lines.append(what)
    return "targets (ratios: medians of the per-round ratios):\n  " + "\n  ".join(lines) if lines else ""


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastws bench fanout",
        description=__doc__.split("\n\n")[0] + "  " + " ".join(__doc__.split("\n\n")[1].split()),
    )
    p.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help=f"comma-separated, of: {', '.join(SERVERS)}")
    p.add_argument("--sizes", default="64,1K,16K", help="message sizes (default 64,1K,16K; at least 26 B)")
    p.add_argument("--subscribers", type=int, default=SUBSCRIBERS, help=f"subscriber connections (default {SUBSCRIBERS})")
    p.add_argument("--processes", type=int, default=PROCESSES, help=f"subscriber processes (default {PROCESSES})")
    p.add_argument(
        "--compression", choices=("both", "off", "on"), default="both",
        help="without permessage-deflate, with it, or both tables (default)",
    )  # fmt: skip
    p.add_argument("--duration", type=float, default=DURATION, help=f"measured seconds per cell (default {DURATION})")
    p.add_argument("--warmup", type=int, default=WARMUP, help=f"unmeasured messages per cell (default {WARMUP})")
    p.add_argument("--repeat", type=int, default=1, help="rounds (default 1; the report takes medians)")
    p.add_argument("--quick", action="store_true", help="smoke run: 50 subscribers, 0.2 s per cell")
    p.add_argument("--json", metavar="PATH", help="results file (default fastws-bench-results/fanout-<UTC time>.json)")
    p.add_argument("--no-json", action="store_true")
    p.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    p.add_argument("--report", metavar="JSON", help="render a saved result instead of running")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    argv = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(argv)
    if args.report:
        try:
            with open(args.report, encoding="utf-8") as f:
                data = json.load(f)
            print(render_text(data))
            if args.markdown:
                print("\n" + render_markdown(data))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"--report: {args.report}: not a fan-out results file ({type(exc).__name__}: {exc})")
        return 0
    if args.quick:
        given = {a.split("=")[0] for a in argv}
        args.subscribers = args.subscribers if "--subscribers" in given else 50
        args.duration = args.duration if "--duration" in given else 0.2
    try:
        args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server: {', '.join(unknown)} (known: {', '.join(SERVERS)})")
    if any(s <= 25 for s in args.sizes):
        parser.error("--sizes: a fan-out message holds a 25-byte header: sizes must be at least 26")
    if args.subscribers < 1 or args.processes < 1 or args.duration <= 0 or args.warmup < 0 or args.repeat < 1:
        parser.error("--subscribers, --processes and --repeat must be >= 1, --duration > 0, --warmup >= 0")
    args.compressions = {"both": [False, True], "off": [False], "on": [True]}[args.compression]
    _raise_file_limit(args.subscribers + 64)
    note = (lambda _t: None) if args.quiet else (lambda t: print(t, file=sys.stderr, flush=True))
    info = machine.describe()
    started = time.time()
    import uvloop

    session = uvloop.run(run_all(args, note)) if hasattr(uvloop, "run") else asyncio.run(run_all(args, note))
    info["loadavg_end"] = machine.loadavg()
    data = {
        "benchmark": "fanout",
        "format": 1,
        "machine": info,
        "config": {
            "servers": args.servers,
            "sizes": args.sizes,
            "subscribers": args.subscribers,
            "processes": args.processes,
            "compressions": args.compressions,
            "duration": args.duration,
            "warmup": args.warmup,
            "repeat": args.repeat,
            "argv": list(argv if argv is not None else sys.argv[1:]),
        },
        **session,
        "wall_time_s": time.time() - started,
    }
    print(render_text(data))
    if args.markdown:
        print("\n" + render_markdown(data))
    if not args.no_json:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = args.json or os.path.join(RESULTS_DIR, f"fanout-{stamp}.json")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        print(f"\nresults: {path}", file=sys.stderr)
    failed = [r for r in data["runs"] if not r["result"]["ok"] and r["result"].get("status") != "skipped"]
    if failed:
        print(f"{len(failed)} cell(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _raise_file_limit(wanted: int) -> None:
    """Servers and subscribers inherit this process's limit on open files: N sockets each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(wanted, soft)), hard))


if __name__ == "__main__":
    sys.exit(main())
