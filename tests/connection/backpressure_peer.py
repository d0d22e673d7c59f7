"""A fastws server in its own process, for memory measurements by test_backpressure.py.

    python backpressure_peer.py MODE --loop asyncio|uvloop --total BYTES --size BYTES

MODE ``slowread``: the handler does not call recv() until it is told "go";
then it reads ``total`` bytes of messages and answers with the count as text.
MODE ``fastwrite``: the handler sends ``total`` bytes in ``size``-byte binary
messages (each starting with its 8-byte sequence number) as fast as flow
control lets it, then the text "done".

Prints ``PORT <n>`` once listening. Reads commands on stdin, one per line:
``go`` (start reading), ``progress`` (answers ``PROGRESS <bytes received or
sent so far>``). Exits when stdin is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import threading
from typing import Any

from fastws import serve
from fastws.runner import new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("slowread", "fastwrite"))
    parser.add_argument("--loop", default="asyncio")
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--size", type=int, default=64 * 1024)
    args = parser.parse_args()
    loop = new_event_loop(args.loop)
    loop.run_until_complete(run(args))
    loop.close()


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    go = asyncio.Event()
    stop = asyncio.Event()
    progress = 0

    def commands() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "go":
                loop.call_soon_threadsafe(go.set)
            elif command == "progress":
                # Read on the loop's thread, answered from it: consistent values.
                loop.call_soon_threadsafe(lambda: print(f"PROGRESS {progress}", flush=True))
        loop.call_soon_threadsafe(stop.set)

    async def slowread(ws: Any) -> None:
        nonlocal progress
        await go.wait()
        while progress < args.total:
            message = await ws.recv()
            progress += len(message)
        await ws.send(str(progress))
        async for _ in ws:
            pass

    async def fastwrite(ws: Any) -> None:
        nonlocal progress
        body = bytes(args.size - 8)
        seq = 0
        while progress < args.total:
            await ws.send(struct.pack("!Q", seq) + body)
            seq += 1
            progress += args.size
        await ws.send("done")
        async for _ in ws:
            pass

    handler = slowread if args.mode == "slowread" else fastwrite
    # Flow control is measured on raw frames: compression would shrink the zero-filled bodies.
    server = await serve(handler, "127.0.0.1", 0, max_size=4 * args.size, compression=None)
    print(f"PORT {server.port}", flush=True)
    threading.Thread(target=commands, daemon=True).start()
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    main()
