"""What every echo server script shares: arguments, the uvloop loop, the ready line, shutdown.

A server script defines ``async def start(host, port) -> (port, info, stop)``
and calls :func:`main` with it.  Scripts that support permessage-deflate also
take ``deflate=`` (a :data:`DEFLATE_PRESETS` name), passed only when the
command line has ``--deflate PRESET``, and the fastws one ``engine=`` (passed
only with ``--engine NAME``).  ``main``:

* runs on a fresh uvloop loop (uvloop everywhere, so only the library differs);
* prints ``# {json}`` (what runs: implementation, versions) then the port
  number alone on a line: that second line means "ready";
* stops on SIGTERM / SIGINT or when stdin reaches EOF (the runner died), so a
  crashed benchmark never leaves servers behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any, Awaitable, Callable, Optional

from ..common import HOST, MAX_SIZE

# permessage-deflate settings a server can be started with (``--deflate``):
# "equal": the same settings for every library, as far as each allows (level 1,
#   12-bit server window, memLevel 5; see each server script for what it can set);
# "default": each library's own defaults when compression is simply switched on.
DEFLATE_PRESETS = ("equal", "default")

Start = Callable[[str, int], Awaitable[tuple[int, dict, Optional[Callable[[], Awaitable[None]]]]]]


def _arguments(name: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m fastws.bench.servers.{name}", description=f"{name} echo server"
    )
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument(
        "--watch-stdin", action="store_true", help="exit when stdin reaches EOF (used by the runner)"
    )
    parser.add_argument(
        "--deflate",
        choices=DEFLATE_PRESETS,
        help="accept permessage-deflate with these settings (default: compression off)",
    )
    parser.add_argument(
        "--engine",
        help="fastws only, with --deflate: the deflate engine of its kernels (a prototype: isal, zlib-ng)",
    )
    return parser.parse_args()


def main(name: str, start: Start, new_loop: Optional[Callable[[], asyncio.AbstractEventLoop]] = None) -> None:
    args = _arguments(name)
    if new_loop is None:
        import uvloop

        new_loop = uvloop.new_event_loop
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(loop, start, args))
    finally:
        loop.close()


async def _serve(loop: asyncio.AbstractEventLoop, start: Start, args: argparse.Namespace) -> None:
    extra = {name: value for name in ("deflate", "engine") if (value := getattr(args, name))}
    port, info, stop_server = await start(args.host, args.port, **extra)
    stop = loop.create_future()

    def request_stop(*_: Any) -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    if args.watch_stdin:
        fd = sys.stdin.fileno()

        def stdin_readable() -> None:
            if not os.read(fd, 4096):
                loop.remove_reader(fd)
                request_stop()

        try:
            loop.add_reader(fd, stdin_readable)
        except (OSError, ValueError):  # not pollable (a file, /dev/null): a blocked thread instead
            import threading

            def wait_eof() -> None:
                while os.read(fd, 4096):
                    pass
                loop.call_soon_threadsafe(request_stop)

            threading.Thread(target=wait_eof, daemon=True).start()

    info = {"pid": os.getpid(), "loop": type(loop).__module__.split(".")[0], "max_size": MAX_SIZE, **info}
    sys.stdout.write(f"# {json.dumps(info)}\n{port}\n")
    sys.stdout.flush()
    await stop
    if stop_server is not None:
        try:
            await asyncio.wait_for(stop_server(), 5)
        except Exception:  # shutting down anyway
            pass


def version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
