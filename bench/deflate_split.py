"""Where a fastws echo server's time goes with permessage-deflate: zlib, or fastws around it.

    python3 bench/deflate_split.py                 # C kernels, 256 B / 8 KiB / 100 KiB
    python3 bench/deflate_split.py python isal     # other deflate kernels only (isal / zlib-ng:
                                                   # prototypes, need the isal / zlib-ng packages)

In one process, without event loop or sockets: a server-side connection
(``fastws.protocol.WebSocket`` with the echo listener and a counting fake
transport) is fed the masked, compressed text frames a client sends (the JSON
documents of ``fastws/bench/payloads.py``, compressed by a client-side session:
level 1, memLevel 5, 12-bit windows).  Timed per message:

* the whole data path: ``data_received`` -> parse -> inflate -> UTF-8 decode ->
  ``on_message`` -> ``send`` -> deflate -> frame -> ``transport.write``;
* the zlib calls alone on the same inputs: ``decompress`` then ``compress`` of
  a fresh session of the same kernels.

The difference ("fastws") is what fastws itself adds; the echo benchmark's
server CPU per message is this data path plus the event loop and the syscalls.
Best of 5 passes each.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastws.bench.payloads import json_pool
from fastws import codec, deflate
from fastws.echo import EchoListener
from fastws.protocol import Options, WebSocket

AGREED = [("server_max_window_bits", "12"), ("client_max_window_bits", "12")]
SIZES = ((256, 20_000), (8 * 1024, 3_000), (100 * 1024, 200))  # size, messages per pass


class CountingTransport:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def writelines(self, parts: list) -> None:
        for part in parts:
            self.bytes += len(part)

    def set_write_buffer_limits(self, **_: int) -> None:
        pass

    def get_extra_info(self, *_: object) -> None:
        return None


def kernels(name: str):  # type: ignore[no-untyped-def]
    if name in ("c", "python"):
        return deflate.implementation(name)
    from fastws.bench.servers import fastws_echo

    return fastws_echo._engine_kernels(name)[0]


def measure(name: str, size: int, count: int) -> dict:
    loop = asyncio.new_event_loop()
    pool = json_pool(size)
    ext = deflate.PerMessageDeflate(
        server_max_window_bits=12, mem_level=5, level=1, implementation=kernels(name)
    )
    client = deflate.PerMessageDeflate(
        server_max_window_bits=12, mem_level=5, level=1, implementation="c"
    ).make_session(AGREED, is_client=True)
    builder = codec.FrameBuilder(True)
    n = len(pool) * max(2, count // len(pool))
    frames = [builder.build(0x1, client.compress(pool[i % len(pool)]), True, True) for i in range(n)]
    warm, timed = frames[: len(pool)], frames[len(pool) :]

    def connection() -> WebSocket:
        ws = WebSocket(False, Options(max_size=16 << 20), loop)
        ws.listener = EchoListener()
        ws.connection_made(CountingTransport())  # type: ignore[arg-type]
        ws._open(b"", ext.make_session(AGREED))
        for frame in warm:
            ws.data_received(frame)
        return ws

    parser = codec.FrameParser(False, max_frame_size=1 << 24, max_message_size=1 << 24, allow_rsv1=True)
    payloads = [parser.feed(frame)[0].payload for frame in frames]
    perf = time.perf_counter_ns
    paths, inflates, deflates = [], [], []
    gc.disable()
    try:
        for _ in range(5):
            ws = connection()
            start = perf()
            for frame in timed:
                ws.data_received(frame)
            paths.append((perf() - start) / len(timed) / 1000)
            session = ext.make_session(AGREED)
            dec, comp = session.decompress, session.compress
            for payload in payloads[: len(pool)]:
                comp(dec(payload, None))
            t_in = t_out = 0
            for payload in payloads[len(pool) :]:
                a = perf()
                text = dec(payload, None)
                b = perf()
                comp(text)
                c = perf()
                t_in += b - a
                t_out += c - b
            inflates.append(t_in / len(timed) / 1000)
            deflates.append(t_out / len(timed) / 1000)
    finally:
        gc.enable()
        loop.close()
    return {"path": min(paths), "inflate": min(inflates), "deflate": min(deflates)}


def main(argv: list[str]) -> int:
    names = argv or ["c"]
    print("kernels      size   data path µs/msg = inflate + deflate + fastws (share)")
    for name in names:
        for size, count in SIZES:
            r = measure(name, size, count)
            rest = r["path"] - r["inflate"] - r["deflate"]
            print(
                f"{name:8} {size:>8}   {r['path']:9.2f}        = {r['inflate']:7.2f} + {r['deflate']:7.2f} "
                f"+ {rest:6.2f} ({rest / r['path'] * 100:4.1f}%)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
