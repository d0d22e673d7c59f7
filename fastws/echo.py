"""The echo listener behind ``fastws serve --echo``: every message goes back unchanged."""

from __future__ import annotations

from .protocol import Data, Listener, WebSocket


class EchoListener(Listener):
    __slots__ = ()
    decode_text = False  # text is echoed as the bytes it came in (validated, never decoded)

    def on_message(self, ws: WebSocket, message: Data) -> None:
        ws.send(message)

    def on_text(self, ws: WebSocket, data: bytes) -> None:
        ws.send(data, text=True)
