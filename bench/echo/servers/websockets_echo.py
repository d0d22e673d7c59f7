"""websockets echo server: the asyncio implementation (``websockets.asyncio.server``)."""

from __future__ import annotations

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int):
    from websockets.asyncio.server import serve

    async def echo(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            await ws.send(message)

    server = await serve(
        echo,
        host,
        port,
        compression=None,
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
    return (
        port,
        {"impl": f"websockets.asyncio (speedups {speedups_state})", "websockets": version("websockets")},
        stop,
    )


if __name__ == "__main__":
    main("websockets_echo", start)
