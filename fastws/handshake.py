"""Sans-IO opening handshake (RFC 6455 §4): bytes in, request/response objects out, and back.

Nothing here does I/O. A server feeds received bytes to :class:`ServerHandshake`
until it yields a :class:`Request`, then calls :func:`process_request` (or the
pieces it is made of) and sends either the 101 it returns or
:func:`error_response` of the :class:`InvalidHandshake` it raised. A client
sends :func:`build_client_request`, feeds the answer to :class:`ClientHandshake`
and checks the :class:`Response` with :func:`validate_response`.

HTTP parsing is delegated to ``httptools`` (llhttp). Header bytes are decoded
as latin-1 so that every octet survives a round trip; re-encode with latin-1
to get the original bytes (e.g. for UTF-8 cookie values).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import List, Optional, Protocol, Tuple
from urllib.parse import parse_qs, quote, urlsplit

import httptools

from .exceptions import HandshakeRedirect, HandshakeRejected, InvalidHandshake, InvalidURI

__all__ = [
    "GUID",
    "DEFAULT_MAX_HEAD_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_BODY_SIZE",
    "ExtensionParams",
    "ExtensionOffer",
    "Headers",
    "Request",
    "Response",
    "ServerHandshake",
    "ClientHandshake",
    "Extension",
    "ServerAccept",
    "Negotiated",
    "accept_key",
    "generate_key",
    "parse_token_list",
    "parse_extensions",
    "format_extensions",
    "select_subprotocol",
    "negotiate_extensions",
    "validate_request",
    "check_origin",
    "process_request",
    "build_response_101",
    "build_http_response",
    "error_response",
    "build_client_request",
    "validate_response",
    "parse_uri",
    "basic_auth_header",
    # re-exported for convenience
    "InvalidHandshake",
    "HandshakeRejected",
    "HandshakeRedirect",
    "InvalidURI",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

DEFAULT_MAX_HEAD_SIZE = 8192  # request/status line + headers + blank line
DEFAULT_MAX_HEADERS = 100
DEFAULT_MAX_BODY_SIZE = 65536  # client: body of a non-101 answer, kept for diagnostics only

# Aliases are evaluated at runtime, hence typing.Optional rather than `X | None` (python 3.9).
ExtensionParams = List[Tuple[str, Optional[str]]]
"""Parameters of one extension offer or answer: ``[(name, value or None), ...]``."""
ExtensionOffer = Tuple[str, ExtensionParams]
"""One element of a ``Sec-WebSocket-Extensions`` header: ``(name, params)``."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 tchar
_OWS = re.compile(r"[ \t]*")
# quoted-string, RFC 9110 §5.6.4: qdtext / quoted-pair; group 1 is the escaped content.
_QUOTED = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*)"')
_QUOTED_PAIR = re.compile(r"\\(.)")
# End of the head. llhttp rejects bare LF itself; matching it here lets such a
# request fail fast with 400 instead of waiting for the size limit.
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")
_ZEROS = re.compile(r"0+")
# What parse_uri lets into a Host header: an RFC 3986 reg-name / IPv4, or an
# IPv6 literal with an optional zone id.
_HOST = re.compile(r"[a-z0-9\-._~!$&'()*+,;=%]+|[0-9a-f:.]+(?:%[a-z0-9\-._~%]+)?")
# Characters left as-is when percent-encoding a path or query for the request line.
_PATH_SAFE = "/%!$&'()*+,;=:@"
_QUERY_SAFE = _PATH_SAFE + "?"


def _peer(value: str, limit: int = 60) -> str:
    """Render a peer-supplied value for a one-line message (repr escapes control chars)."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


# --------------------------------------------------------------------------- headers


class Headers(Mapping[str, str]):
    """Case-insensitive multi-dict of HTTP header fields; arrival order and casing are kept.

    ``headers[name]`` / ``headers.get(name)`` give every value of a field joined
    with ", " (RFC 9110 §5.3; "; " for Cookie, RFC 6265 §5.4); ``get_all`` gives
    them as a list and ``multi_items`` gives every field in arrival order.
    Iteration yields each distinct name once, spelled as first seen.
    """

    __slots__ = ("_fields", "_values", "_names")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str]] = []
        self._values: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        for name, value in fields:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a field (repeated names accumulate)."""
        key = name.lower()
        self._fields.append((name, value))
        self._values.setdefault(key, []).append(value)
        self._names.setdefault(key, name)

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        return ("; " if key == "cookie" else ", ").join(self._values[key])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._names)

    def get_all(self, name: str) -> list[str]:
        """Every value of field ``name`` in arrival order (empty list if absent)."""
        return list(self._values.get(name.lower(), ()))

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` field in arrival order."""
        return list(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(n.lower(), v) for n, v in self._fields] == [(n.lower(), v) for n, v in other._fields]

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


def _split_list(values: Iterable[str]) -> list[str]:
    """Non-empty, stripped elements of comma-separated values (RFC 9110 §5.6.1), unvalidated."""
    return [item.strip(" \t") for value in values for item in value.split(",") if item.strip(" \t")]


def _has_token(values: Iterable[str], token: str) -> bool:
    return any(item.lower() == token for item in _split_list(values))


def parse_token_list(values: Iterable[str], header: str = "header") -> list[str]:
    """Tokens of comma-separated values across repeated fields, in order; empty elements skipped.

    Raises :class:`InvalidHandshake` (400) naming ``header`` if an element is not a token.
    """
    items = _split_list(values)
    for item in items:
        if not _TOKEN.fullmatch(item):
            raise InvalidHandshake(400, f"invalid {header} header: {_peer(item)} is not a token")
    return items


def _parse_cookies(values: Iterable[str]) -> dict[str, str]:
    """``name=value`` pairs of Cookie fields; the first occurrence of a name wins.

    Browsers list the most specific (longest path) cookie first (RFC 6265 §5.4),
    hence first-wins. Values are not percent-decoded: RFC 6265 defines no encoding.
    Pairs without "=" or without a name are skipped rather than failing the request.
    """
    cookies: dict[str, str] = {}
    for value in values:
        for pair in value.split(";"):
            name, sep, val = pair.partition("=")
            name = name.strip(" \t")
            if not sep or not name:
                continue
            val = val.strip(" \t")
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            cookies.setdefault(name, val)
    return cookies


# --------------------------------------------------------------------------- extensions


def parse_extensions(values: Iterable[str]) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` fields (RFC 6455 §9.1) into ``[(name, params), ...]``.

    Several offers per field and repeated fields are concatenated in order.
    Extension and parameter names are lower-cased (tokens compare
    case-insensitively); values are kept as sent, quoted-strings unescaped.
    Raises :class:`InvalidHandshake` (400) on malformed input.
    """
    offers: list[ExtensionOffer] = []
    for value in values:
        parsed = _PARSED_FIELDS.get(value)
        if parsed is None:
            parsed = tuple((name, tuple(params)) for name, params in _parse_extension_field(value))
            if len(_PARSED_FIELDS) < _PARSED_FIELDS_MAX:
                _PARSED_FIELDS[value] = parsed
        offers.extend((name, list(params)) for name, params in parsed)
    return offers


# Parsed Sec-WebSocket-Extensions values: clients send a handful of distinct ones, and
# parsing one took 6 µs of each handshake. A pure function of the string; malformed values
# raise every time and are not kept.
_PARSED_FIELDS: dict[str, tuple[tuple[str, tuple[tuple[str, str | None], ...]], ...]] = {}
_PARSED_FIELDS_MAX = 256


def _parse_extension_field(s: str) -> list[ExtensionOffer]:
    def fail(what: str, at: int) -> InvalidHandshake:
        return InvalidHandshake(400, f"invalid Sec-WebSocket-Extensions header: {what} at {at} in {_peer(s)}")

    def ows(pos: int) -> int:
        return _OWS.match(s, pos).end()  # type: ignore[union-attr]  # always matches

    def token(pos: int, what: str) -> tuple[str, int]:
        m = _TOKEN.match(s, pos)
        if m is None:
            raise fail(f"expected {what}", pos)
        return m.group(), m.end()

    offers: list[ExtensionOffer] = []
    pos, n = 0, len(s)
    while True:
        pos = ows(pos)
        if pos >= n:
            return offers
        if s[pos] == ",":  # empty list element, allowed by the #rule
            pos += 1
            continue
        name, pos = token(pos, "extension name")
        params: ExtensionParams = []
        pos = ows(pos)
        while pos < n and s[pos] == ";":
            pname, pos = token(ows(pos + 1), "parameter name")
            pos = ows(pos)
            pvalue: str | None = None
            if pos < n and s[pos] == "=":
                pos = ows(pos + 1)
                if pos < n and s[pos] == '"':
                    m = _QUOTED.match(s, pos)
                    if m is None:
                        raise fail("unterminated or invalid quoted-string", pos)
                    pvalue = _QUOTED_PAIR.sub(r"\1", m.group(1))
                    # §9.1: the unescaped value MUST still be a token.
                    if not _TOKEN.fullmatch(pvalue):
                        raise fail("quoted value is not a token", pos)
                    pos = m.end()
                else:
                    pvalue, pos = token(pos, "parameter value")
                pos = ows(pos)
            params.append((pname.lower(), pvalue))
        if pos < n and s[pos] != ",":
            raise fail(f"unexpected {s[pos]!r}", pos)
        offers.append((name.lower(), params))


def format_extensions(extensions: Iterable[ExtensionOffer]) -> str:
    """Serialize ``[(name, params), ...]`` as a ``Sec-WebSocket-Extensions`` value.

    Raises ValueError if a name or value is not a token (the §9.1 grammar allows no other).
    """
    parts = []
    for name, params in extensions:
        items = [name]
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"extension name {name!r} is not a token")
        for pname, pvalue in params:
            for t in (pname,) if pvalue is None else (pname, pvalue):
                if not _TOKEN.fullmatch(t):
                    raise ValueError(f"extension {name!r}: {t!r} is not a token")
            items.append(pname if pvalue is None else f"{pname}={pvalue}")
        parts.append("; ".join(items))
    return ", ".join(parts)


class Extension(Protocol):
    """Server side of one extension's negotiation (RFC 6455 §9.1).

    Implementations should be stateless (one instance serves every
    connection): the negotiated parameters are returned, not stored.
    """

    name: str
    """Extension token, e.g. ``"permessage-deflate"`` (compared case-insensitively)."""

    def negotiate(self, offers: list[ExtensionParams]) -> ExtensionParams | None:
        """Choose among the client's offers for this extension (client preference order).

        Return the parameters to answer with (``[]`` for none), or None to
        decline. Raise :class:`InvalidHandshake` to fail the handshake.
        """
        ...


def negotiate_extensions(
    offers: Sequence[ExtensionOffer], extensions: Sequence[Extension]
) -> tuple[str | None, list[tuple[Extension, ExtensionParams]]]:
    """Offer each supported extension (server order) the client's offers bearing its name.

    Returns the ``Sec-WebSocket-Extensions`` response value (None if nothing
    was accepted) and the accepted ``(extension, params)`` pairs in that order.
    """
    accepted: list[tuple[Extension, ExtensionParams]] = []
    for ext in extensions:
        name = ext.name.lower()
        mine = [params for offered, params in offers if offered == name]
        if mine:
            answer = ext.negotiate(mine)
            if answer is not None:
                accepted.append((ext, list(answer)))
    if not accepted:
        return None, []
    return format_extensions((ext.name.lower(), params) for ext, params in accepted), accepted


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """First of ``supported`` (server preference) that the client ``offered``, else None.

    Names compare exactly: RFC 6455 §11.3.4 registers them as case-sensitive.
    """
    offered_set = set(offered)
    for name in supported:
        if name in offered_set:
            return name
    return None


# --------------------------------------------------------------------------- keys


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` value for ``key``: base64(SHA-1(key + GUID)) (§4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (§4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


# --------------------------------------------------------------------------- parsing


class _Collector:
    """httptools callback target: gathers the head (and, for responses, the body)."""

    def __init__(self, max_headers: int, max_body: int = 0) -> None:
        self.max_headers = max_headers
        self.max_body = max_body
        self.url = bytearray()
        self.status = bytearray()
        self.headers = Headers()
        self.too_many = False
        self.headers_done = False
        self.message_done = False
        self.body = bytearray()
        self.body_truncated = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_status(self, status: bytes) -> None:
        self.status += status

    def on_header(self, name: bytes, value: bytes) -> None:
        # Counting rather than raising: an exception inside a callback would
        # surface as an opaque HttpParserCallbackError.
        if len(self.headers._fields) >= self.max_headers:
            self.too_many = True
            return
        self.headers.add(name.decode("latin-1"), value.decode("latin-1").strip(" \t"))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        room = self.max_body - len(self.body)
        if len(body) > room:
            self.body_truncated = True
            body = body[:room]
        self.body += body

    def on_message_complete(self) -> None:
        self.message_done = True


def _head_end(data: bytearray, start: int, stop: int) -> int:
    """Where the head's blank line ends (CR LF CR LF, or bare LFs: LF CR? LF), searched from
    ``start`` up to ``stop``; -1 if not there. Two memchr-speed searches: a regular expression
    (\\r?\\n\\r?\\n) took ~15 ns a byte, 1 ms per oversized request."""
    lf_lf = data.find(b"\n\n", start, stop)
    lf_cr_lf = data.find(b"\n\r\n", start, stop if lf_lf < 0 else lf_lf + 3)
    if lf_cr_lf >= 0:
        return lf_cr_lf + 3
    return lf_lf + 2 if lf_lf >= 0 else -1


class _HeadBuffer:
    """Accumulates bytes until the blank line ending an HTTP head, enforcing the size limit."""

    def __init__(self, max_size: int, what: str, status: int) -> None:
        self.max_size = max_size
        self.what = what
        self.status = status  # 431 to answer a client; 0 ("no valid status") on the client side
        self.data = bytearray()
        self.scanned = 0

    def feed(self, data: bytes) -> tuple[bytes, bytes] | None:
        """Add ``data``; return ``(head, rest)`` once the head is complete."""
        self.data += data
        # Resume 2 bytes back: the blank line (LF CR LF or LF LF) may straddle chunks. Past
        # max_size the head is too large anyway: a flood of header bytes is not scanned.
        start, stop = max(0, self.scanned - 2), self.max_size + 2
        end = _head_end(self.data, start, stop)
        if end < 0:
            self.scanned = len(self.data)
            if len(self.data) > self.max_size:
                raise self.too_large()
            return None
        if end > self.max_size:
            raise self.too_large()
        head, rest = bytes(self.data[:end]), bytes(self.data[end:])
        self.data = bytearray()
        return head, rest

    def too_large(self) -> InvalidHandshake:
        return InvalidHandshake(self.status, f"{self.what} line and headers exceed {self.max_size} bytes")


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


class Request:
    """A parsed opening-handshake request; not validated yet (see :func:`validate_request`)."""

    def __init__(self, method: str, path: str, headers: Headers, http_version: str = "1.1") -> None:
        self.method = method
        self.path = path
        """Raw request target, e.g. ``/chat?room=1`` (not percent-decoded)."""
        self.headers = headers
        self.http_version = http_version
        """``"1.1"``, as llhttp reports it."""

    def header(self, name: str) -> str | None:
        """Value of header ``name`` (repeated fields joined with ", "), or None."""
        return self.headers.get(name)

    @property
    def path_without_query(self) -> str:
        """The target's path, without ``?query`` (absolute-form targets reduced to their path)."""
        if not self.path.startswith("/") and "://" in self.path:
            return urlsplit(self.path).path or "/"
        return self.path.partition("?")[0]

    @cached_property
    def query(self) -> dict[str, list[str]]:
        """Query string parsed into ``{name: [values...]}`` (blank values kept)."""
        query = urlsplit(self.path).query if "://" in self.path else self.path.partition("?")[2]
        return parse_qs(query, keep_blank_values=True)

    @cached_property
    def cookies(self) -> dict[str, str]:
        """Cookies from every ``Cookie`` field; first occurrence of a name wins."""
        return _parse_cookies(self.headers.get_all("Cookie"))

    @property
    def subprotocols(self) -> list[str]:
        """Offered subprotocols, client order. Raises :class:`InvalidHandshake` (400) if malformed."""
        return parse_token_list(self.headers.get_all("Sec-WebSocket-Protocol"), "Sec-WebSocket-Protocol")

    @property
    def extension_offers(self) -> list[ExtensionOffer]:
        """Parsed ``Sec-WebSocket-Extensions``. Raises :class:`InvalidHandshake` (400) if malformed."""
        return parse_extensions(self.headers.get_all("Sec-WebSocket-Extensions"))

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path!r} HTTP/{self.http_version}, {len(self.headers)} headers)"


@dataclass
class Response:
    """A parsed handshake response."""

    status: int
    reason: str
    headers: Headers
    http_version: str = "1.1"
    body: bytes = b""
    """Body of a non-101 answer (truncated to the parser's ``max_body_size``)."""
    trailing: bytes = b""
    """Bytes received after a 101's head: the first WebSocket frames. Never drop them."""

    def header(self, name: str) -> str | None:
        """Value of header ``name`` (repeated fields joined with ", "), or None."""
        return self.headers.get(name)


class ServerHandshake:
    """Incremental parser of the client's opening handshake request.

    Call :meth:`feed` with received bytes until it returns a :class:`Request`;
    bytes that followed the request (frames pipelined by an eager client) are
    then in :attr:`trailing` and must be handed to the frame parser. Raises
    :class:`InvalidHandshake` (431 when a limit is exceeded, 400 for malformed
    HTTP or a body); answer it with :func:`error_response` and close.
    """

    def __init__(
        self, *, max_head_size: int = DEFAULT_MAX_HEAD_SIZE, max_headers: int = DEFAULT_MAX_HEADERS
    ) -> None:
        self.max_headers = max_headers
        self._head = _HeadBuffer(max_head_size, "request", 431)
        self.request: Request | None = None
        self.trailing = b""

    def feed(self, data: bytes) -> Request | None:
        """Add received bytes; return the request once its headers are complete, else None."""
        if self.request is not None:
            raise RuntimeError("request already complete; pass further bytes to the frame parser")
        split = self._head.feed(data)
        if split is None:
            return None
        head, rest = split
        request = _parse_request_head(head, self.max_headers)
        self.request, self.trailing = request, rest
        return request


def _parse_request_head(head: bytes, max_headers: int) -> Request:
    collector = _Collector(max_headers)
    parser = httptools.HttpRequestParser(collector)
    try:
        parser.feed_data(head)
    except httptools.HttpParserUpgrade:
        pass  # llhttp stops here on every Upgrade request: the expected case.
    except httptools.HttpParserError as exc:
        raise InvalidHandshake(400, f"malformed HTTP request: {exc}") from None
    if collector.too_many:
        raise InvalidHandshake(431, f"more than {max_headers} request headers")
    if not collector.headers_done:
        raise InvalidHandshake(400, "malformed HTTP request: incomplete head")
    headers = collector.headers
    # A body would be mistaken for WebSocket frames; llhttp already refuses
    # malformed or conflicting Content-Length / Transfer-Encoding.
    length = headers.get("Content-Length")
    if "Transfer-Encoding" in headers or (length is not None and not _ZEROS.fullmatch(length)):
        raise InvalidHandshake(400, "a handshake request must not have a body")
    return Request(
        method=parser.get_method().decode("latin-1"),
        path=collector.url.decode("latin-1"),
        headers=headers,
        http_version=parser.get_http_version(),
    )


class ClientHandshake:
    """Incremental parser of the server's handshake response.

    :meth:`feed` returns a :class:`Response` as soon as a 101's headers are
    complete (what followed is in :attr:`Response.trailing`); for any other
    status it goes on reading the body (up to ``max_body_size``) so that the
    rejection can be reported, returning once the body is complete. Call
    :meth:`feed_eof` when the connection closes: bodies delimited by the close
    end there. Check the result with :func:`validate_response`. A malformed,
    oversized or truncated head raises :class:`InvalidHandshake` with status 0
    (no usable HTTP status was received).
    """

    def __init__(
        self,
        *,
        max_head_size: int = DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.max_headers = max_headers
        self._head = _HeadBuffer(max_head_size, "status", 0)
        self._collector = _Collector(max_headers, max_body_size)
        self._parser = httptools.HttpResponseParser(self._collector)
        self._partial: Response | None = None  # non-101 head, body still coming
        self.response: Response | None = None

    @property
    def trailing(self) -> bytes:
        """Bytes after a 101's head (same as ``response.trailing``)."""
        return self.response.trailing if self.response is not None else b""

    def feed(self, data: bytes) -> Response | None:
        """Add received bytes; return the response once complete (see class doc), else None."""
        if self.response is not None:
            raise RuntimeError("response already complete; pass further bytes to the frame parser")
        if self._partial is None:
            split = self._head.feed(data)
            if split is None:
                return None
            head, data = split
            response = self._parse_head(head)
            if response.status == 101:
                response.trailing = data
                self.response = response
                return response
            self._partial = response
        self._feed_body(data)
        if self._collector.message_done or self._collector.body_truncated:
            return self._finish()
        return None

    def feed_eof(self) -> Response:
        """The connection closed: return the response read so far, or raise if its head is incomplete."""
        if self.response is not None:
            return self.response
        if self._partial is None:
            raise InvalidHandshake(0, "connection closed before the handshake response was complete")
        return self._finish()

    def _parse_head(self, head: bytes) -> Response:
        collector = self._collector
        try:
            self._parser.feed_data(head)
        except httptools.HttpParserUpgrade:
            pass  # llhttp stops at a 101's end of headers: the rest is WebSocket.
        except httptools.HttpParserError as exc:
            # llhttp also pauses after any 101, but httptools reports that as an
            # error when Upgrade/Connection are missing; validate_response says
            # what is actually wrong with such a response.
            if not (collector.headers_done and self._parser.get_status_code() == 101):
                raise InvalidHandshake(0, f"malformed HTTP response: {exc}") from None
        if collector.too_many:
            raise InvalidHandshake(0, f"more than {self.max_headers} response headers")
        if not collector.headers_done:
            raise InvalidHandshake(0, "malformed HTTP response: incomplete head")
        return Response(
            status=self._parser.get_status_code(),
            reason=collector.status.decode("latin-1"),
            # A copy: the parser goes on into a rejection's body (and its trailers).
            headers=Headers(collector.headers.multi_items()),
            http_version=self._parser.get_http_version(),
        )

    def _feed_body(self, data: bytes) -> None:
        if not data or self._collector.message_done:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            # A broken body of a rejection: report the status with what arrived.
            self._collector.message_done = True

    def _finish(self) -> Response:
        response = self._partial
        assert response is not None
        response.body = bytes(self._collector.body)
        self.response = response
        return response


# --------------------------------------------------------------------------- server


def validate_request(request: Request) -> str:
    """Check the request against RFC 6455 §4.2.1; return its ``Sec-WebSocket-Key``.

    Raises :class:`InvalidHandshake`: 405 (with ``Allow: GET``) for another
    method, 426 (with ``Sec-WebSocket-Version: 13``) for a missing or other
    version, 400 for everything else.
    """
    if request.method != "GET":
        raise InvalidHandshake(405, f"method {request.method} not allowed, use GET", [("Allow", "GET")])
    if request.http_version != "1.1" and _version_tuple(request.http_version) < (1, 1):
        raise InvalidHandshake(400, f"HTTP/{request.http_version} not supported, HTTP/1.1 or later required")
    hosts = request.headers.get_all("Host")
    if len(hosts) > 1:
        raise InvalidHandshake(400, "multiple Host headers")
    if not hosts or not hosts[0]:
        raise InvalidHandshake(400, "missing Host header")
    upgrade = request.headers.get_all("Upgrade")
    if not _has_token(upgrade, "websocket"):
        got = _peer(", ".join(upgrade)) if upgrade else "none"
        raise InvalidHandshake(400, f"Upgrade header must contain 'websocket', got {got}")
    connection = request.headers.get_all("Connection")
    if not _has_token(connection, "upgrade"):
        got = _peer(", ".join(connection)) if connection else "none"
        raise InvalidHandshake(400, f"Connection header must contain 'upgrade', got {got}")
    # Checked before the key: an old-protocol client (hixie-76 has no key) is
    # best answered with the version we speak.
    versions = request.headers.get_all("Sec-WebSocket-Version")
    if versions != ["13"]:
        got = _peer(", ".join(versions)) if versions else "none"
        # RFC 9110 §15.5.22: a 426 names the protocol to upgrade to, which in
        # turn requires the "upgrade" connection option (§7.8).
        raise InvalidHandshake(
            426,
            f"unsupported Sec-WebSocket-Version {got}, expected 13",
            [("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket"), ("Connection", "Upgrade, close")],
        )
    keys = request.headers.get_all("Sec-WebSocket-Key")
    if len(keys) != 1:
        what = "missing Sec-WebSocket-Key header" if not keys else "multiple Sec-WebSocket-Key headers"
        raise InvalidHandshake(400, what)
    key = keys[0]
    try:
        raw = base64.b64decode(key.encode("latin-1"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidHandshake(400, f"Sec-WebSocket-Key {_peer(key)} is not base64") from None
    if len(raw) != 16:
        raise InvalidHandshake(400, f"Sec-WebSocket-Key must decode to 16 bytes, got {len(raw)}")
    return key


def check_origin(
    request: Request, allowed_origins: Sequence[str] | None, *, allow_missing: bool = True
) -> None:
    """Raise :class:`InvalidHandshake` (403) unless ``Origin`` is one of ``allowed_origins``.

    ``allowed_origins=None`` allows everything. Matching is exact (browsers
    send the serialized, lower-case origin, e.g. ``https://example.com``).
    A request without Origin passes when ``allow_missing``: only browsers are
    bound to send it, and any other client could forge it anyway.
    """
    if allowed_origins is None:
        return
    origins = request.headers.get_all("Origin")
    if not origins:
        if allow_missing:
            return
        raise InvalidHandshake(403, "missing Origin header")
    if len(origins) > 1:
        raise InvalidHandshake(403, "multiple Origin headers")
    if origins[0] not in allowed_origins:
        raise InvalidHandshake(403, f"origin {_peer(origins[0])} not allowed")


@dataclass
class ServerAccept:
    """Outcome of :func:`process_request`: the 101 to send and what was negotiated."""

    response: bytes
    subprotocol: str | None = None
    extensions: list[tuple[Extension, ExtensionParams]] = field(default_factory=list)


def process_request(
    request: Request,
    *,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[Extension] = (),
    allowed_origins: Sequence[str] | None = None,
    allow_missing_origin: bool = True,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> ServerAccept:
    """Validate, check the origin, negotiate and build the 101.

    Raises :class:`InvalidHandshake`; send ``error_response(exc)`` and close.
    Subprotocol / extension headers are only parsed when the server supports
    some, so a malformed header the server would ignore does not fail.
    """
    validate_request(request)
    check_origin(request, allowed_origins, allow_missing=allow_missing_origin)
    subprotocol = select_subprotocol(request.subprotocols, subprotocols) if subprotocols else None
    ext_header: str | None = None
    accepted: list[tuple[Extension, ExtensionParams]] = []
    if extensions:
        ext_header, accepted = negotiate_extensions(request.extension_offers, extensions)
    response = build_response_101(request, subprotocol, ext_header, extra_headers)
    return ServerAccept(response, subprotocol, accepted)


def _serialize(start_line: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """Start line + headers + blank line (+ body); refuses anything that could split the head."""
    if _FORBIDDEN_IN_VALUE.search(start_line):
        raise ValueError(f"invalid start line {start_line!r}")
    return _join_head([start_line], headers) + body


def _join_head(lines: list[str], headers: Iterable[tuple[str, str]]) -> bytes:
    """``lines`` (trusted) + the header fields, checked + blank line, as bytes."""
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise ValueError(f"invalid value for header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


_101_START = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade"


def build_response_101(
    request: Request,
    subprotocol: str | None = None,
    extension_header: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The ``101 Switching Protocols`` answer to a validated ``request`` (§4.2.2).

    Raises ValueError if the request has no key or ``subprotocol`` was not offered
    (answering an unoffered one makes every conforming client fail).
    """
    key = request.header("Sec-WebSocket-Key")
    if key is None:
        raise ValueError("request has no Sec-WebSocket-Key; validate it first")
    headers = []
    if subprotocol is not None:
        if subprotocol not in request.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extension_header:
        headers.append(("Sec-WebSocket-Extensions", extension_header))
    headers.extend(extra_headers)
    # The fixed lines need no checking (the accept value is base64): only what came in does.
    return _join_head([_101_START, f"Sec-WebSocket-Accept: {accept_key(key)}"], headers)


def build_http_response(
    status: int,
    reason: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | str = b"",
) -> bytes:
    """A complete HTTP/1.1 response, e.g. a 400/403/426 rejection or a plain 200.

    ``reason`` is the reason phrase (standard one if None). A ``str`` body is
    sent as UTF-8 with ``Content-Type: text/plain; charset=utf-8`` unless a
    Content-Type is given. Content-Length is added where allowed, and
    ``Connection: close`` on anything but 101: after a failed handshake the
    connection is not reused.
    """
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    fields = list(headers)
    names = {name.lower() for name, _ in fields}
    if isinstance(body, str):
        body = body.encode("utf-8")
        if "content-type" not in names:
            fields.append(("Content-Type", "text/plain; charset=utf-8"))
    # RFC 9110 §8.6: no Content-Length on 1xx / 204.
    if status >= 200 and status != 204 and "content-length" not in names:
        fields.append(("Content-Length", str(len(body))))
    if status != 101 and "connection" not in names:
        fields.append(("Connection", "close"))
    return _serialize(f"HTTP/1.1 {status} {reason}".rstrip(" "), fields, body)


def error_response(exc: InvalidHandshake) -> bytes:
    """HTTP response for a server-side :class:`InvalidHandshake`: its status, headers, and reason as text."""
    return build_http_response(exc.status, None, exc.headers, exc.reason + "\n")


# --------------------------------------------------------------------------- client


def _host_header(host: str, port: int | None, secure: bool) -> str:
    if ":" in host and not host.startswith("["):  # IPv6 literal (RFC 3986 §3.2.2)
        host = f"[{host}]"
    if port is None or port == (443 if secure else 80):
        return host
    return f"{host}:{port}"


# The handshake's own fields; extra_headers may not override them (Host excepted).
_CLIENT_RESERVED = frozenset(
    {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-accept"}
)


def build_client_request(
    host: str,
    port: int | None,
    path_with_query: str,
    secure: bool,
    *,
    key: str | None = None,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions_header: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> tuple[bytes, str]:
    """The client's opening handshake (§4.1) and the ``Sec-WebSocket-Key`` it carries.

    ``Host`` omits the scheme's default port and brackets IPv6 literals; a
    ``Host`` in ``extra_headers`` replaces it (virtual hosting behind an IP).
    ``path_with_query`` must be ASCII, start with "/" and hold no whitespace
    (:func:`parse_uri` returns it percent-encoded). A fresh random key is used
    unless ``key`` is given.
    """
    if not path_with_query.startswith("/") or not path_with_query.isascii() or re.search(
        r"[\x00-\x20\x7f]", path_with_query
    ):
        raise ValueError(f"invalid request path {path_with_query!r}")
    if key is None:
        key = generate_key()
    host_value = _host_header(host, port, secure)
    extra: list[tuple[str, str]] = []
    for name, value in extra_headers:
        lname = name.lower()
        if lname == "host":
            host_value = value
        elif lname in _CLIENT_RESERVED:
            raise ValueError(f"{name} is set by the handshake itself")
        else:
            extra.append((name, value))
    headers = [
        ("Host", host_value),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if subprotocols:
        for name in subprotocols:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"subprotocol {name!r} is not a token")
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions_header:
        headers.append(("Sec-WebSocket-Extensions", extensions_header))
    headers.extend(extra)
    return _serialize(f"GET {path_with_query} HTTP/1.1", headers), key


@dataclass
class Negotiated:
    """What a valid 101 settled: the subprotocol and the accepted extensions (server order)."""

    subprotocol: str | None = None
    extensions: list[ExtensionOffer] = field(default_factory=list)


def validate_response(
    response: Response,
    key: str,
    offered_subprotocols: Sequence[str] = (),
    offered_extensions: Iterable[str] = (),
) -> Negotiated:
    """Check the server's answer against RFC 6455 §4.1 (client steps 1-6).

    ``offered_extensions`` are the names of the extensions offered; only the
    names are checked here, each extension validates its own parameters.
    A non-101 status raises :class:`HandshakeRejected` (``HandshakeRedirect``
    with ``location`` for 3xx) carrying status, reason phrase, headers and body;
    any other failure raises :class:`InvalidHandshake` with status 101.
    """
    fields = response.headers.multi_items()
    if response.status != 101:
        if 300 <= response.status < 400:
            raise HandshakeRedirect(
                response.status, response.reason, fields, response.body, response.header("Location")
            )
        raise HandshakeRejected(response.status, response.reason, fields, response.body)

    def fail(reason: str) -> InvalidHandshake:
        return InvalidHandshake(101, reason, fields)

    upgrade = response.headers.get_all("Upgrade")
    if not _has_token(upgrade, "websocket"):
        got = _peer(", ".join(upgrade)) if upgrade else "none"
        raise fail(f"Upgrade header must be 'websocket', got {got}")
    connection = response.headers.get_all("Connection")
    if not _has_token(connection, "upgrade"):
        got = _peer(", ".join(connection)) if connection else "none"
        raise fail(f"Connection header must contain 'upgrade', got {got}")
    accepts = response.headers.get_all("Sec-WebSocket-Accept")
    if len(accepts) != 1:
        raise fail(
            "missing Sec-WebSocket-Accept header" if not accepts else "multiple Sec-WebSocket-Accept headers"
        )
    if accepts[0] != accept_key(key):
        raise fail(f"Sec-WebSocket-Accept {_peer(accepts[0])} does not match the key sent")
    try:
        protocols = parse_token_list(
            response.headers.get_all("Sec-WebSocket-Protocol"), "Sec-WebSocket-Protocol"
        )
        extensions = parse_extensions(response.headers.get_all("Sec-WebSocket-Extensions"))
    except InvalidHandshake as exc:
        raise fail(exc.reason) from None
    subprotocol = None
    if protocols:
        if len(protocols) > 1:
            raise fail(f"server selected several subprotocols: {_peer(', '.join(protocols))}")
        subprotocol = protocols[0]
        if subprotocol not in offered_subprotocols:
            raise fail(f"server selected subprotocol {_peer(subprotocol)}, which was not offered")
    offered = {name.lower() for name in offered_extensions}
    seen: set[str] = set()
    for name, _ in extensions:
        if name not in offered:
            raise fail(f"server accepted extension {_peer(name)}, which was not offered")
        if name in seen:
            raise fail(f"server accepted extension {_peer(name)} twice")
        seen.add(name)
    return Negotiated(subprotocol, extensions)


def parse_uri(uri: str) -> tuple[bool, str, int, str]:
    """Split a ws:// or wss:// URI (RFC 6455 §3) into ``(secure, host, port, path_with_query)``.

    The host is lower-cased, IDNA-encoded if needed and unbracketed for IPv6;
    the port defaults to 80 / 443; the path defaults to "/" and is
    percent-encoded where needed (existing %XX kept). Raises
    :class:`InvalidURI` for another scheme, a missing host, a bad port, a
    fragment (forbidden by §3) or userinfo: credentials are refused rather than
    silently sent; pass ``basic_auth_header(user, password)`` in extra headers.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"invalid URI {uri!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{uri!r} is not a ws:// or wss:// URI")
    if "@" in parts.netloc:
        # The URI is not echoed: it holds a password.
        raise InvalidURI("credentials in the URI are not supported, send an Authorization header")
    if "#" in uri:
        raise InvalidURI(f"{uri!r}: fragments are not allowed in WebSocket URIs")
    host = parts.hostname
    if not host:
        raise InvalidURI(f"{uri!r} has no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURI(f"{uri!r}: invalid international host name") from None
    if not _HOST.fullmatch(host):
        raise InvalidURI(f"{uri!r}: invalid host {host!r}")
    secure = parts.scheme == "wss"
    if port is None:
        port = 443 if secure else 80
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return secure, host, port, path


def basic_auth_header(username: str, password: str) -> tuple[str, str]:
    """An ``Authorization: Basic`` field (RFC 7617, UTF-8) for ``extra_headers``."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return ("Authorization", f"Basic {token}")
