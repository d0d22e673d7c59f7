"""A long-lived load-client process: ``python -m fastws.bench.worker <client>``.

``<client>`` is a name from the registry (``clients/__init__.py``) or, for
experiments, ``package.module:function`` naming any ``async def f(command)``
built like the clients in ``clients/``.

The runner starts one per client kind, pinned like the servers, and sends it
one JSON command per line on stdin; the worker runs it on its uvloop loop and
answers one JSON line on stdout.  Library imports and loop creation are paid
once, not per run.  Command fields: host, port, size, warmup, duration,
server_pid, cores (see ``clients/_base.py``).  ``{"op": "quit"}`` or EOF ends it.

The protocol is spoken on a duplicate of file descriptor 1, taken before any
library is imported; ``sys.stdout`` (and fd 1) then point at stderr, so a
library that prints cannot corrupt an answer.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import traceback
from typing import IO


def _protocol_stream() -> IO[str]:
    """The answer channel: a duplicate of fd 1; fd 1 and ``sys.stdout`` become stderr."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # also what C code and subprocesses write to fd 1
    sys.stdout = sys.stderr
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m fastws.bench.worker <client-name>", file=sys.stderr)
        return 2
    out = _protocol_stream()
    from .clients import CLIENTS
    from .servers._common import version

    name = argv[0]
    if name in CLIENTS:
        spec = CLIENTS[name]
        run, distribution = spec.load(), spec.distribution
    elif ":" in name:
        import importlib

        module, _, function = name.partition(":")
        run, distribution = getattr(importlib.import_module(module), function), "fastws"
    else:
        print(f"unknown client {name!r}; known: {', '.join(CLIENTS)}", file=sys.stderr)
        return 2
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    out.write(json.dumps({"ready": True, "client": name, "version": version(distribution)}) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        limit = command["warmup"] + command["duration"] + 30
        try:
            result = loop.run_until_complete(asyncio.wait_for(run(command), limit))
        except Exception as exc:
            result = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        gc.collect()  # leave the next run a clean heap, outside any window
        out.write(json.dumps(result) + "\n")
        out.flush()
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
