"""masking: clients mask every frame, servers mask none (RFC 6455 §5.1, §5.3); a frame
with the wrong masking fails the connection with 1002.  The driver sends what its
role must not: unmasked frames to a server, masked frames to a client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..wire import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, close_payload, encode
from . import Case, echo, fail, send_frames, text

if TYPE_CHECKING:
    from ..driver import Peer


def cases(role: str) -> list[Case]:
    wrong = {"masked": role == "client"}  # what the driver's role must not do
    out = [
        Case("masking.wrong.text", "text frame with the wrong masking for the sender's role",
             send_frames((OP_TEXT, b"hello", wrong)), fail(1002)),
        Case("masking.wrong.empty", "empty binary frame with the wrong masking",
             send_frames((OP_BINARY, b"", wrong)), fail(1002)),
        Case("masking.wrong.ping", "ping with the wrong masking",
             send_frames((OP_PING, b"p", wrong)), fail(1002)),
        Case("masking.wrong.close", "close with the wrong masking",
             send_frames((OP_CLOSE, close_payload(1000), wrong)), fail(1002)),
        Case("masking.wrong.after_valid", "valid text, then a frame with the wrong masking",
             send_frames((OP_TEXT, b"ok"), (OP_TEXT, b"bad", wrong)), fail(1002, text("ok"))),
    ]
    if role == "server":
        # Any key is valid, the all-zero one included (it leaves the payload unchanged).
        async def zero_key(peer: Peer) -> None:
            await peer.send(encode(OP_TEXT, b"zero key", key=b"\x00\x00\x00\x00"))

        out.append(Case("masking.key.zero", "masked with the all-zero key: valid",
                        zero_key, echo(text("zero key"))))
    return out
