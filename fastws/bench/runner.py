"""Start the servers and the client workers, interleave the runs, collect the results.

Order: for each size, ``repeat`` rounds of every (server, client) pair
(A B C ... A B C ...), each round starting one pair later than the previous,
so no pair always runs right after the same neighbour.  Runs of one size are
therefore close in time, and the ratios are taken within a round.

Every server and client worker is its own process, pinned with ``taskset``:
all on core 0 by default (a wake-up on the other core costs tens of µs on
these VMs: it would measure the scheduler), clients on core 1 with
``split_cores``.  Servers stay up for the whole session; an idle server costs
nothing.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Callable, Optional, Sequence

from .clients import CLIENTS
from .common import HOST, format_size
from .modes import Case, Table, cases_of
from .servers import SERVERS

START_TIMEOUT = 30.0
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Config:
    sizes: Sequence[int]
    duration: float
    warmup: float
    repeat: int
    split_cores: bool = False
    server_core: int = 0
    client_core: int = 0
    extra: dict = field(default_factory=dict)  # more command fields for the clients (e.g. "window")

    def __post_init__(self) -> None:
        if self.split_cores and self.client_core == self.server_core:
            self.client_core = self.server_core + 1

    @property
    def cores(self) -> list[int]:
        return sorted({self.server_core, self.client_core})


class BenchError(RuntimeError):
    pass


def _pin(core: int) -> list[str]:
    """Command prefix that pins a process to ``core`` (empty where taskset is missing)."""
    if shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def _env(extra: Optional[dict] = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("FASTWS_PURE", None)  # only the registry decides which codec a server runs
    env.update(extra or {})
    return env


class LineReader:
    """Lines from a child's stdout with a deadline (select + os.read, with its own buffer:
    a buffered file object could hold a complete line that select would never report)."""

    def __init__(self, proc: subprocess.Popen, what: str, log: IO[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.what = what
        self.log = log
        self.buffer = b""

    def readline(self, deadline: float) -> str:
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{self.what}: no answer within the time limit{_tail(self.log)}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                raise BenchError(f"{self.what} exited with status {self.proc.returncode}{_tail(self.log)}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def _tail(log: IO[bytes], limit: int = 3000) -> str:
    try:
        log.flush()
        log.seek(0)
        text = log.read().decode(errors="replace")[-limit:]
    except (OSError, ValueError):
        return ""
    return f"; its stderr:\n{text}" if text.strip() else ""


@dataclass
class ServerProcess:
    name: str
    proc: subprocess.Popen
    log: IO[bytes]
    port: int = 0
    pid: int = 0
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reader = LineReader(self.proc, f"server {self.name}", self.log)


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    log: IO[bytes]
    version: str = "?"

    def __post_init__(self) -> None:
        self.reader = LineReader(self.proc, f"client worker {self.name}", self.log)

    def run(self, command: dict) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        limit = command["warmup"] + command["duration"] + 60
        return json.loads(self.reader.readline(time.monotonic() + limit))


class Session:
    """The processes of one benchmark session; use as a context manager (stops them all)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.servers: dict[str, ServerProcess] = {}
        self.workers: dict[str, Worker] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, server_names: Sequence[str], client_names: Sequence[str]) -> None:
        """Start everything at once (they import in parallel), then wait for each one."""
        for name in server_names:
            spec = SERVERS[name]
            log = tempfile.TemporaryFile()
            cmd = [
                *_pin(self.config.server_core),
                sys.executable,
                "-m",
                spec.module,
                "--host",
                HOST,
                "--watch-stdin",
                *spec.args,
            ]
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=_env(dict(spec.env)),
                cwd=PROJECT_ROOT,
            )
            self.servers[name] = ServerProcess(name, proc, log)
        for name in client_names:
            log = tempfile.TemporaryFile()
            cmd = [*_pin(self.config.client_core), sys.executable, "-m", "fastws.bench.worker", name]
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=_env(), cwd=PROJECT_ROOT
            )
            self.workers[name] = Worker(name, proc, log)
        deadline = time.monotonic() + START_TIMEOUT
        for server in self.servers.values():
            what = f"server {server.name}"
            line = server.reader.readline(deadline)
            if not line.startswith("# "):
                raise BenchError(f"{what}: unexpected first line {line!r}")
            server.info = json.loads(line[2:])
            server.port = int(server.reader.readline(deadline))
            server.pid = server.proc.pid  # taskset execs python: same process
            if server.info.get("pid") != server.pid:
                raise BenchError(f"{what}: reports pid {server.info.get('pid')}, started as {server.pid}")
        for worker in self.workers.values():
            ready = json.loads(worker.reader.readline(deadline))
            worker.version = ready.get("version", "?")

    def run(self, case: Case, size: int) -> dict:
        server = self.servers[case.server]
        if server.proc.poll() is not None:
            return {
                "ok": False,
                "error": f"server {case.server} exited with status {server.proc.returncode}"
                + _tail(server.log),
            }
        command = {
            "host": HOST,
            "port": server.port,
            "size": size,
            "warmup": self.config.warmup,
            "duration": self.config.duration,
            "server_pid": server.pid,
            "cores": self.config.cores,
            **self.config.extra,
        }
        try:
            return self.workers[case.client].run(command)
        except BenchError as exc:
            return {"ok": False, "error": str(exc)}

    def close(self) -> None:
        for worker in self.workers.values():
            _stop(worker.proc, quit_line=b'{"op": "quit"}\n')
        for server in self.servers.values():
            _stop(server.proc)
        for handle in [*self.workers.values(), *self.servers.values()]:
            try:
                handle.log.close()
            except OSError:
                pass


def _stop(proc: subprocess.Popen, quit_line: Optional[bytes] = None) -> None:
    if proc.poll() is not None:
        return
    try:
        if quit_line and proc.stdin:
            proc.stdin.write(quit_line)
        if proc.stdin:
            proc.stdin.close()  # servers watch stdin: EOF stops them
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def schedule(cases: Sequence[Case], sizes: Sequence[int], repeat: int) -> list[tuple[int, int, Case]]:
    """(size, rep, case) in run order: per size, ``repeat`` interleaved rounds."""
    order = []
    for size in sizes:
        for rep in range(repeat):
            shift = rep % len(cases) if cases else 0
            for case in [*cases[shift:], *cases[:shift]]:
                order.append((size, rep, case))
    return order


Progress = Callable[[int, int, dict], None]


def run_session(config: Config, tables: Sequence[Table], progress: Optional[Progress] = None) -> dict:
    """Run every case of ``tables``; returns the raw material of the report (JSON-able)."""
    cases = cases_of(tables)
    server_names = list(dict.fromkeys(c.server for c in cases))
    client_names = list(dict.fromkeys(c.client for c in cases))
    for name in client_names:
        if name not in CLIENTS and ":" not in name:
            raise BenchError(f"unknown client {name!r}")
    plan = schedule(cases, config.sizes, config.repeat)
    runs: list[dict] = []
    started = time.time()
    with Session(config) as session:
        session.start(server_names, client_names)
        for index, (size, rep, case) in enumerate(plan):
            result = session.run(case, size)
            run = {
                "case": case.key,
                "server": case.server,
                "client": case.client,
                "size": size,
                "rep": rep,
                "index": index,
                "result": result,
            }
            runs.append(run)
            if progress is not None:
                progress(index + 1, len(plan), run)
        servers = {name: {"pid": s.pid, "port": s.port, **s.info} for name, s in session.servers.items()}
        workers = {name: {"version": w.version} for name, w in session.workers.items()}
    return {
        "runs": runs,
        "servers": servers,
        "workers": workers,
        "wall_time_s": time.time() - started,
    }


def describe_run(run: dict) -> str:
    """One progress line."""
    r = run["result"]
    head = (
        f"{format_size(run['size']):>8}  round {run['rep'] + 1}  {run['server']:>11} <- {run['client']:<12}"
    )
    if not r.get("ok"):
        return f"{head}  FAILED: {r.get('error', '?').splitlines()[0]}"
    others = f"  others {r['others_load'] * 100:3.0f}%" if "others_load" in r else ""
    return (
        f"{head}  {r['round_trips_per_s']:>9,.0f} rt/s  server {r['server_cpu_us_per_msg']:7.2f} µs"
        f"  client {r['client_cpu_us_per_msg']:7.2f} µs  p50 {r['latency_us']['p50']:8.1f} µs{others}"
    )
