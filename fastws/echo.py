"""The echo listener behind ``fastws serve --echo``: every message goes back unchanged."""

from __future__ import annotations

from .listener import Data, Listener
from .protocol import WebSocket


class EchoListener(Listener):
    """Echoes every message; stops reading while the peer does not read the echoes
    (the write buffer is over ``write_limit``), so a peer that only sends cannot
    make the server buffer without bound."""

    __slots__ = ()
    decode_text = False  # text is echoed as the bytes it came in (validated, never decoded)

    def on_message(self, ws: WebSocket, message: Data) -> None:
        ws.send(message)

    def on_text(self, ws: WebSocket, data: bytes) -> None:
        ws.send(data, True, True)  # compress, text: positional is the cheaper call

    def on_pause_writing(self, ws: WebSocket) -> None:
        ws.pause_reading()

    def on_resume_writing(self, ws: WebSocket) -> None:
        ws.resume_reading()
