"""The handshake request and response parsers (fastws.handshake), fed in random chunkings.

Input: flags (bit 0: response, else request), chunk seed, small limits selector, then
the bytes. The parsers sit on httptools (C, llhttp), with no pure twin: the
differential here is one feeding against another, and the only failure allowed for
any input is InvalidHandshake (then validate_request/process_request or
validate_response, which may also only raise InvalidHandshake).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastws import handshake
from fastws.deflate import PerMessageDeflate, client_offer
from fastws.exceptions import InvalidHandshake

from ..common import Reader, Writer, chunks, outcome, same

RESPONSE, SMALL = 1, 2
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
EXTENSIONS = [PerMessageDeflate(), PerMessageDeflate(server_max_window_bits=9, client_max_window_bits=9)]


def _request(pieces: list[bytes], small: bool) -> tuple[str, Any]:
    def parse() -> Any:
        limits = {"max_head_size": 300, "max_headers": 5} if small else {}
        parser = handshake.ServerHandshake(**limits)
        request, consumed = None, 0
        for piece in pieces:
            consumed += len(piece)
            request = parser.feed(piece)
            if request is not None:
                break
        if request is None:
            return None
        trailing = parser.trailing + b"".join(pieces)[consumed:]
        summary = (
            request.method,
            request.path,
            request.http_version,
            request.headers.multi_items(),
            trailing,
        )
        try:
            accept = handshake.process_request(request, subprotocols=("chat", "v2"), extensions=EXTENSIONS,
                                               allowed_origins=["https://example.com"])  # fmt: skip
        except InvalidHandshake as exc:
            return summary, ("rejected", exc.status, handshake.error_response(exc)[:12])
        return summary, (accept.response, accept.subprotocol)

    return outcome(parse, InvalidHandshake)


def _response(pieces: list[bytes], small: bool) -> tuple[str, Any]:
    def parse() -> Any:
        limits = {"max_head_size": 300, "max_headers": 5, "max_body_size": 40} if small else {}
        parser = handshake.ClientHandshake(**limits)
        response = None
        for piece in pieces:
            if response is None:
                response = parser.feed(piece)
            elif response.status == 101:  # the frames after it, as the connection would get them
                response.trailing += piece
        if response is None:
            response = parser.feed_eof()
        summary = (response.status, response.reason, response.headers.multi_items(), response.body,
                   response.trailing)  # fmt: skip
        negotiated = outcome(
            lambda: handshake.validate_response(response, KEY, ("chat",), ("permessage-deflate",)),
            InvalidHandshake,
        )
        return summary, str(negotiated)

    return outcome(parse, InvalidHandshake)


def test_one_input(data: bytes) -> None:
    r = Reader(data)
    flags, seed = r.byte(), r.byte()
    raw = r.rest()
    parse = _response if flags & RESPONSE else _request
    small = bool(flags & SMALL)
    same(f"handshake flags={flags} seed={seed}", parse(chunks(raw, seed), small), parse([raw], small),
         ("chunked", "whole"))  # fmt: skip


def seeds() -> Iterator[bytes]:
    from .. import corpus

    offer = handshake.format_extensions([("permessage-deflate", client_offer())])
    request, _ = handshake.build_client_request("example.com", 8080, "/chat?x=1", False, key=KEY,
                                                origin="https://example.com", subprotocols=["chat"],
                                                extensions_header=offer)  # fmt: skip
    requests = [request]
    accepted = handshake.accept_key(KEY)
    responses = [
        f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accepted}\r\nSec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi".encode(),
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!",
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ]
    for header in corpus.extension_headers()[:40]:
        requests.append(
            f"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {header}\r\n\r\n".encode()
        )
        responses.append(
            f"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accepted}\r\n"
            f"Sec-WebSocket-Extensions: {header}\r\n\r\n".encode()
        )
    for seed in (0, 1, 7):
        for flags in (0, SMALL):
            yield from (Writer().byte(flags).byte(seed).raw(req).bytes() for req in requests)
            yield from (Writer().byte(flags | RESPONSE).byte(seed).raw(resp).bytes() for resp in responses)
