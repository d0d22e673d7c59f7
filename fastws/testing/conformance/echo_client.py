"""The echo-client agent for client-mode conformance runs.

``python -m fastws.testing.conformance.echo_client ws://HOST:PORT/``: for each
line on stdin (a JSON object of :func:`fastws.client.connect` keywords, such as
``{"compression_options": {"server_max_window_bits": 10}}``; ``{}`` for the
defaults), connects with fastws's client (on uvloop), echoes every message (text
as text, binary as binary) until the connection closes, then reads the next
line.  A handshake the client rejects just moves on to the next line.  It exits
at the end of stdin or when the connection is refused.  ``FASTWS_PURE=1``
selects the pure-Python codec.
"""

from __future__ import annotations

import asyncio
import json
import sys

from fastws import codec
from fastws.client import connect
from fastws.echo import EchoListener
from fastws.exceptions import InvalidHandshake
from fastws.runner import run

MAX_SIZE = 64 * 1024 * 1024  # the suite sends 16 MiB messages


async def serve(url: str) -> int:
    print(f"fastws echo client for {url} (codec: {codec.IMPLEMENTATION})", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return 0  # the driver is done
        try:
            ws = await connect(url, listener=EchoListener, max_size=MAX_SIZE, open_timeout=60,
                               close_timeout=5, **json.loads(line))
        except OSError:
            return 0  # refused: the driver is done
        except (InvalidHandshake, asyncio.TimeoutError):
            continue  # rejected (maybe on purpose): wait for the next case
        await ws.wait_closed()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run(serve(sys.argv[1]), loop="uvloop")


if __name__ == "__main__":
    sys.exit(main())
