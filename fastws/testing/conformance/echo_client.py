"""The echo-client agent for client-mode conformance runs.

``python -m fastws.testing.conformance.echo_client ws://HOST:PORT/``: connects
with fastws's client (on uvloop, permessage-deflate offered as by default),
echoes every message (text as text, binary as binary) until the connection
closes, then connects again for the next case.  It exits when the connection is
refused or the server answers the handshake with anything but 101 (the driver's
way of saying stop).  ``FASTWS_PURE=1`` selects the pure-Python codec.
"""

from __future__ import annotations

import asyncio
import sys

from fastws import codec
from fastws.client import connect
from fastws.echo import EchoListener
from fastws.exceptions import InvalidHandshake
from fastws.runner import run

MAX_SIZE = 64 * 1024 * 1024  # the suite sends 16 MiB messages


async def serve(url: str) -> int:
    print(f"fastws echo client for {url} (codec: {codec.IMPLEMENTATION})", flush=True)
    while True:
        try:
            ws = await connect(url, listener=EchoListener, max_size=MAX_SIZE, open_timeout=60,
                               close_timeout=5)
        except (OSError, InvalidHandshake):
            return 0  # refused or declined: the driver is done
        except asyncio.TimeoutError:
            continue
        await ws.wait_closed()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return run(serve(sys.argv[1]), loop="uvloop")


if __name__ == "__main__":
    sys.exit(main())
