"""fastws fan-out through Redis: ``fastws serve`` workers with :class:`fastws.Topics` and
:class:`fastws.backends.redis.RedisHub`, and the redis-server they share.

``python -m fastws.bench.servers.fanout_redis --workers N`` is the launcher the fan-out
benchmark starts (the start-up protocol of ``_common.py``): it starts redis-server on a
free port (no persistence) and ``fastws serve fastws.bench.servers.fanout_redis:app
--workers N`` against it, waits until the N workers listen, and prints the ready line
with its own pid: the benchmark counts the CPU time of its whole process tree (the
launcher, redis-server, the supervisor and its workers).  EOF on stdin or SIGTERM stops them.

In a worker (``app``): a subscriber connects to ``/?t=TOPIC`` and joins the topic's live
messages (no history read: with ``last_id``, 1,000 joins at once ran out of redis-py's
connection pool, "Too many connections", and failed with 1011; a join that completes
after the first warm-up message is what the benchmark's warm-up allows for); the
publisher connects to ``/publish?t=TOPIC``
and each of its messages is published through Redis (one Lua call: XADD + PUBLISH), to
reach the subscribers of every worker.  ``--deflate``: the workers accept
permessage-deflate with fastws's defaults (level 1, memLevel 5, 12-bit window), else none.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any, Optional

URL_ENV = "FASTWS_BENCH_REDIS_URL"
START_TIMEOUT = 30.0

# --- inside a worker ----------------------------------------------------------------------------

_hub: Any = None


async def _startup() -> None:
    global _hub
    from fastws.backends.redis import RedisHub
    from fastws.topics import Topics

    _hub = await RedisHub(Topics(), os.environ[URL_ENV], maxlen=100_000).start()


async def _shutdown() -> None:
    if _hub is not None:
        await _hub.close()


async def handler(ws: Any) -> None:
    request = ws.request
    topic = request.query.get("t", ["fanout"])[0]
    if request.path_without_query == "/publish":
        async for message in ws:
            await _hub.publish(topic, message)
    else:
        await _hub.join(ws, topic)
        async for _ in ws:  # subscribers only read
            pass


def _app() -> Any:
    from fastws.workers import WorkerApp

    return WorkerApp(handler, serve_options={"ping_interval": None}, on_startup=_startup, on_shutdown=_shutdown)


def __getattr__(name: str) -> Any:  # ``app`` built on first use: the launcher never imports fastws.workers
    if name == "app":
        return _app()
    raise AttributeError(name)


# --- the launcher ---------------------------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _listeners(port: int) -> int:
    """Sockets listening on ``port`` (IPv4), from /proc/net/tcp: one per worker with SO_REUSEPORT."""
    count = 0
    with open("/proc/net/tcp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rpartition(":")[2], 16) == port:
                count += 1
    return count


def _wait(what: str, ready: Any, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"{what}: a process it needs exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not ready within {START_TIMEOUT:g} s")
        time.sleep(0.05)


def launch(host: str, workers: int, deflate: Optional[str], watch_stdin: bool) -> int:
    import json
    import signal

    redis_server = shutil.which("redis-server")
    if not redis_server:
        print("redis-server not found (Debian: apt-get install redis-server)", file=sys.stderr)
        return 3
    redis_port, port = _free_port(host), _free_port(host)
    redis = subprocess.Popen(
        [redis_server, "--port", str(redis_port), "--bind", host, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen[bytes]] = [redis]
    try:
        _wait("redis-server", lambda: _listeners(redis_port) > 0, procs)
        env = {**os.environ, URL_ENV: f"redis://{host}:{redis_port}/0"}
        serve = [
            sys.executable, "-m", "fastws", "serve", "fastws.bench.servers.fanout_redis:app",
            "--workers", str(workers), "--host", host, "--port", str(port), "--loop", "uvloop",
            "--max-size", str(16 * 2**20), "--close-timeout", "2",
        ]  # fmt: skip
        if not deflate:
            serve.append("--no-compression")
        supervisor = subprocess.Popen(serve, env=env, stdout=sys.stderr.fileno())
        procs.append(supervisor)
        _wait("fastws serve", lambda: _listeners(port) >= workers, procs)
        from ._common import version

        info = {
            "pid": os.getpid(),
            "loop": "uvloop",
            "impl": f"fastws serve --workers {workers}, Topics + RedisHub (redis-server on {redis_port})",
            "fastws": version("fastws"),
            "redis": version("redis"),
        }
        sys.stdout.write(f"# {json.dumps(info)}\n{port}\n")
        sys.stdout.flush()
        stop = False

        def on_signal(*_: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not stop and all(p.poll() is None for p in procs):
            if watch_stdin:
                import select

                if select.select([sys.stdin], [], [], 0.2)[0] and not os.read(sys.stdin.fileno(), 4096):
                    break
            else:
                time.sleep(0.2)
        return 0
    finally:
        for proc in reversed(procs):  # the workers first (they close their Redis connections), then Redis
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m fastws.bench.servers.fanout_redis", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--deflate", choices=("equal", "default"))
    p.add_argument("--watch-stdin", action="store_true")
    args = p.parse_args()
    return launch(args.host, args.workers, args.deflate, args.watch_stdin)


if __name__ == "__main__":
    sys.exit(main())
