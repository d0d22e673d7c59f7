"""The echo listener behind ``fastws serve --echo``: every message goes back unchanged."""

from __future__ import annotations

from .listener import Data, Listener
from .protocol import WebSocket


class EchoListener(Listener):
    """Echoes every message. A peer that sends without reading its echoes stops being read
    until it does (``Listener.flow_control``): memory stays bounded."""

    __slots__ = ()
    decode_text = False  # text is echoed as the bytes it came in (validated, never decoded)
    flow_control = True

    def on_message(self, ws: WebSocket, message: Data) -> None:
        ws.send(message)

    def on_text(self, ws: WebSocket, data: bytes) -> None:
        ws.send(data, True, True)  # compress, text: positional is the cheaper call
