"""permessage-deflate (RFC 7692), sans-IO: negotiation and the per-connection compression state.

Server side: put a :class:`PerMessageDeflate` in the extensions given to
:func:`fastws.handshake.negotiate_extensions`; once the 101 is sent, build the
connection's state with ``ext.make_session(agreed_params)``.
Client side: send :func:`client_offer` in the request and check the server's
answer with :func:`client_accept`, which returns the connection's state.

Either way a :class:`DeflateSession` comes out: ``compress`` / ``compress_fragment``
for outgoing messages (the caller sets RSV1 on the first frame of a compressed
message, and sends messages shorter than ``threshold`` uncompressed with RSV1
clear), ``decompress`` for incoming messages with RSV1 set.

The zlib work is done by ``fastws._deflate_c`` (Cython, zlib's C API) when
built, by its pure-Python twin ``fastws._deflate_py`` otherwise;
``FASTWS_PURE=1`` forces the pure one, as for the codec.

Decisions worth knowing (see also ``fastws/_deflate_py.py``):

* Window bits 8 are accepted in both directions.  zlib cannot build a raw
  deflate compressor with an 8-bit window, so ours uses 9, whose matches never
  reach further than 250 bytes back: the output fits the peer's 256-byte window.
* The server's own ``server_max_window_bits`` is applied silently when the client
  did not ask for a limit (compressing with a smaller window than the peer's
  inflater needs no agreement); it is answered only to an offer that carries
  the parameter, since some clients (Firefox, at least historically) failed on
  an unrequested one.
* Corrupt compressed data fails the connection with 1007 (invalid frame payload
  data): RFC 7692 §8.2.3.x lets an endpoint fail the connection when inflating
  fails, and 1007 is RFC 6455's code for data inconsistent with the message type.
  A message that inflates beyond ``max_size`` fails with 1009, after at most
  ``max_size + 1`` bytes were produced (a compression bomb never gets further).
* Bytes after a final (BFINAL) deflate block are ignored, and the next message
  starts a new stream (RFC 7692 §7.2.3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from ._impl import implementation as _implementation
from ._impl import load
from .exceptions import InvalidHandshake, ProtocolError
from .handshake import ExtensionParams

__all__ = [
    "DEFAULT_THRESHOLD",
    "EXTENSION_NAME",
    "IMPLEMENTATION",
    "Compressor",
    "Decompressor",
    "DeflateParams",
    "DeflateSession",
    "PerMessageDeflate",
    "ProtocolError",
    "client_accept",
    "client_offer",
    "implementation",
    "memory_estimate",
    "parse_params",
]

EXTENSION_NAME = "permessage-deflate"
DEFAULT_THRESHOLD = 128
"""Messages shorter than this many bytes are sent uncompressed: deflate would not shrink them."""

# RFC 7692 §7.1.2.1 / §7.1.2.2: "a decimal integer value without leading zeroes between 8 to 15".
_WINDOW_BITS = {str(n): n for n in range(8, 16)}
_NAMES = (
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
)

# zlib's memory use per stream (zconf.h): deflate (1 << (windowBits+2)) + (1 << (memLevel+9)),
# inflate 1 << windowBits, each plus "a few kilobytes for small objects": zlib's
# state structs, about these sizes (tracemalloc, zlib 1.2.13, x86-64).
_DEFLATE_STATE = 6_000
_INFLATE_STATE = 7_200


def implementation(name: str) -> ModuleType:
    """The kernels for ``name``: "c" (ImportError if not built) or "python"."""
    return _implementation(name, "fastws._deflate_c", "fastws._deflate_py")


def _module(impl: str | ModuleType | None) -> ModuleType:
    if impl is None:
        return _impl
    if isinstance(impl, str):
        return implementation(impl)
    return impl


_impl = load("fastws._deflate_c", "fastws._deflate_py")
IMPLEMENTATION: str = _impl.IMPLEMENTATION
Compressor = _impl.Compressor
Decompressor = _impl.Decompressor


def memory_estimate(
    compress_window_bits: int = 15, mem_level: int = 8, decompress_window_bits: int = 15
) -> int:
    """Bytes of zlib state one connection holds once it has sent and received a message.

    zlib's documented formulas (zconf.h) plus its state structs; a compressor
    agreed at 8 window bits runs at 9 (see the module docstring).
    """
    cw = max(compress_window_bits, 9)
    deflate = (1 << (cw + 2)) + (1 << (mem_level + 9)) + _DEFLATE_STATE
    inflate = (1 << decompress_window_bits) + _INFLATE_STATE
    return deflate + inflate


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class DeflateParams:
    """The permessage-deflate parameters of one offer or answer (RFC 7692 §7.1).

    ``client_max_window_bits`` is ``True`` for the parameter without a value,
    which only an offer may carry; None means absent everywhere.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | bool | None = None

    def to_params(self) -> ExtensionParams:
        """As ``[(name, value or None), ...]`` for :func:`fastws.handshake.format_extensions`."""
        params: ExtensionParams = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None and self.client_max_window_bits is not False:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return params


def parse_params(params: ExtensionParams, *, offer: bool) -> DeflateParams:
    """Validate and decode the parameters of an offer (``offer=True``) or an answer.

    Raises ValueError, with a one-line reason, for an unknown or repeated
    parameter, a value where none belongs, a missing value, or a window size
    that is not 8..15 written without leading zeros.  Names are expected
    lower-cased and values unquoted, as :func:`fastws.handshake.parse_extensions`
    returns them.
    """
    key = (tuple(params), offer)
    try:
        known = _PARSED_PARAMS.get(key)
    except TypeError:  # not (name, value) tuples: parsed, not kept
        return _parse_params(params, offer)
    if known is not None:
        return known
    parsed = _parse_params(params, offer)
    if len(_PARSED_PARAMS) < _PARSED_PARAMS_MAX:
        _PARSED_PARAMS[key] = parsed
    return parsed


# Decoded parameter lists (immutable results): a handshake re-parsed the same few offers
# (3 µs each, most of it the frozen dataclass); invalid ones raise every time, not kept.
_PARSED_PARAMS: dict[tuple[tuple[tuple[str, str | None], ...], bool], DeflateParams] = {}
_PARSED_PARAMS_MAX = 256


def _parse_params(params: ExtensionParams, offer: bool) -> DeflateParams:
    seen: set[str] = set()
    values: dict[str, object] = {}
    for name, value in params:
        if name not in _NAMES:
            raise ValueError(f"unknown parameter {name!r}")
        if name in seen:
            raise ValueError(f"duplicate parameter {name!r}")
        seen.add(name)
        if name.endswith("_no_context_takeover"):
            if value is not None:
                raise ValueError(f"{name} takes no value, got {value!r}")
            values[name] = True
        elif value is None:
            if name == "client_max_window_bits" and offer:
                values[name] = True  # "I accept a limit": allowed in offers only (§7.1.2.2)
            else:
                raise ValueError(f"{name} needs a value")
        else:
            bits = _WINDOW_BITS.get(value)
            if bits is None:
                raise ValueError(
                    f"{name} must be an integer from 8 to 15 without leading zeros, got {value!r}"
                )
            values[name] = bits
    return DeflateParams(**values)  # type: ignore[arg-type]


def _check_bits(name: str, value: object, allow_true: bool = False) -> None:
    if value is None or (allow_true and value is True):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(
            f"{name} must be an int from 8 to 15" + (", True" if allow_true else "") + " or None"
        )


def _check_compression(level: int, mem_level: int, threshold: int) -> None:
    if not -1 <= level <= 9:
        raise ValueError(f"level must be between -1 and 9, got {level}")
    if not 1 <= mem_level <= 9:
        raise ValueError(f"mem_level must be between 1 and 9, got {mem_level}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")


# --------------------------------------------------------------------------- session


class DeflateSession:
    """One connection's compression state: a compressor for what this side sends,
    a decompressor for what it receives.

    ``compress(data) -> bytes``: one whole message (str is compressed as UTF-8),
    the 00 00 ff ff tail removed; send it with RSV1 set.
    ``compress_fragment(data, final) -> bytes``: one frame of a fragmented
    message; RSV1 goes on the first frame only.
    ``decompress(data, max_size) -> bytes``: the payload of a message received
    with RSV1; ProtocolError 1009 beyond ``max_size`` bytes (None: no limit),
    1007 for corrupt data.  After either error the connection must fail.
    ``threshold``: send messages shorter than this uncompressed (RSV1 clear); the
    length is len(message): bytes, or characters for a str.
    """

    __slots__ = (
        "compress",
        "compress_fragment",
        "compressor",
        "decompress",
        "decompressor",
        "is_client",
        "params",
        "threshold",
    )  # fmt: skip

    def __init__(
        self,
        compressor: object,
        decompressor: object,
        threshold: int = DEFAULT_THRESHOLD,
        params: ExtensionParams | None = None,
        is_client: bool = False,
    ) -> None:
        self.compressor = compressor
        self.decompressor = decompressor
        self.threshold = threshold
        self.params: ExtensionParams = list(params or [])
        """The agreed parameters, as answered by the server."""
        self.is_client = is_client
        # Bound methods: the hot path calls straight into the kernels.
        self.compress = compressor.compress  # type: ignore[attr-defined]
        self.compress_fragment = compressor.compress_fragment  # type: ignore[attr-defined]
        self.decompress = decompressor.decompress  # type: ignore[attr-defined]

    def memory_estimate(self) -> int:
        """Bytes of zlib state held once a message went each way (zlib's formulas, see :func:`memory_estimate`)."""
        c, d = self.compressor, self.decompressor
        return memory_estimate(c.window_bits, c.mem_level, d.window_bits)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        c, d = self.compressor, self.decompressor
        return (
            f"<DeflateSession {side} send={c.window_bits}b"  # type: ignore[attr-defined]
            f"{'/reset' if c.no_context_takeover else ''}"  # type: ignore[attr-defined]
            f" receive={d.window_bits}b{'/reset' if d.no_context_takeover else ''}>"  # type: ignore[attr-defined]
        )


def _session(
    mod: ModuleType,
    *,
    send_bits: int,
    send_reset: bool,
    receive_bits: int,
    receive_reset: bool,
    level: int,
    mem_level: int,
    threshold: int,
    params: ExtensionParams,
    is_client: bool,
) -> DeflateSession:
    return DeflateSession(
        mod.Compressor(send_bits, send_reset, level, mem_level),
        mod.Decompressor(receive_bits, receive_reset),
        threshold,
        params,
        is_client,
    )


# --------------------------------------------------------------------------- server


class PerMessageDeflate:
    """Server side of permessage-deflate: a :class:`fastws.handshake.Extension`.

    Stateless, so one instance serves every connection.  Options:

    * ``server_no_context_takeover``: reset our compressor after every message
      (saves nothing by itself: the memory is held anyway; pair it with small windows).
    * ``client_no_context_takeover``: ask the client to reset its compressor
      after every message.
    * ``server_max_window_bits`` (8-15 or None for 15): our compressor's window;
      the largest share of the per-connection memory with ``mem_level``.
    * ``client_max_window_bits`` (8-15 or None): ask the client for at most this
      window (only possible when its offer carries ``client_max_window_bits``;
      otherwise we inflate with 15 bits).
    * ``level`` (-1..9, default 1: fast), ``mem_level`` (1..9, default 8; lower
      uses less memory for slightly worse compression).
    * ``threshold``: messages shorter than this are sent uncompressed.
    * ``implementation``: "c", "python" or None for the active one (tests, benchmarks).

    Memory per connection with the defaults is about 300 KiB, at
    ``server_max_window_bits=9, mem_level=1`` (plus ``client_max_window_bits=9``)
    about 17 KiB; see :func:`memory_estimate` and ``bench/deflate_memory.py``.
    """

    name = EXTENSION_NAME

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        level: int = 1,
        mem_level: int = 8,
        threshold: int = DEFAULT_THRESHOLD,
        implementation: str | ModuleType | None = None,
    ) -> None:
        _check_bits("server_max_window_bits", server_max_window_bits)
        _check_bits("client_max_window_bits", client_max_window_bits)
        _check_compression(level, mem_level, threshold)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.level = level
        self.mem_level = mem_level
        self.threshold = threshold
        self._mod = _module(implementation)

    def negotiate(self, offers: list[ExtensionParams]) -> ExtensionParams | None:
        """Answer the first acceptable offer (client preference order); None if none is.

        An offer with an unknown, repeated or malformed parameter is declined;
        the next one is tried.  Never raises for the client's input.
        """
        for offer in offers:
            try:
                params = parse_params(offer, offer=True)
            except ValueError:
                continue
            return self.answer(params).to_params()
        return None

    def answer(self, offer: DeflateParams) -> DeflateParams:
        """The response to a valid offer (RFC 7692 §7.1)."""
        server_bits = None
        if offer.server_max_window_bits is not None:
            # §7.1.2.1: accepted by answering the same or a smaller value.
            server_bits = min(offer.server_max_window_bits, self.server_max_window_bits or 15)
        client_bits: int | None = None
        if offer.client_max_window_bits is not None:
            # §7.1.2.2: only answered when offered; at most the offered value.
            offered = 15 if offer.client_max_window_bits is True else int(offer.client_max_window_bits)
            if self.client_max_window_bits is not None:
                client_bits = min(self.client_max_window_bits, offered)
            elif offer.client_max_window_bits is not True:
                client_bits = offered  # binds the client to its own hint; we inflate with it
        return DeflateParams(
            server_no_context_takeover=self.server_no_context_takeover or offer.server_no_context_takeover,
            client_no_context_takeover=self.client_no_context_takeover or offer.client_no_context_takeover,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )

    def make_session(self, agreed_params: ExtensionParams, is_client: bool = False) -> DeflateSession:
        """The connection's state for the parameters :meth:`negotiate` answered.

        ``is_client=False`` (the normal use): compress with the server_* values,
        decompress with the client_* ones; ``is_client=True`` the reverse (e.g.
        to pair sessions in tests).  The server's own ``server_max_window_bits``
        caps its compressor even when it was not part of the answer.
        Raises ValueError if ``agreed_params`` is not a valid answer.
        """
        p = parse_params(agreed_params, offer=False)
        server_bits = p.server_max_window_bits or 15
        if not is_client and self.server_max_window_bits is not None:
            server_bits = min(server_bits, self.server_max_window_bits)
        client_bits = int(p.client_max_window_bits or 15)
        if is_client:
            send_bits, send_reset = client_bits, p.client_no_context_takeover
            receive_bits, receive_reset = server_bits, p.server_no_context_takeover
        else:
            send_bits, send_reset = server_bits, p.server_no_context_takeover
            receive_bits, receive_reset = client_bits, p.client_no_context_takeover
        return _session(
            self._mod,
            send_bits=send_bits,
            send_reset=send_reset,
            receive_bits=receive_bits,
            receive_reset=receive_reset,
            level=self.level,
            mem_level=self.mem_level,
            threshold=self.threshold,
            params=agreed_params,
            is_client=is_client,
        )

    def __repr__(self) -> str:
        opts = [
            f"{k}={getattr(self, k)!r}"
            for k in (*_NAMES, "level", "mem_level", "threshold")
            if getattr(self, k) not in (None, False)
        ]
        return f"PerMessageDeflate({', '.join(opts)})"


# --------------------------------------------------------------------------- client


def client_offer(
    client_max_window_bits: int | bool | None = True,
    server_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
) -> ExtensionParams:
    """The parameters of the client's permessage-deflate offer.

    ``client_max_window_bits``: True (default, as browsers do) offers the
    parameter without a value, letting the server limit our window; an int
    also promises to compress with at most that window; None/False omits it.
    ``server_max_window_bits``: ask the server to compress with at most this
    window (our decompressor's memory).  ``*_no_context_takeover``: ask for /
    announce a compressor reset after every message.

    Send as ``format_extensions([("permessage-deflate", params)])``.
    """
    if client_max_window_bits is False:
        client_max_window_bits = None
    _check_bits("client_max_window_bits", client_max_window_bits, allow_true=True)
    _check_bits("server_max_window_bits", server_max_window_bits)
    return DeflateParams(
        server_no_context_takeover=bool(server_no_context_takeover),
        client_no_context_takeover=bool(client_no_context_takeover),
        server_max_window_bits=server_max_window_bits,
        client_max_window_bits=client_max_window_bits,
    ).to_params()


def client_accept(
    response_params: ExtensionParams,
    offered: ExtensionParams,
    *,
    level: int = 1,
    mem_level: int = 8,
    threshold: int = DEFAULT_THRESHOLD,
    implementation: str | ModuleType | None = None,
) -> DeflateSession:
    """Check the server's permessage-deflate answer against our offer; the connection's state.

    ``offered`` is what :func:`client_offer` returned.  Raises
    :class:`InvalidHandshake` (status 101) when the answer holds an unknown,
    repeated or malformed parameter, a ``client_max_window_bits`` we did not
    offer, a window larger than we offered or asked for, or omits
    ``server_no_context_takeover`` / ``server_max_window_bits`` that we asked for.
    """
    _check_compression(level, mem_level, threshold)
    offer = parse_params(offered, offer=True)  # ValueError: our own offer is wrong

    def fail(reason: str) -> InvalidHandshake:
        return InvalidHandshake(101, f"invalid permessage-deflate response: {reason}")

    try:
        answer = parse_params(response_params, offer=False)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if offer.server_no_context_takeover and not answer.server_no_context_takeover:
        raise fail("server_no_context_takeover was requested but not confirmed")
    if offer.server_max_window_bits is not None:
        if answer.server_max_window_bits is None:
            raise fail(
                f"server_max_window_bits={offer.server_max_window_bits} was requested but not confirmed"
            )
        if answer.server_max_window_bits > offer.server_max_window_bits:
            raise fail(
                f"server_max_window_bits={answer.server_max_window_bits} is larger than the "
                f"{offer.server_max_window_bits} requested"
            )
    if answer.client_max_window_bits is not None:
        if offer.client_max_window_bits is None:
            raise fail("client_max_window_bits was not offered")
        if (
            offer.client_max_window_bits is not True
            and answer.client_max_window_bits > offer.client_max_window_bits
        ):
            raise fail(
                f"client_max_window_bits={answer.client_max_window_bits} is larger than the "
                f"{offer.client_max_window_bits} offered"
            )
    # We compress with the server's limit, else the one we promised, else 15.
    send_bits = answer.client_max_window_bits
    if send_bits is None:
        send_bits = 15 if offer.client_max_window_bits in (None, True) else offer.client_max_window_bits
    return _session(
        _module(implementation),
        send_bits=int(send_bits),
        send_reset=answer.client_no_context_takeover or offer.client_no_context_takeover,
        receive_bits=answer.server_max_window_bits or 15,
        receive_reset=answer.server_no_context_takeover,
        level=level,
        mem_level=mem_level,
        threshold=threshold,
        params=response_params,
        is_client=True,
    )
