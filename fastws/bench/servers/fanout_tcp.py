"""Raw TCP fan-out floor (asyncio.Protocol on uvloop, no WebSocket): every chunk a
connection sends is written to every other connection, the same bytes."""

from __future__ import annotations

from typing import Any

import asyncio

from ._common import main, version

PEERS: set[asyncio.BaseTransport] = set()


class FanOutProtocol(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        PEERS.add(transport)

    def connection_lost(self, exc: object) -> None:
        PEERS.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        me = self.transport
        for peer in PEERS:
            if peer is not me:
                peer.write(data)  # type: ignore[attr-defined]


async def start(host: str, port: int) -> tuple[int, dict[str, Any], Any]:
    server = await asyncio.get_running_loop().create_server(FanOutProtocol, host, port, backlog=1024)

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    return server.sockets[0].getsockname()[1], {"impl": "asyncio.Protocol", "uvloop": version("uvloop")}, stop


if __name__ == "__main__":
    main("fanout_tcp", start)
