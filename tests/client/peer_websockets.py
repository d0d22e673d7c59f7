"""A websockets echo server (the websockets package's asyncio server), for the sync client tests.

    python peer_websockets.py --port N

Echoes every message; the text message "close:CODE:REASON" closes with that code.
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import serve


async def echo(ws) -> None:  # type: ignore[no-untyped-def]
    async for message in ws:
        if isinstance(message, str) and message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            await ws.close(int(code), reason)
            return
        await ws.send(message)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    async with serve(echo, "127.0.0.1", args.port, compression="deflate"):
        await asyncio.get_running_loop().run_in_executor(None, input)  # until stdin closes


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except EOFError:
        pass
