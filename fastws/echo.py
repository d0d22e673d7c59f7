"""The echo listener behind ``fastws serve --echo``: every message goes back unchanged."""

from __future__ import annotations

from .listener import Data, Listener
from .protocol import WebSocket


class EchoListener(Listener):
    """Echoes every message. A message that comes while the echoes are not being
    read (the write buffer is over ``write_limit``) stops reading until they are,
    so a peer that only sends cannot make the server buffer without bound; a peer
    that reads its echoes never costs a pause."""

    __slots__ = ()
    decode_text = False  # text is echoed as the bytes it came in (validated, never decoded)

    def on_message(self, ws: WebSocket, message: Data) -> None:
        if ws.writing_paused:
            ws.pause_reading()
        ws.send(message)

    def on_text(self, ws: WebSocket, data: bytes) -> None:
        if ws.writing_paused:
            ws.pause_reading()
        ws.send(data, True, True)  # compress, text: positional is the cheaper call

    def on_resume_writing(self, ws: WebSocket) -> None:
        ws.resume_reading()
