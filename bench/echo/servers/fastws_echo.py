"""fastws echo server: the callback API (``fastws.echo.EchoListener``), on uvloop.

The codec is whatever ``fastws.codec`` picks: the C one, or the pure-Python
twin when ``FASTWS_PURE=1`` is in the environment (the registry's
``fastws-pure`` entry sets it).  The implementation actually loaded is reported
in the ready line and checked against the environment, so a missing C build
cannot pass itself off as "fastws".
"""

from __future__ import annotations

import os

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int):
    from fastws import codec
    from fastws.echo import EchoListener
    from fastws.server import serve

    want = "python" if os.environ.get("FASTWS_PURE", "") not in ("", "0") else "c"
    if codec.IMPLEMENTATION != want:
        raise SystemExit(
            f"fastws codec is {codec.IMPLEMENTATION!r}, expected {want!r} (is the C extension built?)"
        )
    server = await serve(
        EchoListener,
        host,
        port,
        max_size=MAX_SIZE,
        ping_interval=None,  # no keepalive pings (the default, stated for the record)
        compression=None,  # same settings for every library: no permessage-deflate
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return server.port, {"impl": f"fastws codec={codec.IMPLEMENTATION}", "fastws": version("fastws")}, stop


def _new_loop():
    from fastws.runner import new_event_loop

    return new_event_loop("uvloop")


if __name__ == "__main__":
    main("fastws_echo", start, _new_loop)
