"""Start the servers and the client workers, interleave the runs, collect the results.

Order: for each size, ``repeat`` rounds of every (server, client, kind) case
whose table has that size, each round in its own shuffled order (seeded, so a
session's order is reproducible): no case always runs first, or right after
the same neighbour. A fixed order showed a position effect of up to 15% on
the one-message round trip on these VMs (the same two servers swapped places
when the order was reversed). Runs of one size are close in time, and the
ratios are taken within a round.

A server that fails to start or dies, or an optional peer that cannot run
(Node.js missing), does not stop the session: its runs are recorded as
failed (or skipped) at once and the others go on.  :func:`start_server`
starts one server by name for other tools (the memory table).

Every server and client worker is its own process, pinned with ``taskset``:
all on core 0 by default (a wake-up on the other core costs tens of µs on
these VMs: it would measure the scheduler), clients on core 1 with
``split_cores``.  Servers stay up for the whole session; an idle server costs
nothing.
"""

from __future__ import annotations

import json
import random
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
from .common import HOST, MAX_SIZE, format_size
from .modes import Case, Table, cases_of
from .servers import SERVERS, node

START_TIMEOUT = 30.0
ANSWER_SLACK = 60.0  # seconds beyond warm-up + duration before a client worker counts as stuck
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


def _spawn(cmd: list[str], env: Optional[dict], what: str) -> tuple[subprocess.Popen, IO[bytes]]:
    """Start ``cmd`` with pipes on stdin and stdout and its stderr in a temporary file (returned);
    BenchError if it cannot be started."""
    log = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=_env(env), cwd=PROJECT_ROOT
        )
    except OSError as exc:
        log.close()
        raise BenchError(f"{what}: cannot start {cmd[0]}: {exc}") from exc
    return proc, log


def _tail(log: IO[bytes], limit: int = 3000) -> str:
    try:
        log.flush()
        log.seek(0)
        text = log.read().decode(errors="replace")[-limit:]
    except (OSError, ValueError):
        return ""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    # the last line first (usually the exception), so one-line summaries say what went wrong
    return f" ({lines[-1][:200]}); its stderr:\n{text}" if lines else ""


class ServerSkipped(BenchError):
    """An optional peer whose runtime is missing (Node.js): left out, not a failure."""


Note = Callable[[str], None]


def _stderr_note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class ServerProcess:
    """One echo server in its own process, pinned to a core.

    Usually made by :func:`start_server`; :meth:`launch` + :meth:`wait_ready`
    start several at once (they import in parallel).  ``port`` and ``pid`` are
    known once ready, ``info`` is the server's ready line (implementation,
    versions).  :meth:`stop` ends it (stdin EOF, then SIGTERM, then SIGKILL).
    """

    def __init__(self, name: str, proc: subprocess.Popen, log: IO[bytes]) -> None:
        self.name = name
        self.proc = proc
        self.log = log
        self.port = 0
        self.pid = proc.pid  # taskset execs the server: same process
        self.info: dict = {}
        self.reader = LineReader(proc, f"server {name}", log)

    @classmethod
    def launch(cls, name: str, core: int = 0, note: Note = _stderr_note) -> ServerProcess:
        """Start server ``name`` (a key of ``SERVERS``) without waiting for it.

        Raises :class:`ServerSkipped` for an optional peer that cannot run here,
        :class:`BenchError` when the process cannot be started.
        """
        spec = SERVERS.get(name)
        if spec is None:
            raise BenchError(f"unknown server {name!r}")
        extra = dict(spec.env)
        if spec.runtime == "node":
            setup = node.prepare(note)
            if not setup.ok:
                raise ServerSkipped(setup.reason)
            program = [setup.node, os.path.join(os.path.dirname(node.SCRIPT), spec.module)]
            extra["FASTWS_BENCH_NODE_MODULES"] = setup.modules
            extra["WS_NO_BUFFER_UTIL"] = ""  # an inherited non-empty value would turn bufferutil off
        else:
            program = [sys.executable, "-m", spec.module]
        cmd = [*_pin(core), *program, "--host", HOST, "--watch-stdin", *spec.args]
        if spec.runtime == "node":
            cmd += ["--max-size", str(MAX_SIZE)]
        return cls(name, *_spawn(cmd, extra, f"server {name}"))

    def wait_ready(self, deadline: float) -> None:
        """Read the ready lines (``# {json}``, then the port); BenchError if they do not come."""
        what = f"server {self.name}"
        line = self.reader.readline(deadline)
        if not line.startswith("# "):
            raise BenchError(f"{what}: unexpected first line {line!r}{_tail(self.log)}")
        self.info = json.loads(line[2:])
        self.port = int(self.reader.readline(deadline))
        if self.info.get("pid") != self.pid:
            raise BenchError(f"{what}: reports pid {self.info.get('pid')}, started as {self.pid}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def exit_error(self) -> str:
        code, tail = self.proc.returncode, _tail(self.log)
        if code is not None and code < 0:  # a signal: the last line of its stderr is not the cause
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
            stderr = tail.partition("; ")[2]  # "its stderr:\n..."
            return f"server {self.name} was killed by {how}" + (f"; {stderr}" if stderr else "")
        return f"server {self.name} exited with status {code}{tail}"

    def stop(self) -> None:
        _stop(self.proc)
        try:
            self.log.close()
        except OSError:
            pass


def start_server(
    name: str, core: int = 0, timeout: float = START_TIMEOUT, note: Note = _stderr_note
) -> ServerProcess:
    """Start echo server ``name`` pinned to ``core`` and wait until it listens on 127.0.0.1.

    Returns the running :class:`ServerProcess` (``.port``, ``.pid``, ``.info``,
    ``.stop()``).  Works for every entry of ``servers.SERVERS``, the Node.js
    one included (installing ws on first use, announced through ``note``).
    Raises :class:`ServerSkipped` (an optional peer that cannot run here) or
    :class:`BenchError` (failed to start); nothing is left running then.
    """
    server = ServerProcess.launch(name, core, note)
    try:
        server.wait_ready(time.monotonic() + timeout)
    except BaseException:
        server.stop()
        raise
    return server


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
        try:
            self.proc.stdin.write((json.dumps(command) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            raise BenchError(f"client worker {self.name} is gone: {exc}{_tail(self.log)}") from exc
        limit = command["warmup"] + command["duration"] + ANSWER_SLACK
        line = self.reader.readline(time.monotonic() + limit)
        try:
            result = json.loads(line)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise BenchError(f"client worker {self.name}: answered {line[:200]!r}, not a JSON object")
        return result

    def kill(self) -> None:
        """End it now (it timed out or broke the protocol: its next line cannot be trusted)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Session:
    """The processes of one benchmark session; use as a context manager (stops them all).

    A server or client worker that fails to start does not end the session:
    it is recorded (``server_status`` / ``worker_errors``) and the runs that
    need it fail at once with that error.
    """

    def __init__(self, config: Config, note: Note = _stderr_note) -> None:
        self.config = config
        self.note = note
        self.servers: dict[str, ServerProcess] = {}
        self.workers: dict[str, Worker] = {}
        # name -> {"status": "ok" | "failed" | "skipped", "error": str | None}
        self.server_status: dict[str, dict] = {}
        self.worker_errors: dict[str, str] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, server_names: Sequence[str], client_names: Sequence[str]) -> None:
        """Start everything at once (they import in parallel), then wait for each one."""
        # Each process is registered as soon as it exists, so close() stops it whatever happens next.
        for name in server_names:
            try:
                self.servers[name] = ServerProcess.launch(name, self.config.server_core, self.note)
            except ServerSkipped as exc:
                self._server_down(name, "skipped", str(exc))
            except BenchError as exc:
                self._server_down(name, "failed", str(exc))
        for name in client_names:
            cmd = [*_pin(self.config.client_core), sys.executable, "-m", "fastws.bench.worker", name]
            try:
                proc, log = _spawn(cmd, None, f"client worker {name}")
            except BenchError as exc:
                self._worker_down(name, str(exc))
                continue
            self.workers[name] = Worker(name, proc, log)
        deadline = time.monotonic() + START_TIMEOUT
        for name, server in list(self.servers.items()):
            try:
                server.wait_ready(deadline)
            except (BenchError, ValueError) as exc:
                del self.servers[name]
                server.stop()
                self._server_down(name, "failed", f"did not start: {exc}")
                continue
            self.server_status[name] = {"status": "ok", "error": None}
        for name, worker in list(self.workers.items()):
            try:
                ready = json.loads(worker.reader.readline(deadline))
                worker.version = ready.get("version", "?")
            except (BenchError, ValueError, AttributeError) as exc:
                self._worker_down(name, f"client worker {name} did not start: {exc}")

    def _worker_down(self, name: str, error: str) -> None:
        """Client worker ``name`` cannot be used (any more): its runs fail at once with ``error``."""
        self.worker_errors[name] = error
        self.note(f"FAILED: {error.splitlines()[0].removesuffix('; its stderr:')}")
        worker = self.workers.pop(name, None)
        if worker is not None:
            worker.kill()
            worker.log.close()

    def _server_down(self, name: str, status: str, error: str) -> None:
        self.server_status[name] = {"status": status, "error": error}
        first = error.splitlines()[0].removesuffix("; its stderr:") if error else "?"
        self.note(f"{name}: skipped: {first}" if status == "skipped" else f"FAILED: server {name}: {first}")

    def run(self, case: Case, size: int) -> dict:
        """One measured run; a dict with ``ok`` False (and ``error``, ``status``) when it could not be made."""
        state = self.server_status.get(case.server, {"status": "failed", "error": "not started"})
        if state["status"] != "ok":
            return {"ok": False, "status": state["status"], "error": state["error"]}
        if case.client in self.worker_errors:
            return {"ok": False, "status": "failed", "error": self.worker_errors[case.client]}
        server = self.servers[case.server]
        if not server.alive():
            error = server.exit_error()
            first = error.splitlines()[0].removesuffix("; its stderr:")
            self.note(f"FAILED: {first} (its remaining runs are reported as failed)")
            self.server_status[case.server] = {"status": "failed", "error": error}
            return {"ok": False, "status": "failed", "error": error}
        command = {
            "host": HOST,
            "port": server.port,
            "size": size,
            "kind": case.kind,
            "warmup": self.config.warmup,
            "duration": self.config.duration,
            "server_pid": server.pid,
            "cores": self.config.cores,
            **self.config.extra,
        }
        try:
            result = self.workers[case.client].run(command)
        except BenchError as exc:
            # It died, timed out or answered garbage: a late answer would be read as the next
            # run's, so it is killed and its remaining runs fail at once; the session goes on.
            result = {"ok": False, "error": str(exc)}
            self._worker_down(case.client, str(exc))
        if not result.get("ok"):
            result.setdefault("status", "failed")
            if not server.alive():  # the server crashed under this run: say so rather than the client's view
                result["error"] = server.exit_error() + "\n(client saw: " + str(result.get("error")) + ")"
        return result

    def close(self) -> None:
        for worker in self.workers.values():
            _stop(worker.proc, quit_line=b'{"op": "quit"}\n')
        for server in self.servers.values():
            server.stop()
        for worker in self.workers.values():
            try:
                worker.log.close()
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


def schedule(tables: Sequence[Table], sizes: Sequence[int], repeat: int) -> list[tuple[int, int, Case]]:
    """(size, rep, case) in run order: per size, ``repeat`` interleaved rounds of the cases
    whose tables include that size, each round shuffled (seeded by size and round)."""
    order = []
    for size in sizes:
        cases = cases_of(t for t in tables if size in t.sizes_of(sizes))
        for rep in range(repeat):
            shuffled = list(cases)
            random.Random(f"{size}/{rep}").shuffle(shuffled)
            order.extend((size, rep, case) for case in shuffled)
    return order


Progress = Callable[[int, int, dict], None]


def run_session(
    config: Config, tables: Sequence[Table], progress: Optional[Progress] = None, note: Note = _stderr_note
) -> dict:
    """Run every case of ``tables``; returns the raw material of the report (JSON-able).

    Servers that fail to start or crash, and optional peers that cannot run,
    do not stop the session: their runs are recorded with ``ok`` False and a
    ``status`` of "failed" or "skipped", and ``servers[name]["status"]`` says so.
    """
    cases = cases_of(tables)
    server_names = list(dict.fromkeys(c.server for c in cases))
    client_names = list(dict.fromkeys(c.client for c in cases))
    for name in client_names:
        if name not in CLIENTS and ":" not in name:
            raise BenchError(f"unknown client {name!r}")
    plan = schedule(tables, config.sizes, config.repeat)
    runs: list[dict] = []
    started = time.time()
    with Session(config, note) as session:
        session.start(server_names, client_names)
        for index, (size, rep, case) in enumerate(plan):
            result = session.run(case, size)
            run = {
                "case": case.key,
                "server": case.server,
                "client": case.client,
                "kind": case.kind,
                "size": size,
                "rep": rep,
                "index": index,
                "result": result,
            }
            runs.append(run)
            if progress is not None:
                progress(index + 1, len(plan), run)
        servers = {}
        for name in server_names:
            state = session.server_status.get(name, {"status": "failed", "error": "not started"})
            s = session.servers.get(name)
            servers[name] = {
                **({"pid": s.pid, "port": s.port, **s.info} if s is not None else {}),
                "ok": state["status"] == "ok",
                "status": state["status"],
                "error": state["error"],
            }
        workers = {name: {"version": w.version} for name, w in session.workers.items()}
        workers.update({name: {"version": "?", "error": e} for name, e in session.worker_errors.items()})
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
        f"{format_size(run['size']):>8} {run.get('kind', 'binary'):<6} round {run['rep'] + 1}"
        f"  {run['server']:>11} <- {run['client']:<12}"
    )
    if not r.get("ok"):
        what = "skipped" if r.get("status") == "skipped" else "FAILED"
        return f"{head}  {what}: {(r.get('error') or '?').splitlines()[0]}"
    others = f"  others {r['others_load'] * 100:3.0f}%" if "others_load" in r else ""
    return (
        f"{head}  {r['round_trips_per_s']:>9,.0f} msg/s  server {r['server_cpu_us_per_msg']:7.2f} µs"
        f"  client {r['client_cpu_us_per_msg']:7.2f} µs  p50 {r['latency_us']['p50']:8.1f} µs{others}"
    )
