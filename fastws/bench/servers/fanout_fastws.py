"""fastws fan-out server: every text message a connection sends goes to every other open
connection through ``fastws.broadcast`` (the frame built once; with permessage-deflate,
compressed once, without context, for every connection that negotiated it).  Callback
API, on uvloop; ``--deflate``: the echo server's settings (level 1, memLevel 5, 12-bit window).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int, deflate: Optional[str] = None) -> tuple[int, dict[str, Any], Any]:
    from fastws import codec
    from fastws import deflate as deflate_module
    from fastws import broadcast
    from fastws.listener import Listener
    from fastws.server import serve

    want = "python" if os.environ.get("FASTWS_PURE", "") not in ("", "0") else "c"
    if codec.IMPLEMENTATION != want:
        raise SystemExit(f"fastws codec is {codec.IMPLEMENTATION!r}, expected {want!r} (is the C extension built?)")
    peers: set[Any] = set()

    class FanOut(Listener):
        decode_text = False  # passed on as the validated bytes, never decoded

        def on_open(self, ws: Any) -> None:
            peers.add(ws)

        def on_close(self, ws: Any, code: int, reason: str) -> None:
            peers.discard(ws)

        def on_text(self, ws: Any, data: bytes) -> None:
            broadcast([p for p in peers if p is not ws], data, text=True)

    compression: object = None
    if deflate == "equal":  # the echo bench's settings: level 1, memLevel 5, 12-bit window
        compression = deflate_module.PerMessageDeflate(server_max_window_bits=12, mem_level=5, level=1)
    elif deflate == "default":
        compression = "deflate"
    server = await serve(
        FanOut, host, port, max_size=MAX_SIZE, ping_interval=None, compression=compression  # type: ignore[arg-type]
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    info = {"impl": f"fastws codec={codec.IMPLEMENTATION}, fastws.broadcast", "fastws": version("fastws")}
    return server.port or port, info, stop


def _new_loop() -> Any:
    from fastws.runner import new_event_loop

    return new_event_loop("uvloop")


if __name__ == "__main__":
    main("fanout_fastws", start, _new_loop)
