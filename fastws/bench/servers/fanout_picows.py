"""picows fan-out server: every frame's payload goes to every other connection, a loop of
``transport.send`` (picows has no permessage-deflate: not in the compressed table)."""

from __future__ import annotations

from typing import Any

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int) -> tuple[int, dict[str, Any], Any]:
    from picows import WSListener, WSMsgType, ws_create_server

    peers: set[Any] = set()

    class FanOut(WSListener):
        def on_ws_connected(self, transport):  # type: ignore[no-untyped-def]
            peers.add(transport)

        def on_ws_disconnected(self, transport):  # type: ignore[no-untyped-def]
            peers.discard(transport)

        def on_ws_frame(self, transport, frame):  # type: ignore[no-untyped-def]
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            payload, kind = frame.get_payload_as_bytes(), frame.msg_type
            for peer in peers:
                if peer is not transport:
                    peer.send(kind, payload)

    server = await ws_create_server(
        lambda request: FanOut(), host, port, enable_auto_ping=False, max_frame_size=MAX_SIZE,
        use_aiofastnet=False, backlog=1024,
        # picows drops a handshake still incomplete after 5 s by default: 10,000 subscribers
        # connecting on a loaded machine hit that (12 of 10,000 in one run); the others wait longer
        websocket_handshake_timeout=60,
    )  # fmt: skip

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    info = {"impl": "picows WSListener, a loop of send (uvloop transport)", "picows": version("picows")}
    return server.sockets[0].getsockname()[1], info, stop


if __name__ == "__main__":
    main("fanout_picows", start)
