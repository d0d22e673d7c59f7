"""picows echo server: a WSListener that sends every frame's payload back, as picows's own example does.

picows hands frames to the listener (it does not reassemble fragmented
messages); the load clients send every message as a single frame.  picows uses
its own ``aiofastnet`` transport by default when that package is installed;
here it runs on uvloop's transport like every other library, unless the
registry entry passes ``--aiofastnet``.
"""

from __future__ import annotations

import sys

from ..common import MAX_SIZE
from ._common import main, version

USE_AIOFASTNET = "--aiofastnet" in sys.argv
if USE_AIOFASTNET:
    sys.argv.remove("--aiofastnet")


async def start(host: str, port: int):
    from picows import WSListener, WSMsgType, ws_create_server

    class EchoListener(WSListener):
        def on_ws_frame(self, transport, frame):  # type: ignore[no-untyped-def]
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            else:
                transport.send(frame.msg_type, frame.get_payload_as_bytes())

    server = await ws_create_server(
        lambda request: EchoListener(),
        host,
        port,
        enable_auto_ping=False,
        max_frame_size=MAX_SIZE,
        use_aiofastnet=USE_AIOFASTNET,
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    transport = "aiofastnet" if USE_AIOFASTNET else "uvloop"
    return (
        server.sockets[0].getsockname()[1],
        {"impl": f"picows WSListener ({transport} transport)", "picows": version("picows")},
        stop,
    )


if __name__ == "__main__":
    main("picows_echo", start)
