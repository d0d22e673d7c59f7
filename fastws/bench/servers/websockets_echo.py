"""websockets echo server: the asyncio implementation (``websockets.asyncio.server``).

``--deflate default``: ``compression="deflate"``, websockets' own defaults
(``enable_server_permessage_deflate``: server and client windows 12 bits,
memLevel 5, zlib's default level, Z_DEFAULT_COMPRESSION = 6).
``--deflate equal``: the same factory with ``level=1`` added to its
``compress_settings``, to match fastws's level (its only difference from
websockets' defaults).  websockets compresses every message (no threshold).
"""

from __future__ import annotations

from typing import Optional

from ..common import MAX_SIZE
from ._common import main, version


def _deflate_factory(preset: str):  # type: ignore[no-untyped-def]
    import zlib

    from websockets.extensions.permessage_deflate import (
        ServerPerMessageDeflateFactory,
        enable_server_permessage_deflate,
    )

    (factory,) = enable_server_permessage_deflate(None)  # websockets' defaults, from the library itself
    if preset == "equal":
        factory = ServerPerMessageDeflateFactory(
            server_max_window_bits=factory.server_max_window_bits,
            client_max_window_bits=factory.client_max_window_bits,
            compress_settings={**factory.compress_settings, "level": 1},
        )
    level = factory.compress_settings.get("level", zlib.Z_DEFAULT_COMPRESSION)
    settings = {
        "preset": preset,
        "level": "6 (zlib's default, -1)" if level == zlib.Z_DEFAULT_COMPRESSION else level,
        "mem_level": factory.compress_settings.get("memLevel", zlib.DEF_MEM_LEVEL),
        "server_max_window_bits": factory.server_max_window_bits,
        "client_max_window_bits": factory.client_max_window_bits,
        "threshold": 0,
    }
    return factory, settings


async def start(host: str, port: int, deflate: Optional[str] = None):
    from websockets.asyncio.server import serve

    async def echo(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    extensions, settings = [], {}
    if deflate:
        factory, settings = _deflate_factory(deflate)
        extensions = [factory]
    server = await serve(
        echo,
        host,
        port,
        compression=None,  # permessage-deflate only through ``extensions`` (--deflate)
        extensions=extensions or None,
        max_size=MAX_SIZE,
        ping_interval=None,
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    try:
        from websockets import speedups  # noqa: F401  (the C masking helper)

        speedups_state = "on"
    except ImportError:
        speedups_state = "off"
    port = next(iter(server.sockets)).getsockname()[1]
    info = {"impl": f"websockets.asyncio (speedups {speedups_state})", "websockets": version("websockets")}
    if settings:
        info["deflate"] = settings
    return port, info, stop


if __name__ == "__main__":
    main("websockets_echo", start)
