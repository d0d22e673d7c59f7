"""``wsproto.frame_protocol``: opcodes, close codes and the names wsproto's users import from it.

Frames are parsed and built by fastws's codec (see ``connection.py``); wsproto's
private parser classes (``Buffer``, ``FrameDecoder``, ``MessageDecoder``,
``FrameProtocol``, ``XorMaskerSimple``) have no counterpart here.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, Tuple, Union


class Opcode(IntEnum):
    """RFC 6455 §5.2 opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    def iscontrol(self) -> bool:
        return bool(self & 0x08)


class CloseReason(IntEnum):
    """RFC 6455 §7.4.1 status codes (the ones wsproto knows)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXT = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    TLS_HANDSHAKE_FAILED = 1015


LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)
MIN_CLOSE_REASON = 1000
MAX_PROTOCOL_CLOSE_REASON = 2999
MAX_CLOSE_REASON = 4999
MAX_PAYLOAD_NORMAL = 125


class ParseFailed(Exception):
    """A protocol violation in received data; ``code`` is the close code to answer with."""

    def __init__(self, msg: str, code: int = CloseReason.PROTOCOL_ERROR) -> None:
        super().__init__(msg)
        self.code = code


class RsvBits(NamedTuple):
    rsv1: bool
    rsv2: bool
    rsv3: bool


class Frame(NamedTuple):
    opcode: Opcode
    payload: Union[bytes, str, Tuple[int, str]]
    frame_finished: bool
    message_finished: bool


__all__ = [
    "LOCAL_ONLY_CLOSE_REASONS",
    "CloseReason",
    "Frame",
    "Opcode",
    "ParseFailed",
    "RsvBits",
]
