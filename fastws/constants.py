"""Protocol constants (RFC 6455 §5.2, §7.4)."""

from __future__ import annotations

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # never sent: "no code in the close frame"
CLOSE_ABNORMAL = 1006  # never sent: "TCP closed without a close frame"
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_MANDATORY_EXTENSION = 1010
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TLS_HANDSHAKE = 1015  # never sent

# Default limits of the codec: conservative, raised by servers that need more.
DEFAULT_MAX_FRAME_SIZE = 1 << 20
DEFAULT_MAX_MESSAGE_SIZE = 1 << 20
