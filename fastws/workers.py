"""Worker processes: ``fastws serve module:handler --workers N``.

The supervisor (the process the user started) binds the port once with
SO_REUSEPORT, only to check and reserve it, then starts N worker processes
that each listen on that port with SO_REUSEPORT (the kernel spreads new
connections over them) and run their own event loop (uvloop when installed).
SIGTERM or SIGINT to the supervisor is passed to every worker: a worker stops
accepting, closes each connection with 1001 and exits within ``close_timeout``
(laggards are dropped). A worker that exits on its own is logged and restarted.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Sequence

from .admission import DEFAULT_SHARE as DEFAULT_HANDSHAKE_SHARE

logger = logging.getLogger("fastws.workers")

# A worker that dies sooner than this after its start is crash-looping: restart it after a backoff.
QUICK_DEATH = 1.0
MAX_RESTART_DELAY = 5.0


@dataclass
class WorkerApp:
    """What a worker serves, when a bare handler is not enough.

    ``fastws serve module:app`` accepts a handler (an ``async def handler(ws)``
    or a :class:`~fastws.Listener` subclass) or a ``WorkerApp``: its
    ``serve_options`` go to :func:`fastws.serve` (``process_request``,
    ``origins``, ``ping_interval``...; the command line's options win), and
    ``on_startup`` / ``on_shutdown`` run in every worker on its own event loop,
    before it listens and after its connections are closed (connect to Redis
    there, not at import time: a connection does not survive a fork or belong
    to another loop).
    """

    handler: Any
    serve_options: dict[str, Any] = field(default_factory=dict)
    on_startup: Optional[Callable[[], Awaitable[None]]] = None
    on_shutdown: Optional[Callable[[], Awaitable[None]]] = None


@dataclass
class WorkerConfig:
    """The command line's serve options, shared by the supervisor and its workers."""

    target: str
    host: str = "127.0.0.1"
    port: int = 9001
    loop: str = "auto"
    pure: bool = False
    max_size: Optional[int] = None
    compression: bool = True
    trusted_proxies: Sequence[str] = ()
    close_timeout: float = 5.0
    handshake_share: Optional[float] = DEFAULT_HANDSHAKE_SHARE  # None: never paced

    def worker_argv(self, port: int, index: int) -> list[str]:
        argv = [
            sys.executable, "-m", "fastws", "serve", self.target, "--worker-index", str(index),
            "--host", self.host, "--port", str(port), "--loop", self.loop,
            "--close-timeout", repr(self.close_timeout),
        ]  # fmt: skip
        if self.pure:
            argv.append("--pure")
        if self.max_size is not None:
            argv += ["--max-size", str(self.max_size)]
        if not self.compression:
            argv.append("--no-compression")
        for proxy in self.trusted_proxies:
            argv += ["--trusted-proxy", proxy]
        argv += ["--handshake-share", "off" if self.handshake_share is None else repr(self.handshake_share)]
        return argv


def import_target(spec: str) -> Any:
    """The object named by ``"package.module:attribute"`` (dots allowed in the attribute).

    Raises ImportError with a message that says which part was not found.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ImportError(f"expected 'module:attribute' (e.g. myapp.ws:handler), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like uvicorn: the app's module from where fastws was started
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ImportError(f"cannot import {spec!r}: no module named {exc.name!r}") from None
        raise
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ImportError(f"cannot import {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    return value


def as_app(target: Any, spec: str) -> WorkerApp:
    """``target`` as a :class:`WorkerApp`; TypeError when it is neither an app nor a handler."""
    if isinstance(target, WorkerApp):
        return target
    if callable(target):  # serve() checks the details (async function, Listener subclass or factory)
        return WorkerApp(handler=target)
    raise TypeError(f"{spec!r} is {type(target).__name__}, not a handler, a Listener subclass or a WorkerApp")


def load_app(spec: str) -> WorkerApp:
    return as_app(import_target(spec), spec)


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) with SO_REUSEPORT: checks the port is free and holds it.

    A bound socket that does not listen takes no connections; workers' listening
    sockets on the same port share them.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def serve_worker(config: WorkerConfig, app: WorkerApp, index: int, supervised: bool = False) -> int:
    """One worker: serve ``app`` on the shared port until SIGTERM/SIGINT, then close with 1001.

    ``supervised``: also stop when the supervisor is gone (killed with SIGKILL, it could not
    stop its workers: they would hold the port and their clients forever).
    """
    from . import codec
    from .runner import loop_name
    from .server import serve

    loop = asyncio.get_running_loop()
    options = dict(app.serve_options)
    options["close_timeout"] = config.close_timeout
    if config.max_size is not None:
        options["max_size"] = config.max_size
    if not config.compression:
        options["compression"] = None
    if config.trusted_proxies:
        options["trusted_proxies"] = list(config.trusted_proxies)
    if config.handshake_share != DEFAULT_HANDSHAKE_SHARE:  # given on the command line: it wins
        options["handshake_share"] = config.handshake_share
    if app.on_startup is not None:
        await app.on_startup()
    server = await serve(app.handler, config.host, config.port, reuse_port=True, **options)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    orphan_watch = loop.create_task(_watch_parent(stop)) if supervised else None
    # One write of the whole line: workers share the supervisor's stdout, and print() writes the
    # line and its newline separately, so two workers' lines could interleave.
    sys.stdout.write(
        f"fastws worker {index} (pid {os.getpid()}) listening on port {server.port} "
        f"(codec: {codec.IMPLEMENTATION}, loop: {loop_name(loop)})\n"
    )
    sys.stdout.flush()
    await stop.wait()
    if orphan_watch is not None:
        orphan_watch.cancel()
    # Everything below is bounded by close_timeout: the closing handshakes get what is left of it,
    # then laggards are dropped, so the supervisor sees the worker gone within close_timeout.
    deadline = loop.time() + config.close_timeout
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), max(0.0, deadline - loop.time() - 0.1))
    except asyncio.TimeoutError:
        for conn in server.connections:
            conn.abort()
    if app.on_shutdown is not None:
        try:
            await asyncio.wait_for(app.on_shutdown(), max(0.05, deadline - loop.time()))
        except asyncio.TimeoutError:
            logger.warning("worker %d: on_shutdown did not finish within close_timeout", index)
    return 0


async def _watch_parent(stop: asyncio.Event, interval: float = 0.5) -> None:
    parent = os.getppid()
    while os.getppid() == parent:  # a dead parent's children are handed to another process
        await asyncio.sleep(interval)
    logger.error("the supervisor (pid %d) is gone: stopping this worker", parent)
    stop.set()


def run_worker(config: WorkerConfig, index: int, supervised: bool = False) -> int:
    from .runner import run

    app = load_app(config.target)
    try:
        return run(serve_worker(config, app, index, supervised), loop=config.loop)
    except OSError as exc:
        print(f"fastws: worker {index}: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    except Exception:  # on_startup failed (a backend unreachable...): the supervisor retries with a backoff
        logger.exception("worker %d (pid %d) failed to start", index, os.getpid())
        return 1


class Supervisor:
    """Starts ``workers`` worker processes on one port, restarts those that die, stops them on a signal."""

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, not {workers}")
        self.config = config
        self.workers = workers
        self.procs: list[Optional[subprocess.Popen[bytes]]] = [None] * workers
        self.started_at = [0.0] * workers
        self.quick_deaths = [0] * workers
        self.restart_at: list[Optional[float]] = [None] * workers
        self.stopping = False
        self.port = config.port

    def _start(self, index: int) -> None:
        proc = subprocess.Popen(self.config.worker_argv(self.port, index))
        self.procs[index] = proc
        self.started_at[index] = time.monotonic()
        self.restart_at[index] = None

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _reap(self) -> None:
        now = time.monotonic()
        for index, proc in enumerate(self.procs):
            if proc is None:
                if self.restart_at[index] is not None and now >= self.restart_at[index]:  # type: ignore[operator]
                    self._start(index)
                continue
            code = proc.poll()
            if code is None:
                continue
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            lived = now - self.started_at[index]
            self.quick_deaths[index] = self.quick_deaths[index] + 1 if lived < QUICK_DEATH else 0
            delay = 0.0 if not self.quick_deaths[index] else min(MAX_RESTART_DELAY, 0.1 * 2 ** self.quick_deaths[index])
            logger.error(
                "worker %d (pid %d) died (%s) after %.1f s; restarting it%s",
                index, proc.pid, how, lived, f" in {delay:.1f} s" if delay else "",
            )  # fmt: skip
            self.procs[index] = None
            self.restart_at[index] = now + delay

    def _stop_all(self) -> None:
        procs = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.close_timeout + 1.0  # + start-up of Python's exit
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("worker (pid %d) still running after close_timeout; killing it", proc.pid)
                proc.kill()
                proc.wait()

    def run(self) -> int:
        try:
            reserved = reserve_port(self.config.host, self.config.port)
        except OSError as exc:
            print(f"fastws: cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.port = reserved.getsockname()[1]
            host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
            print(
                f"fastws supervisor (pid {os.getpid()}) serving {self.config.target} on ws://{host}:{self.port} "
                f"with {self.workers} workers",
                flush=True,
            )
            for index in range(self.workers):
                self._start(index)
            while not self.stopping:
                self._reap()
                time.sleep(0.05)
            logger.info("shutting down %d workers", self.workers)
            self._stop_all()
            return 0
        finally:
            for proc in self.procs:
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            reserved.close()


def main(config: WorkerConfig, workers: Optional[int], worker_index: Optional[int]) -> int:
    """Entry point of ``fastws serve TARGET``: a worker, the supervisor, or one in-process server."""
    if worker_index is not None:
        return run_worker(config, worker_index, supervised=True)
    if workers is not None and workers < 1:
        print(f"fastws: --workers must be at least 1, not {workers}", file=sys.stderr)
        return 2
    try:
        load_app(config.target)  # a typo fails here, once, not in N crash-looping workers
    except (ImportError, TypeError) as exc:
        print(f"fastws: {exc}", file=sys.stderr)
        return 2
    if workers is None:
        return run_worker(config, 0)
    return Supervisor(config, workers).run()
