"""The measurement every load client shares.

A run is: connect, send the payload, and on every echo record the round-trip
time and send it again, one message in flight.  The first ``warmup`` seconds
are not measured; then the window opens (counters read: server CPU, this
process's CPU, activity on the benchmark cores), stays open ``duration``
seconds, and closes on the first echo after that (counters read again).
Messages = echoes received inside the window.

Clients call :meth:`Recorder.begin` just before their first send and, on each
echo, append the latency and call :meth:`Recorder.on_echo`: the length check,
the byte-for-byte comparison of the first and last echoes, and
:meth:`Recorder.advance` once ``now`` has passed :attr:`Recorder.deadline` (a
single integer comparison per message).  The outcome is :attr:`Recorder.done`,
a future the client awaits: resolved when the window closed, failed with the
first error.  :func:`await_loop` is the whole loop of an ``await send`` /
``await recv`` client.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Optional, Sequence

from .. import procstat
from ..common import make_message

WARMUP, MEASURING, DONE = range(3)


class EchoMismatch(AssertionError):
    """The server did not echo the payload unchanged."""


class Recorder:
    io = False  # also read /proc/<pid>/io byte counters at the window boundaries

    def __init__(self, command: dict, text_as_bytes: bool = False) -> None:
        """``text_as_bytes``: text messages are sent and read back as their UTF-8 bytes
        (picows), so ``payload`` is bytes and echoes are compared as bytes."""
        self.size: int = command["size"]
        self.kind: str = command.get("kind", "binary")
        self.text = self.kind == "text"
        self.payload: Any = make_message(self.size, self.kind)  # bytes, or str for text
        if self.text and text_as_bytes:
            self.payload = self.payload.encode()
        self.text_echo = isinstance(self.payload, str)  # an echo must be a str (else bytes-like)
        self.length = len(self.payload)  # what len() of an echo must be (characters for str)
        self.warmup_ns = int(command["warmup"] * 1e9)
        self.duration_ns = int(command["duration"] * 1e9)
        self.server_pid: Optional[int] = command.get("server_pid")
        self.cores: Sequence[int] = command.get("cores", ())
        self.latencies: list[int] = []  # ns, warm-up ones included (cut at ``first``)
        self.first = 0  # index of the first measured sample
        self.phase = WARMUP
        self.deadline = 0
        self.start: Optional[procstat.Snapshot] = None
        self.end: Optional[procstat.Snapshot] = None
        self.checked = 0  # messages compared byte for byte with the payload
        self.unchecked = True  # the first echo is still to be compared
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def begin(self) -> None:
        self.deadline = time.perf_counter_ns() + self.warmup_ns

    def advance(self, now: int) -> bool:
        """``now`` passed the deadline: open or close the window.  False: stop sending."""
        if self.phase == WARMUP:
            self.first = len(self.latencies)
            self.start = procstat.snapshot(self.server_pid, self.cores, self.io)
            self.deadline = self.start.wall_ns + self.duration_ns
            self.phase = MEASURING
            return True
        self.end = procstat.snapshot(self.server_pid, self.cores, self.io)
        self.end = self.end._replace(wall_ns=now)  # the window ends at the last echo
        self.phase = DONE
        return False

    def on_echo(self, message: Any, now: int) -> bool:
        """One echo received at ``now``: False to stop sending (the window closed, or an error:
        either way :attr:`done` is resolved)."""
        try:
            if len(message) != self.length:
                raise self.wrong_size(len(message))
            if self.unchecked:
                self.check(message)
                self.unchecked = False
            if now >= self.deadline and not self.advance(now):
                self.check(message)
                self.done.set_result(None)
                return False
        except Exception as exc:
            self.fail(exc)
            return False
        return True

    def at_deadline(self, now: int) -> bool:
        """``now`` passed :attr:`deadline`: :meth:`advance`, resolving :attr:`done` once the window
        closed.  False: stop sending (closed, or an error).  For clients that see no messages."""
        try:
            if self.advance(now):
                return True
            self.done.set_result(None)
        except Exception as exc:
            self.fail(exc)
        return False

    def fail(self, exc: BaseException) -> None:
        """End the run with ``exc`` (the first error wins)."""
        if not self.done.done():
            self.done.set_exception(exc)

    def check(self, message: Any) -> None:
        """Byte-for-byte comparison, done on the first and the last echo only."""
        if isinstance(message, str) != self.text_echo:
            raise EchoMismatch(f"echo is a {type(message).__name__}, sent a {self.kind} message")
        if (message if self.text_echo else bytes(message)) != self.payload:
            raise EchoMismatch(f"echo of {self.size} bytes differs from what was sent")
        self.checked += 1

    def wrong_size(self, got: int) -> EchoMismatch:
        unit = "characters" if self.text_echo else "bytes"
        return EchoMismatch(f"echo of {got} {unit}, expected {self.length}")

    def result(self) -> dict:
        if self.start is None or self.end is None:
            raise RuntimeError("the measured window never closed")
        samples = self.latencies[self.first :]
        count = len(samples)
        window = procstat.window(self.start, self.end)
        elapsed = window["elapsed_s"]
        samples.sort()
        out = {
            "ok": True,
            "kind": self.kind,
            "messages": count,
            "warmup_messages": self.first,
            "round_trips_per_s": count / elapsed if elapsed > 0 else 0.0,  # messages/s when pipelined
            "mb_per_s": count * self.size / elapsed / 1e6 if elapsed > 0 else 0.0,  # payload, each way
            "server_cpu_us_per_msg": window["server_cpu_s"] * 1e6 / count if count else None,
            "server_cpu_stat_us_per_msg": window["server_cpu_stat_s"] * 1e6 / count if count else None,
            "client_cpu_us_per_msg": window["client_cpu_s"] * 1e6 / count if count else None,
            "server_faults_per_msg": window["server_minflt"] / count if count else None,
            "client_faults_per_msg": window["client_minflt"] / count if count else None,
            "latency_us": _latency_summary(samples),
            "echo_checked": self.checked,
            **window,
        }
        # Client and server on one core, one message in flight: the core is always
        # running one of them (or someone else), so this is the rate they would
        # reach alone on the core, whatever the other tenants took.
        srv, cli = out["server_cpu_us_per_msg"], out["client_cpu_us_per_msg"]
        if srv and cli and len(self.cores) == 1:
            out["cpu_bound_round_trips_per_s"] = 1e6 / (srv + cli)
        # Share of the benchmark core(s) that went to other processes (tick resolution).
        if self.cores and elapsed > 0:
            others = window["cores_busy_s"] - window["client_cpu_s"] - window["server_cpu_s"]
            out["others_load"] = max(0.0, others) / (elapsed * len(self.cores))
            out["steal_load"] = window["cores_steal_s"] / (elapsed * len(self.cores))
        return out


def _latency_summary(sorted_ns: list[int]) -> dict:
    if not sorted_ns:
        return {}
    n = len(sorted_ns)

    def pct(p: float) -> float:
        return sorted_ns[min(n - 1, int(p / 100 * n))] / 1000

    return {
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": sorted_ns[-1] / 1000,
        "mean": sum(sorted_ns) / n / 1000,
    }


async def await_loop(
    recorder: Recorder, send: Callable[[Any], Awaitable[Any]], recv: Callable[[], Awaitable[Any]]
) -> None:
    """The loop of an ``await send`` / ``await recv`` client: one message in flight until the
    window closes; raises the first error."""
    payload = recorder.payload
    append = recorder.latencies.append
    on_echo = recorder.on_echo
    perf = time.perf_counter_ns
    recorder.begin()
    while True:
        sent = perf()
        await send(payload)
        message = await recv()
        now = perf()
        append(now - sent)
        if not on_echo(message, now):
            break
    await recorder.done


def ws_url(command: dict) -> str:
    return f"ws://{command['host']}:{command['port']}/"
