"""Raw TCP echo (asyncio.Protocol on uvloop, no WebSocket at all): the floor.

Every chunk read is written straight back; the client counts bytes, not frames.
"""

from __future__ import annotations

import asyncio

from ._common import main, version


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def start(host: str, port: int):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, host, port)

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return server.sockets[0].getsockname()[1], {"impl": "asyncio.Protocol", "uvloop": version("uvloop")}, stop


if __name__ == "__main__":
    main("tcp_raw", start)
