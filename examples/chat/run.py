"""Run the chat: ``python3 examples/chat/run.py`` (options: --port, --host, --workers).

Starts a private redis-server on a free loopback port unless REDIS_URL is set
(REDIS_CLUSTER=1 for a Redis Cluster), then ``fastws serve chat_server:app
--workers N``; Ctrl-C stops both. Needs fastws with the redis extra
(``pip install -e '.[redis,uvloop]'``) and Debian's redis-server (or REDIS_URL).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start_redis() -> tuple[subprocess.Popen[bytes], str, str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        sys.exit("chat: redis-server not found: install it (apt-get install redis-server) or set REDIS_URL")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="fastws-chat-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
         "--appendonly", "yes", "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"chat: redis-server did not start on port {port}")
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0", directory


def main() -> int:
    parser = argparse.ArgumentParser(description="the fastws chat example: workers over Redis")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = dict(os.environ)
    redis = None
    if "REDIS_URL" not in env:
        redis, env["REDIS_URL"], directory = start_redis()
        print(f"chat: started redis-server at {env['REDIS_URL']}", flush=True)
    print(f"chat: open http://{args.host}:{args.port}/login?name=alice (and another name in a second tab)", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "fastws", "serve", "chat_server:app", "--workers", str(args.workers),
         "--host", args.host, "--port", str(args.port)],
        cwd=HERE, env=env,
    )  # fmt: skip
    stop = lambda signum, frame: server.send_signal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return server.wait()
    finally:
        if server.poll() is None:
            server.kill()
        if redis is not None:
            redis.terminate()
            redis.wait()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
