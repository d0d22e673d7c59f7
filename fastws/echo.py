"""The echo listener behind ``fastws serve --echo``: every message goes back unchanged."""

from __future__ import annotations

from .protocol import Data, Listener, WebSocket


class EchoListener(Listener):
    __slots__ = ()

    def on_message(self, ws: WebSocket, message: Data) -> None:
        ws.send(message)
