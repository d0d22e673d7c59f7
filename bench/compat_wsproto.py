"""fastws.compat.wsproto against the real wsproto, in the same run.

    python3 -m bench.compat_wsproto            # codec: events/s and CPU per message
    python3 -m bench.compat_wsproto --hypercorn # plus hypercorn echo round trips (256 B)

Codec: a server connection receives masked client frames in 64 KiB reads
(``receive_data`` + ``events``), and sends the same messages (``send``), at 125 B,
8 KiB and 1 MiB.  hypercorn: one websockets client, sequential round trips to a
hypercorn ASGI echo server running on each wsproto (``install()`` for ours), in
alternating rounds; the server's CPU per round trip is read from /proc, and the
codec's own share is timed in-process, which bounds what any codec can gain there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

import wsproto.connection as real_connection
import wsproto.events as real_events

import fastws.compat.wsproto.connection as our_connection
import fastws.compat.wsproto.events as our_events
from fastws.bench.procstat import sched_runtime_ns

SIZES = {"125 B": 125, "8 KiB": 8192, "1 MiB": 1 << 20}


def wire(size: int, count: int) -> list[bytes]:
    client = real_connection.Connection(real_connection.CLIENT)
    data = b"".join(client.send(real_events.BytesMessage(data=os.urandom(size))) for _ in range(count))
    return [data[i : i + 65536] for i in range(0, len(data), 65536)]


def receive_rate(module: Any, chunks: list[bytes], count: int) -> float:
    conn = module.Connection(module.SERVER)
    start = time.process_time()
    seen = 0
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            seen += event.message_finished
    elapsed = time.process_time() - start
    assert seen == count, (seen, count)
    return count / elapsed


def send_rate(module: Any, events: Any, size: int, count: int) -> float:
    conn = module.Connection(module.SERVER)
    message = events.BytesMessage(data=os.urandom(size))
    start = time.process_time()
    for _ in range(count):
        conn.send(message)
    return count / (time.process_time() - start)


def codec_table() -> None:
    print("| size | op | wsproto events/s | fastws.compat events/s | ratio | CPU/msg wsproto -> fastws |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for label, size in SIZES.items():
        count = max(20, min(200_000, (64 << 20) // size))
        chunks = wire(size, count)
        for op in ("receive", "send"):
            rates = []
            for module, events in ((real_connection, real_events), (our_connection, our_events)):
                best = 0.0
                for _ in range(3):
                    rate = receive_rate(module, chunks, count) if op == "receive" else send_rate(module, events, size, count)
                    best = max(best, rate)
                rates.append(best)
            theirs, ours = rates
            print(f"| {label} | {op} | {theirs:,.0f} | {ours:,.0f} | x{ours / theirs:.1f} "
                  f"| {1e6 / theirs:.2f} -> {1e6 / ours:.2f} µs |", flush=True)


SERVER = """
import sys
if sys.argv[1] == "fastws":
    import fastws.compat; fastws.compat.install()
import asyncio
from hypercorn.asyncio import serve
from hypercorn.config import Config
async def app(scope, receive, send):
    await receive(); await send({"type": "websocket.accept"})
    while True:
        e = await receive()
        if e["type"] == "websocket.disconnect": return
        await send({"type": "websocket.send", "bytes": e.get("bytes"), "text": e.get("text")})
c = Config(); c.bind = ["127.0.0.1:" + sys.argv[2]]; c.websocket_ping_interval = None
asyncio.run(serve(app, c))
"""


async def round_trips(url: str, count: int, pid: int) -> tuple[float, float]:
    """(round trips/s, server CPU µs per round trip) for ``count`` sequential 256 B echoes."""
    import websockets

    async with websockets.connect(url, compression=None) as ws:
        payload = os.urandom(256)
        for _ in range(500):
            await ws.send(payload)
            await ws.recv()
        cpu0, start = sched_runtime_ns(pid), time.perf_counter()
        for _ in range(count):
            await ws.send(payload)
            assert await ws.recv() == payload
        elapsed, cpu = time.perf_counter() - start, sched_runtime_ns(pid)
        assert cpu is not None and cpu0 is not None
        return count / elapsed, (cpu - cpu0) / count / 1e3


def codec_echo_cost(module: Any, events: Any, count: int = 20_000) -> float:
    """CPU µs per 256 B echo inside the codec, called the way hypercorn calls it
    (``receive_data``, ``events()`` until empty, ``send``): what hypercorn would save if it were free."""
    client = real_connection.Connection(real_connection.CLIENT)
    payload = os.urandom(256)
    frames = [client.send(real_events.BytesMessage(data=payload)) for _ in range(count)]
    best = float("inf")
    for _ in range(3):
        conn = module.Connection(module.SERVER)
        start = time.process_time()
        for frame in frames:
            conn.receive_data(frame)
            for event in conn.events():
                conn.send(events.BytesMessage(data=event.data))
            for event in conn.events():
                pass
        best = min(best, (time.process_time() - start) / count * 1e6)
    return best


def hypercorn_table(count: int, rounds: int = 3) -> None:
    """Alternating rounds on each wsproto (the machine's noise hits both alike); best round each."""
    rates: dict[str, list[tuple[float, float]]] = {"wsproto": [], "fastws": []}
    for _ in range(rounds):
        for which in rates:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            proc = subprocess.Popen([sys.executable, "-c", SERVER, which, str(port)], stderr=subprocess.DEVNULL)
            try:
                for _ in range(100):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.1)
                rates[which].append(asyncio.run(round_trips(f"ws://127.0.0.1:{port}/", count, proc.pid)))
            finally:
                proc.terminate()
                proc.wait()
    rate = {which: max(r for r, _ in runs) for which, runs in rates.items()}
    cpu = {which: min(c for _, c in runs) for which, runs in rates.items()}
    codec = {"wsproto": codec_echo_cost(real_connection, real_events),
             "fastws": codec_echo_cost(our_connection, our_events)}
    rest = cpu["fastws"] - codec["fastws"]
    print("| hypercorn echo, 256 B | wsproto | fastws.compat | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| round trips/s (websockets client) | {rate['wsproto']:,.0f} | {rate['fastws']:,.0f} "
          f"| x{rate['fastws'] / rate['wsproto']:.2f} |")
    print(f"| server CPU per round trip | {cpu['wsproto']:.1f} µs | {cpu['fastws']:.1f} µs "
          f"| x{cpu['wsproto'] / cpu['fastws']:.2f} |")
    print(f"| of which the codec (in-process) | {codec['wsproto']:.1f} µs | {codec['fastws']:.1f} µs "
          f"| x{codec['wsproto'] / codec['fastws']:.1f} |")
    print(f"hypercorn's own work per round trip: {rest:.1f} µs; with a codec that cost nothing the "
          f"server CPU ratio could reach at most x{cpu['wsproto'] / rest:.2f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hypercorn", action="store_true", help="also time hypercorn echo round trips")
    parser.add_argument("--round-trips", type=int, default=20_000, help="per hypercorn measurement")
    args = parser.parse_args()
    codec_table()
    if args.hypercorn:
        hypercorn_table(args.round_trips)
