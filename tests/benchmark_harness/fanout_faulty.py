"""A fan-out server that breaks its promise on purpose, for the fan-out benchmark's checks.

``python -m tests.benchmark_harness.fanout_faulty`` (the start-up protocol of
fastws/bench/servers/_common.py); ``FANOUT_FAULT`` in the environment says what goes
wrong for the second subscriber that connected, at message 3: ``drop`` (never sent),
``duplicate`` (sent twice), ``alter`` (one body byte changed), ``close`` (its
connection closed with 1011 instead).
"""

from __future__ import annotations

import os

from fastws.bench.servers._common import main

FAULT = os.environ.get("FANOUT_FAULT", "drop")
VICTIM = 2  # the second subscriber (the publisher connects last)


async def start(host: str, port: int):
    from fastws.listener import Listener
    from fastws.server import serve

    peers: list = []

    class Faulty(Listener):
        decode_text = False

        def on_open(self, ws) -> None:  # type: ignore[no-untyped-def]
            peers.append(ws)

        def on_close(self, ws, code, reason) -> None:  # type: ignore[no-untyped-def]
            if ws in peers:
                peers.remove(ws)

        def on_text(self, ws, data: bytes) -> None:  # type: ignore[no-untyped-def]
            seq = int(data[:8], 16)
            for index, peer in enumerate(list(peers), 1):
                if peer is ws:
                    continue
                out = data
                if index == VICTIM and seq == 3:
                    if FAULT == "drop":
                        continue
                    if FAULT == "duplicate":
                        peer.send(data, True, True)
                    elif FAULT == "alter":
                        out = data[:-1] + (b"#" if data[-1:] != b"#" else b"%")
                    elif FAULT == "close":
                        peer.close(1011, "on purpose")
                        continue
                peer.send(out, True, True)

    server = await serve(Faulty, host, port, ping_interval=None, compression=None)

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return server.port, {"impl": f"faulty fan-out ({FAULT})"}, stop


if __name__ == "__main__":
    main("fanout_faulty", start)
