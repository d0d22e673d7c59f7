"""Encode-once broadcast: one message to many connections, the frame built once.

:func:`broadcast` builds the frame once and writes the same bytes to every open
connection. With permessage-deflate, the message is compressed once per distinct
window size, without context (a fresh stream, sync flush, tail stripped, RSV1
set), and that payload goes to every connection that negotiated deflate: RFC 7692
(§7.2.3) lets a sender start any message without referring to earlier data.
The peer's inflater appends the shared message to its window while our
compressor never saw it, so each such connection's compressor starts its next
message afresh (flagged by the broadcast, reset lazily by the connection: many
broadcasts in a row cost one reset). Connections without deflate, and messages below a
connection's ``threshold``, get the uncompressed frame.

Server-side frames are unmasked, so the bytes really are shared. A client-side
connection must mask what it sends: it gets its own frame, masked with its own
key (the compressed payload is still shared).

A slow consumer (a peer that does not read what it is sent) cannot grow memory
without bound: a connection whose write buffer is over its limit either misses
this message (``slow="skip"``, the default) or is closed (``slow="close"``, with
``close_code``, 1008 by default). Either way a connection buffers at most its
limit plus one message. Nothing raises for a connection that is not open: it is
skipped and counted; the counts come back in a :class:`BroadcastResult`.

Synchronous and loop-bound: call it from the thread that runs the connections'
event loop (a callback, a task, or a listener's ``on_message``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Optional, Union

from . import codec
from ._impl import load
from .constants import CLOSE_POLICY_VIOLATION, OP_BINARY, OP_TEXT

if TYPE_CHECKING:
    from ._connection_py import Connection

__all__ = ["BroadcastResult", "broadcast"]

_SLOW_POLICIES = ("skip", "close")
# The connection core of this process, whose fan_out() runs the loop (in C when compiled).
_core = load("fastws._connection_c", "fastws._connection_py")
# Compressors that reset after every message, one per (kind, window bits, level, memory
# level) and thread (several event loops may run in threads; zlib streams must not be shared).
_local = threading.local()


class BroadcastResult(NamedTuple):
    """What :func:`broadcast` did, connection by connection (the counts add up to the
    number of connections given)."""

    sent: int
    """Connections the message was written to (queued in their transport's buffer)."""
    compressed: int
    """Of those, how many got it compressed (permessage-deflate)."""
    not_open: int
    """Skipped: not open (still in the opening handshake, closing or closed)."""
    busy: int
    """Skipped: in the middle of sending a fragmented message (frames cannot interleave)."""
    skipped: int
    """Skipped as slow consumers (``slow="skip"``): write buffer over the limit."""
    closed: int
    """Closed as slow consumers (``slow="close"``): write buffer over the limit."""
    frames_built: int
    """Distinct frames built: 1 for the uncompressed one, 1 per window size compressed,
    1 per client-side (masked) connection. 0 when nobody needed one."""


def broadcast(
    connections: Iterable[Connection],
    message: Union[str, bytes, bytearray, memoryview],
    *,
    text: Optional[bool] = None,
    compress: bool = True,
    slow: str = "skip",
    max_buffered: Optional[int] = None,
    close_code: int = CLOSE_POLICY_VIOLATION,
    close_reason: str = "slow consumer",
) -> BroadcastResult:
    """Send ``message`` to every open connection in ``connections``; the frame is built once.

    ``message``: ``str`` is sent as text, bytes-like as binary; ``text=True`` sends
    bytes as text (they must be UTF-8: ``ValueError`` otherwise, nothing sent) and
    ``text=False`` sends a str as binary (its UTF-8 bytes). ``compress=False``: no
    permessage-deflate for this message (already-compressed data). Connections that
    negotiated deflate share one compressed payload per window size, compressed with the
    level and memory level of the first of them.

    Slow consumers: a connection whose unsent bytes are over ``max_buffered``
    (``None``, the default: over its own ``write_limit``, i.e. while its writing is
    paused) is skipped (``slow="skip"``) or closed with ``close_code`` and
    ``close_reason`` (``slow="close"``).

    Connections that are not open, or that are sending a fragmented message, are
    skipped. Returns the counts; never raises for a connection's state.
    """
    if slow not in _SLOW_POLICIES:
        raise ValueError(f"slow must be 'skip' or 'close', got {slow!r}")
    if max_buffered is not None and (
        not isinstance(max_buffered, int) or isinstance(max_buffered, bool) or max_buffered < 0
    ):
        raise ValueError(f"max_buffered must be None or an int >= 0, got {max_buffered!r}")
    if slow == "close":
        codec.build_close_payload(close_code, close_reason)  # ValueError for a bad code, up front
    payload, opcode = _payload(message, text)
    return BroadcastResult(
        *_core.fan_out(
            connections,
            opcode,
            payload,
            len(message) if isinstance(message, str) else len(payload),  # what thresholds compare
            compress,
            slow == "close",
            -1 if max_buffered is None else max_buffered,
            close_code,
            close_reason,
            _fresh_compressor,
        )
    )


def _payload(message: Any, text: Optional[bool]) -> tuple[bytes, int]:
    """The message's bytes and opcode; TypeError / ValueError for what cannot be sent."""
    if isinstance(message, str):
        return message.encode("utf-8"), (OP_BINARY if text is False else OP_TEXT)
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
    payload = bytes(message)  # a snapshot: the caller may reuse its buffer once this returns
    if text:
        if not codec.validate_utf8(payload):
            raise ValueError("text=True but the message is not valid UTF-8: nothing was sent")
        return payload, OP_TEXT
    return payload, OP_BINARY


def _fresh_compressor(like: Any) -> Any:
    """A compressor of ``like``'s kind and settings that starts every message afresh."""
    cache: Optional[dict[tuple[Any, ...], Any]] = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    key = (type(like), like.window_bits, like.level, like.mem_level)
    compressor = cache.get(key)
    if compressor is None:
        compressor = cache[key] = type(like)(like.window_bits, True, like.level, like.mem_level)
    return compressor
