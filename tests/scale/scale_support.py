"""Real processes for the scale tests: fastws worker supervisors and redis-server (single or cluster).

Everything listens on free loopback ports and is stopped by the test that started it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
WORKER_LINE = re.compile(r"^fastws worker (\d+) \(pid (\d+)\) listening on port (\d+)")
SUPERVISOR_LINE = re.compile(r"^fastws supervisor \(pid \d+\) serving \S+ on ws://[^:]+:(\d+) with (\d+) workers")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_cluster_port() -> int:
    """A free port below 55536 whose cluster bus port (+10000) is free too (Redis requires both)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.05)


class Supervisor:
    """``python -m fastws serve TARGET --workers N`` with its output collected line by line."""

    def __init__(
        self,
        target: str,
        *args: str,
        env: Optional[dict[str, str]] = None,
        cwd: Optional[Path] = None,
        command: Optional[list[str]] = None,
    ):
        """``command``: run this instead (a launcher that starts the supervisor, sharing its output)."""
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "fastws", "serve", target, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(cwd or HERE),
            env={**{k: v for k, v in os.environ.items() if k != "FASTWS_PURE"}, **(env or {})},
        )
        for stream, into in ((self.proc.stdout, self.lines), (self.proc.stderr, self.errors)):
            threading.Thread(target=self._pump, args=(stream, into), daemon=True).start()

    def _pump(self, stream, into: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30.0, stderr: bool = False) -> list[re.Match[str]]:
        """The first ``count`` lines matching ``pattern`` (regex, searched), waiting for them."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in map(regex.search, self.errors if stderr else self.lines) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._changed.wait(0.2)):
                    raise AssertionError(
                        f"no {count} lines matching {pattern!r} (exit {self.proc.poll()}); "
                        f"stdout: {self.lines[-20:]} stderr: {self.errors[-20:]}"
                    )
                self._changed.wait(min(left, 0.2))

    def started(self, workers: int) -> tuple[int, dict[int, int]]:
        """The port and {worker index: pid} once every worker listens."""
        port = int(self.wait_for(SUPERVISOR_LINE.pattern)[0].group(1))
        pids = {int(m.group(1)): int(m.group(2)) for m in self.wait_for(WORKER_LINE.pattern, workers)}
        return port, pids

    def worker_pids(self) -> dict[int, int]:
        """{worker index: pid} of the newest start of each worker."""
        with self._changed:
            return {int(m.group(1)): int(m.group(2)) for m in map(WORKER_LINE.search, self.lines) if m}

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """The supervisor and, through their pids, its workers (test cleanup)."""
        for pid in self.worker_pids().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def redis_available() -> bool:
    return os.path.exists(REDIS_SERVER) and os.path.exists(REDIS_CLI)


class RedisServer:
    """A redis-server on a free loopback port, its data in a temporary directory (append-only
    file on, so a restart keeps the streams, as a production Redis would)."""

    def __init__(self, port: Optional[int] = None, *, cluster: bool = False, directory: Optional[str] = None):
        self.port = port or (free_cluster_port() if cluster else free_port())
        self.cluster = cluster
        self.dir = directory or tempfile.mkdtemp(prefix="fastws-redis-")
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no",
            "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip
        if self.cluster:
            # Full coverage off: while one node is down, the other shards keep serving.
            args += [
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
            ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING").strip() != "PONG":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start (exit {self.proc.poll()})")
            time.sleep(0.05)
        return self

    def cli(self, *args: str) -> str:
        done = subprocess.run([REDIS_CLI, "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def stop(self) -> None:
        """Like a crash: SIGKILL (the append-only file, fsynced per write, keeps the data)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """Three masters (no replicas) on loopback, joined by ``redis-cli --cluster create``."""

    def __init__(self, nodes: int = 3) -> None:
        self.nodes = [RedisServer(cluster=True) for _ in range(nodes)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        done = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout} {done.stderr}")
        deadline = time.monotonic() + 15
        while not all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        return self

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
