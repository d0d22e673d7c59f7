"""permessage-deflate offer/answer parsing: Sec-WebSocket-Extensions as a server and as a client reads it.

Input: a selector byte, then the header value (latin-1, as HTTP gives it). The
server side (parse_extensions + PerMessageDeflate.negotiate) may only refuse with
InvalidHandshake 400 and never raises in negotiate; what it answers must be
accepted by a client that made that offer, and both sessions (C and pure kernels)
must then carry a message each way. A formatted parse must parse back the same.
The client side (client_accept of the header as an answer) may only raise
InvalidHandshake.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastws import deflate, handshake
from fastws.exceptions import InvalidHandshake

from ..common import Reader, Writer, outcome, same

SERVERS = [
    deflate.PerMessageDeflate(),
    deflate.PerMessageDeflate(server_no_context_takeover=True, client_no_context_takeover=True),
    deflate.PerMessageDeflate(server_max_window_bits=9, client_max_window_bits=10, mem_level=1),
    deflate.PerMessageDeflate(server_max_window_bits=8, client_max_window_bits=8, threshold=0),
]
OFFERS = [
    deflate.client_offer(),
    deflate.client_offer(None, 10, True, True),
    deflate.client_offer(9, 8),
    deflate.client_offer(False),
]
MESSAGE = b"permessage-deflate " * 20


def _check_pair(server: deflate.PerMessageDeflate, answer: list, offer: list) -> None:
    """The server's answer to ``offer`` makes two sessions that understand each other, in each kernel pair."""
    for impl in ("c", "python"):
        for client_impl in ("c", "python"):
            server_session = deflate.PerMessageDeflate(
                server_max_window_bits=server.server_max_window_bits, implementation=impl
            ).make_session(answer)
            client_session = deflate.client_accept(answer, offer, implementation=client_impl)
            for sender, receiver in ((server_session, client_session), (client_session, server_session)):
                for _ in range(2):  # the second message uses the context the first left (if kept)
                    got = receiver.decompress(sender.compress(MESSAGE), len(MESSAGE))
                    same(
                        f"round trip {impl}->{client_impl} answer={answer}",
                        got,
                        MESSAGE,
                        ("inflated", "sent"),
                    )


def test_one_input(data: bytes) -> None:
    r = Reader(data)
    which = r.byte()
    value = r.rest().decode("latin-1")
    parsed = outcome(lambda: handshake.parse_extensions([value]), InvalidHandshake)
    if parsed[0] == "error":
        same("parse_extensions refusal", parsed[1], ("InvalidHandshake", 400), ("got", "expected"))
    else:
        offers = parsed[1]
        try:
            formatted = handshake.format_extensions(offers)
        except ValueError:
            formatted = None  # a quoted value that is a token again: refused when written back
        if formatted is not None:
            same(
                "parse(format(parse(x)))", handshake.parse_extensions([formatted]), offers, ("again", "first")
            )
        server = SERVERS[which % len(SERVERS)]
        mine = [params for name, params in offers if name == "permessage-deflate"]
        answer = server.negotiate(mine)
        if answer is not None:
            offer = next(
                p
                for p in mine
                if outcome(lambda p=p: deflate.parse_params(p, offer=True), ValueError)[0] == "ok"
            )
            _check_pair(server, answer, offer)
        # The same value as a server's answer, read by a client that made one of our offers.
        offer = OFFERS[(which >> 2) % len(OFFERS)]
        for params in mine[:1]:
            result = outcome(lambda: deflate.client_accept(params, offer), InvalidHandshake)
            if result[0] == "error":
                same("client_accept refusal", result[1][0], "InvalidHandshake", ("got", "expected"))


def seeds() -> Iterator[bytes]:
    from .. import corpus

    headers = (
        corpus.extension_headers()
        + [handshake.format_extensions([("permessage-deflate", offer)]) for offer in OFFERS]
        + [
            'permessage-deflate; client_max_window_bits="10", x-webkit-deflate-frame',
            "permessage-deflate;server_max_window_bits=015",
            "foo, , permessage-deflate ;\tclient_no_context_takeover",
        ]
    )
    for which in range(0, 16, 5):
        for header in headers:
            yield Writer().byte(which).raw(header.encode("latin-1")).bytes()
