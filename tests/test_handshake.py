"""Tests of the sans-IO opening handshake (fastws.handshake, RFC 6455 §4)."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastws.exceptions import HandshakeRedirect, HandshakeRejected, InvalidHandshake, InvalidURI
from fastws.handshake import (
    ClientHandshake,
    Headers,
    Negotiated,
    ServerHandshake,
    _HeadBuffer,
    accept_key,
    basic_auth_header,
    build_client_request,
    build_http_response,
    build_response_101,
    check_origin,
    error_response,
    format_extensions,
    generate_key,
    negotiate_extensions,
    parse_extensions,
    parse_token_list,
    parse_uri,
    process_request,
    select_subprotocol,
    validate_request,
    validate_response,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# What Chrome sends (Connection as Firefox spells it, to exercise token lists).
BROWSER_REQUEST = (
    b"GET /chat?room=lobby&tag=a&tag=b&empty= HTTP/1.1\r\n"
    b"Host: example.com:8443\r\n"
    b"Connection: keep-alive, Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/120.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: https://example.com\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b'Cookie: session=abc123; theme="dark"; lang=en\r\n'
    b"Cookie: session=shadowed; extra=1\r\n"
    b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)

# A masked text frame "Hello" (RFC 6455 §5.7), sent by an eager client right after its request.
FRAME = bytes.fromhex("818537fa213d7f9f4d5158")

MINIMAL = {
    "Host": "example.com",
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": RFC_KEY,
    "Sec-WebSocket-Version": "13",
}


def make_request(
    headers: dict[str, str | None] | None = None,
    *,
    request_line: str = "GET /chat HTTP/1.1",
    extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> bytes:
    """A request built from MINIMAL, with ``headers`` overriding (None removes a field)."""
    fields = dict(MINIMAL)
    fields.update(headers or {})
    lines = [request_line]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse(data: bytes, **limits: int):
    parser = ServerHandshake(**limits)
    request = parser.feed(data)
    assert request is not None
    return request


def status_of(data: bytes) -> InvalidHandshake:
    """The error a request fails with, at parse or validation time."""
    with pytest.raises(InvalidHandshake) as info:
        validate_request(parse(data))
    return info.value


def feed_response(data: bytes, **limits: int):
    parser = ClientHandshake(**limits)
    response = parser.feed(data)
    assert response is not None
    return response


class DummyExtension:
    """Accepts the first offer whose parameters it understands, echoing ``level``."""

    name = "x-dummy"

    def __init__(self) -> None:
        self.seen: list = []

    def negotiate(self, offers):
        self.seen.append(offers)
        for params in offers:
            if all(name in ("level", "fast") for name, _ in params):
                return [("level", dict(params).get("level") or "1")]
        return None


class DecliningExtension:
    name = "X-Never"

    def negotiate(self, offers):
        return None


class StrictExtension:
    name = "x-strict"

    def negotiate(self, offers):
        raise InvalidHandshake(400, "x-strict: bad parameters")


# --------------------------------------------------------------------------- keys


def test_accept_key_rfc_example():
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_generate_key_is_random_16_bytes():
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16


# --------------------------------------------------------------------------- server: parsing


def test_browser_request_parsed_and_validated():
    parser = ServerHandshake()
    request = parser.feed(BROWSER_REQUEST)
    assert request is not None and parser.trailing == b""
    assert request.method == "GET"
    assert request.http_version == "1.1"
    assert request.path == "/chat?room=lobby&tag=a&tag=b&empty="
    assert request.path_without_query == "/chat"
    assert request.query == {"room": ["lobby"], "tag": ["a", "b"], "empty": [""]}
    assert request.cookies == {"session": "abc123", "theme": "dark", "lang": "en", "extra": "1"}
    assert request.header("origin") == "https://example.com"
    assert request.header("HOST") == "example.com:8443"
    assert request.header("X-Missing") is None
    assert request.headers.get_all("cookie") == [
        'session=abc123; theme="dark"; lang=en',
        "session=shadowed; extra=1",
    ]
    assert request.headers["Cookie"] == 'session=abc123; theme="dark"; lang=en; session=shadowed; extra=1'
    assert request.headers.multi_items()[0] == ("Host", "example.com:8443")
    assert list(request.headers)[:3] == ["Host", "Connection", "Pragma"]
    assert request.extension_offers == [("permessage-deflate", [("client_max_window_bits", None)])]
    assert request.subprotocols == []
    assert validate_request(request) == RFC_KEY
    check_origin(request, ["https://example.com"])

    accepted = process_request(request, allowed_origins=["https://example.com"])
    assert accepted.subprotocol is None and accepted.extensions == []
    assert accepted.response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode() + b"\r\n\r\n"
    )


def test_byte_at_a_time_equals_whole():
    whole = parse(BROWSER_REQUEST + FRAME)
    parser = ServerHandshake()
    results = [parser.feed(BROWSER_REQUEST[i : i + 1]) for i in range(len(BROWSER_REQUEST))]
    assert results[:-1] == [None] * (len(BROWSER_REQUEST) - 1)
    request = results[-1]
    assert request is not None and parser.trailing == b""
    assert (request.method, request.path) == (whole.method, whole.path)
    assert request.http_version == whole.http_version
    assert request.headers == whole.headers


@given(st.lists(st.integers(min_value=0, max_value=len(BROWSER_REQUEST) + len(FRAME)), max_size=8))
def test_any_chunking_preserves_request_and_pipelined_bytes(cuts):
    data = BROWSER_REQUEST + FRAME
    bounds = [0, *sorted(cuts), len(data)]
    parser = ServerHandshake()
    request, after = None, b""
    for start, end in zip(bounds, bounds[1:]):
        if request is None:
            request = parser.feed(data[start:end])
        else:
            after += data[start:end]  # what the frame parser would receive next
    assert request is not None
    assert request.headers == parse(BROWSER_REQUEST).headers
    assert parser.trailing + after == FRAME


def test_pipelined_bytes_after_request_preserved_exactly():
    tail = FRAME + b"\r\n\r\nGET / HTTP/1.1\r\n" + bytes(range(256))
    parser = ServerHandshake()
    assert parser.feed(BROWSER_REQUEST + tail) is not None
    assert parser.trailing == tail


def test_feed_after_complete_is_an_error():
    parser = ServerHandshake()
    parser.feed(BROWSER_REQUEST)
    with pytest.raises(RuntimeError):
        parser.feed(FRAME)


def test_incomplete_request_waits():
    parser = ServerHandshake()
    assert parser.feed(BROWSER_REQUEST[:-1]) is None
    assert parser.feed(b"\n") is not None


def test_absolute_form_target():
    request = parse(make_request(request_line="GET ws://example.com/a/b?x=1 HTTP/1.1"))
    assert request.path_without_query == "/a/b"
    assert request.query == {"x": ["1"]}


def test_header_values_keep_every_octet():
    request = parse(make_request({"X-Raw": "caf\xe9"}))
    assert request.header("x-raw").encode("latin-1") == b"caf\xe9"


# --------------------------------------------------------------------------- server: failures


@pytest.mark.parametrize(
    ("headers", "status", "needle"),
    [
        ({"Upgrade": None}, 400, "Upgrade"),
        ({"Upgrade": "h2c"}, 400, "Upgrade"),
        ({"Connection": None}, 400, "Connection"),
        ({"Connection": "keep-alive"}, 400, "Connection"),
        ({"Connection": "upgraded"}, 400, "Connection"),  # substring is not a token match
        ({"Sec-WebSocket-Key": None}, 400, "Sec-WebSocket-Key"),
        ({"Sec-WebSocket-Key": base64.b64encode(b"x" * 15).decode()}, 400, "16 bytes"),
        ({"Sec-WebSocket-Key": base64.b64encode(b"x" * 17).decode()}, 400, "16 bytes"),
        ({"Sec-WebSocket-Key": "not base64 at all!!"}, 400, "base64"),
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}, 400, "base64"),  # missing padding
        ({"Host": None}, 400, "Host"),
        ({"Host": ""}, 400, "Host"),
    ],
)
def test_invalid_request_is_400(headers, status, needle):
    exc = status_of(make_request(headers))
    assert exc.status == status
    assert needle in exc.reason and "\n" not in exc.reason


@pytest.mark.parametrize("version", ["8", None, "13, 8", "130"])
def test_wrong_version_is_426_with_version_header(version):
    exc = status_of(make_request({"Sec-WebSocket-Version": version}))
    assert exc.status == 426
    assert ("Sec-WebSocket-Version", "13") in exc.headers
    response = error_response(exc)
    assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in response


def test_post_is_405_with_allow():
    exc = status_of(make_request(request_line="POST /chat HTTP/1.1"))
    assert exc.status == 405 and ("Allow", "GET") in exc.headers
    assert error_response(exc).startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")


def test_http_1_0_is_400():
    exc = status_of(make_request(request_line="GET /chat HTTP/1.0"))
    assert exc.status == 400 and "HTTP/1.0" in exc.reason


def test_repeated_handshake_fields_are_400():
    assert status_of(make_request(extra=[("Host", "evil.example")])).status == 400
    assert status_of(make_request(extra=[("Sec-WebSocket-Key", RFC_KEY)])).status == 400


def test_token_lists_are_case_insensitive_and_span_repeated_fields():
    data = make_request(
        {"Upgrade": "WebSocket", "Connection": "keep-alive"}, extra=[("connection", "UPGRADE")]
    )
    request = parse(data)
    assert validate_request(request) == RFC_KEY


def test_oversized_head_is_431():
    big = make_request(extra=[("X-Big", "a" * 9000)])
    with pytest.raises(InvalidHandshake) as info:
        ServerHandshake().feed(big)
    assert info.value.status == 431
    # Without a terminator in sight, the limit also applies: no unbounded buffering.
    parser = ServerHandshake(max_head_size=1024)
    assert parser.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 1000) is None
    with pytest.raises(InvalidHandshake) as info:
        parser.feed(b"a" * 100)
    assert info.value.status == 431
    # Configurable: the same request passes with a higher limit.
    assert ServerHandshake(max_head_size=16384).feed(big) is not None


@given(st.binary(max_size=40).map(lambda b: bytes(b"\r\nab"[x % 4] for x in b)), st.data())
def test_head_ends_at_the_first_blank_line_whatever_the_chunks(head: bytes, data) -> None:
    """The blank line is CR LF CR LF or the bare-LF forms (LF CR? LF), found wherever the
    chunks split it; the oracle is the regular expression the search replaced."""
    match = re.search(rb"\r?\n\r?\n", head)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(head)), max_size=4)))
    buffer, result = _HeadBuffer(1 << 20, "request", 431), None
    for chunk in (head[a:b] for a, b in zip([0, *cuts], [*cuts, len(head)])):
        result = result or buffer.feed(chunk)
    if match is None:
        assert result is None
    else:
        assert result is not None and result[0] == head[: match.end()]


def test_header_flood_is_not_scanned_past_the_limit() -> None:
    """A head that never ends is refused once past max_head_size, whatever was sent with it."""
    parser = ServerHandshake(max_head_size=1024)
    with pytest.raises(InvalidHandshake) as info:
        parser.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 1_000_000 + b"\r\n\r\n")
    assert info.value.status == 431


def test_head_exactly_at_limit_passes():
    data = make_request()
    assert ServerHandshake(max_head_size=len(data)).feed(data) is not None
    with pytest.raises(InvalidHandshake):
        ServerHandshake(max_head_size=len(data) - 1).feed(data)


def test_too_many_headers_is_431():
    data = make_request(extra=[(f"X-H{i}", "v") for i in range(100)])
    with pytest.raises(InvalidHandshake) as info:
        ServerHandshake().feed(data)
    assert info.value.status == 431 and "headers" in info.value.reason
    assert ServerHandshake(max_headers=200).feed(data) is not None
    exactly = make_request(extra=[(f"X-H{i}", "v") for i in range(100 - len(MINIMAL))])
    assert ServerHandshake().feed(exactly) is not None


@pytest.mark.parametrize(
    "extra",
    [
        [("Content-Length", "5")],
        [("Transfer-Encoding", "chunked")],
    ],
)
def test_body_is_400(extra):
    with pytest.raises(InvalidHandshake) as info:
        ServerHandshake().feed(make_request(extra=extra) + b"hello")
    assert info.value.status == 400 and "body" in info.value.reason


@pytest.mark.parametrize("length", ["0", "00"])
def test_content_length_zero_is_fine(length):
    assert validate_request(parse(make_request(extra=[("Content-Length", length)]))) == RFC_KEY


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET /chat HTTP/1.1\nHost: x\n\n",  # bare LF: refused at once, not at the size limit
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS on the plain port
    ],
)
def test_malformed_http_is_400(data):
    with pytest.raises(InvalidHandshake) as info:
        ServerHandshake().feed(data)
    assert info.value.status == 400


def test_error_response_carries_one_line_reason():
    exc = status_of(make_request({"Upgrade": "h2c\x00"}))
    response = error_response(exc)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nContent-Type: text/plain; charset=utf-8" in head
    assert b"\r\nConnection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body.decode().rstrip("\n") == exc.reason and body.count(b"\n") == 1


# --------------------------------------------------------------------------- origin


def test_origin_check():
    request = parse(BROWSER_REQUEST)
    check_origin(request, None)
    check_origin(request, ["https://other.example", "https://example.com"])
    with pytest.raises(InvalidHandshake) as info:
        check_origin(request, ["https://other.example"])
    assert info.value.status == 403
    with pytest.raises(InvalidHandshake) as info:
        process_request(request, allowed_origins=["https://example.com:8443"])  # exact match only
    assert info.value.status == 403


def test_missing_origin():
    request = parse(make_request())
    check_origin(request, ["https://example.com"])
    with pytest.raises(InvalidHandshake) as info:
        check_origin(request, ["https://example.com"], allow_missing=False)
    assert info.value.status == 403


# --------------------------------------------------------------------------- subprotocols


def test_select_subprotocol_server_preference():
    assert select_subprotocol(["chat", "superchat"], ["superchat", "chat"]) == "superchat"
    assert select_subprotocol(["chat", "superchat"], ["mqtt", "chat"]) == "chat"
    assert select_subprotocol(["chat"], ["mqtt"]) is None
    assert select_subprotocol([], ["mqtt"]) is None
    assert select_subprotocol(["Chat"], ["chat"]) is None  # case-sensitive


def test_subprotocols_across_repeated_headers():
    data = make_request(
        {"Sec-WebSocket-Protocol": "chat, , v2.json"}, extra=[("Sec-WebSocket-Protocol", "mqtt")]
    )
    request = parse(data)
    assert request.subprotocols == ["chat", "v2.json", "mqtt"]
    accepted = process_request(request, subprotocols=["mqtt", "v2.json"])
    assert accepted.subprotocol == "mqtt"
    assert b"\r\nSec-WebSocket-Protocol: mqtt\r\n" in accepted.response


def test_invalid_subprotocol_list_is_400_only_when_used():
    request = parse(make_request({"Sec-WebSocket-Protocol": "chat, bad value"}))
    process_request(request)  # server speaks no subprotocol: header ignored
    with pytest.raises(InvalidHandshake) as info:
        process_request(request, subprotocols=["chat"])
    assert info.value.status == 400 and "Sec-WebSocket-Protocol" in info.value.reason
    with pytest.raises(InvalidHandshake):
        parse_token_list(["a, b c"])


def test_response_101_refuses_unoffered_subprotocol():
    request = parse(make_request({"Sec-WebSocket-Protocol": "chat"}))
    with pytest.raises(ValueError):
        build_response_101(request, "mqtt")


# --------------------------------------------------------------------------- extensions


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["permessage-deflate"], [("permessage-deflate", [])]),
        (
            ["permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate"],
            [
                ("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]),
                ("permessage-deflate", []),
            ],
        ),
        (["foo, bar; baz=2"], [("foo", []), ("bar", [("baz", "2")])]),
        (["foo", "bar;x"], [("foo", []), ("bar", [("x", None)])]),
        (['x-ext; p="10"; q="a\\b"'], [("x-ext", [("p", "10"), ("q", "ab")])]),
        (["  Foo ;\tA = 1 ,\t, BAR  "], [("foo", [("a", "1")]), ("bar", [])]),
        (["", " , "], []),
        ([], []),
    ],
)
def test_parse_extensions(values, expected):
    assert parse_extensions(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        "foo;",
        "foo; =1",
        "foo; a=",
        "foo bar",
        "foo; a=1 2",
        'foo; a="unterminated',
        'foo; a="has space"',  # quoted value must still be a token (§9.1)
        'foo; a=""',
        "foo; a=b=c",
        ";foo",
        "f\u00f6o",
        "foo; a=\x00",
    ],
)
def test_malformed_extensions_are_400(value):
    with pytest.raises(InvalidHandshake) as info:
        parse_extensions([value])
    assert info.value.status == 400 and "Sec-WebSocket-Extensions" in info.value.reason


@given(st.text(alphabet=st.sampled_from(list('ab=;,"\\ \t-_1\x00\u00e9')), max_size=40))
def test_extension_parser_never_crashes(value):
    try:
        offers = parse_extensions([value])
    except InvalidHandshake as exc:
        assert exc.status == 400
    else:
        # Whatever parsed serializes and parses back to the same offers.
        assert parse_extensions([format_extensions(offers)]) == offers


@given(st.text(alphabet=st.sampled_from(list('ab=;,"\\ \t-_1\x00\u00e9')), max_size=40))
def test_remembered_extension_values_parse_as_the_first_time(value):
    """Parsed values are remembered: the second parse gives what the parser itself gives,
    in fresh lists (a caller may change them), and a malformed value fails every time."""
    from fastws.handshake import _parse_extension_field

    try:
        direct = _parse_extension_field(value)
    except InvalidHandshake as exc:
        for _ in range(2):
            with pytest.raises(InvalidHandshake) as info:
                parse_extensions([value])
            assert info.value.reason == exc.reason
        return
    first = parse_extensions([value])
    assert first == direct
    for name, params in first:
        params.append(("changed", None))
    first.append(("changed", []))
    assert parse_extensions([value]) == direct
    assert parse_extensions([value, value]) == direct + direct


def test_remembered_extension_values_are_bounded():
    from fastws import handshake

    for i in range(handshake._PARSED_FIELDS_MAX + 50):
        assert parse_extensions([f"x-{i}; n={i}"]) == [(f"x-{i}", [("n", str(i))])]
    assert len(handshake._PARSED_FIELDS) <= handshake._PARSED_FIELDS_MAX


def test_format_extensions():
    assert format_extensions([("a", []), ("b", [("x", None), ("y", "1")])]) == "a, b; x; y=1"
    with pytest.raises(ValueError):
        format_extensions([("a", [("x", "not a token")])])


def test_negotiate_extensions_with_dummy():
    offers = parse_extensions(["x-dummy; fast; unknown, X-Dummy; Level=3, permessage-deflate, x-never"])
    dummy = DummyExtension()
    header, accepted = negotiate_extensions(offers, [DecliningExtension(), dummy])
    # The extension saw only its own offers, in client order, names lower-cased.
    assert dummy.seen == [[[("fast", None), ("unknown", None)], [("level", "3")]]]
    assert header == "x-dummy; level=3"
    assert accepted == [(dummy, [("level", "3")])]
    assert negotiate_extensions(offers, [DecliningExtension()]) == (None, [])
    assert negotiate_extensions([], [dummy]) == (None, [])


def test_process_request_puts_extension_answer_in_101():
    request = parse(make_request({"Sec-WebSocket-Extensions": "permessage-deflate, x-dummy"}))
    dummy = DummyExtension()
    accepted = process_request(request, extensions=[dummy])
    assert accepted.extensions == [(dummy, [("level", "1")])]
    assert b"\r\nSec-WebSocket-Extensions: x-dummy; level=1\r\n" in accepted.response


def test_extension_may_fail_the_handshake():
    request = parse(make_request({"Sec-WebSocket-Extensions": "x-strict"}))
    with pytest.raises(InvalidHandshake) as info:
        process_request(request, extensions=[StrictExtension()])
    assert info.value.status == 400


def test_malformed_extension_header_is_400_only_when_used():
    request = parse(make_request({"Sec-WebSocket-Extensions": "x-dummy; a=="}))
    process_request(request)
    with pytest.raises(InvalidHandshake) as info:
        process_request(request, extensions=[DummyExtension()])
    assert info.value.status == 400


# --------------------------------------------------------------------------- HTTP responses


def test_build_http_response():
    assert build_http_response(403, None, [("X-A", "1")], "forbidden") == (
        b"HTTP/1.1 403 Forbidden\r\nX-A: 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 9\r\nConnection: close\r\n\r\nforbidden"
    )
    ok = build_http_response(200, "OK", [("Content-Type", "application/json")], b"{}")
    assert ok == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    assert build_http_response(401, "Nope", [("WWW-Authenticate", 'Basic realm="x"')]).startswith(
        b"HTTP/1.1 401 Nope\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n"
    )
    assert b"Content-Length" not in build_http_response(204)
    assert build_http_response(599).startswith(b"HTTP/1.1 599\r\n")
    assert "é".encode() in build_http_response(400, None, (), "é")


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_http_response(400, "Bad\r\nX-Injected: 1"),
        lambda: build_http_response(400, None, [("X-A", "1\r\nX-Injected: 1")]),
        lambda: build_http_response(400, None, [("Bad Name", "1")]),
        lambda: build_client_request("example.com", 80, "/a b", False),
        lambda: build_client_request("example.com", 80, "/", False, extra_headers=[("X", "a\nb")]),
    ],
)
def test_header_injection_refused(call):
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- client request


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 80, True, "example.com:80"),
        ("example.com", 8080, False, "example.com:8080"),
        ("example.com", None, True, "example.com"),
        ("::1", 80, False, "[::1]"),
        ("::1", 9000, True, "[::1]:9000"),
        ("[::1]", 9000, True, "[::1]:9000"),
        ("127.0.0.1", 9000, False, "127.0.0.1:9000"),
    ],
)
def test_client_host_header(host, port, secure, expected):
    data, _ = build_client_request(host, port, "/", secure)
    assert f"\r\nHost: {expected}\r\n".encode() in data


def test_client_request_fields():
    data, key = build_client_request(
        "example.com",
        80,
        "/chat?x=1",
        False,
        origin="https://example.com",
        subprotocols=["chat", "v2"],
        extensions_header="permessage-deflate; client_max_window_bits",
        extra_headers=[("User-Agent", "fastws"), basic_auth_header("user", "pässword")],
    )
    assert len(base64.b64decode(key, validate=True)) == 16
    request = parse(data)
    assert request.path == "/chat?x=1"
    assert validate_request(request) == key
    assert request.header("Origin") == "https://example.com"
    assert request.subprotocols == ["chat", "v2"]
    assert request.extension_offers == [("permessage-deflate", [("client_max_window_bits", None)])]
    assert request.header("User-Agent") == "fastws"
    assert request.header("Authorization") == "Basic " + base64.b64encode("user:pässword".encode()).decode()
    _, fixed = build_client_request("example.com", 80, "/", False, key=RFC_KEY)
    assert fixed == RFC_KEY


def test_client_request_extra_host_and_reserved():
    data, _ = build_client_request("10.0.0.1", 8080, "/", False, extra_headers=[("Host", "vhost.example")])
    assert parse(data).headers.get_all("Host") == ["vhost.example"]
    with pytest.raises(ValueError):
        build_client_request("example.com", 80, "/", False, extra_headers=[("Sec-WebSocket-Key", RFC_KEY)])
    with pytest.raises(ValueError):
        build_client_request("example.com", 80, "/", False, subprotocols=["bad value"])
    with pytest.raises(ValueError):
        build_client_request("example.com", 80, "relative", False)


# --------------------------------------------------------------------------- round trip


def test_client_server_round_trip_with_pipelined_frames():
    request_bytes, key = build_client_request(
        "example.com", 443, "/ws?id=7", True,
        subprotocols=["v1", "v2"], extensions_header="x-dummy; fast, foo"
    )
    server = ServerHandshake()
    request = server.feed(request_bytes + FRAME)
    assert request is not None and server.trailing == FRAME
    accepted = process_request(request, subprotocols=["v2", "v1"], extensions=[DummyExtension()])
    assert accepted.subprotocol == "v2"

    server_frame = b"\x81\x02hi"
    client = ClientHandshake()
    stream = accepted.response + server_frame
    response = None
    for i in range(len(stream)):  # byte at a time: the 101 is returned at its last head byte
        response = client.feed(stream[i : i + 1])
        if response is not None:
            rest = stream[i + 1 :]
            break
    assert response is not None and response.status == 101 and response.reason == "Switching Protocols"
    assert response.trailing + rest == server_frame
    negotiated = validate_response(response, key, ["v1", "v2"], ["x-dummy", "foo"])
    assert negotiated == Negotiated("v2", [("x-dummy", [("level", "1")])])

    whole = feed_response(stream)
    assert whole.trailing == server_frame
    assert whole.headers == response.headers


def test_response_without_negotiation():
    request_bytes, key = build_client_request("example.com", 80, "/", False)
    response = feed_response(process_request(parse(request_bytes)).response)
    assert validate_response(response, key) == Negotiated(None, [])


# --------------------------------------------------------------------------- client: response validation


def response_101(**overrides: str | None) -> bytes:
    fields = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": RFC_ACCEPT,
    }
    fields.update(overrides)
    lines = ["HTTP/1.1 101 Switching Protocols"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"Sec-WebSocket-Accept": accept_key(generate_key())}, "does not match"),
        ({"Sec-WebSocket-Accept": None}, "missing Sec-WebSocket-Accept"),
        ({"Upgrade": None}, "Upgrade"),
        ({"Upgrade": "h2c"}, "Upgrade"),
        ({"Connection": None}, "Connection"),
        ({"Sec-WebSocket-Protocol": "mqtt"}, "not offered"),
        ({"Sec-WebSocket-Protocol": "chat, v2"}, "several subprotocols"),
        ({"Sec-WebSocket-Protocol": "bad value"}, "Sec-WebSocket-Protocol"),
        ({"Sec-WebSocket-Extensions": "x-unoffered"}, "not offered"),
        ({"Sec-WebSocket-Extensions": "x-dummy; =1"}, "Sec-WebSocket-Extensions"),
    ],
)
def test_invalid_101_is_rejected(overrides, needle):
    response = feed_response(response_101(**overrides))
    with pytest.raises(InvalidHandshake) as info:
        validate_response(response, RFC_KEY, ["chat", "v2"], ["x-dummy"])
    assert not isinstance(info.value, HandshakeRejected)
    assert info.value.status == 101 and needle in info.value.reason


def test_valid_101_token_variants():
    response = feed_response(response_101(Upgrade="WebSocket", Connection="keep-alive, upgrade"))
    assert validate_response(response, RFC_KEY) == Negotiated()
    response = feed_response(response_101(**{"Sec-WebSocket-Extensions": "X-Dummy; level=2"}))
    assert validate_response(response, RFC_KEY, (), ["x-dummy"]).extensions == [("x-dummy", [("level", "2")])]


def test_403_with_body_is_rejected_with_status_and_body():
    body = b"origin not allowed\n"
    data = build_http_response(403, None, [("X-Why", "origin")], body)
    client = ClientHandshake()
    # The body is awaited even when it arrives after the head.
    head_end = data.index(b"\r\n\r\n") + 4
    assert client.feed(data[: head_end + 3]) is None
    response = client.feed(data[head_end + 3 :])
    assert response is not None and response.body == body
    with pytest.raises(HandshakeRejected) as info:
        validate_response(response, RFC_KEY)
    exc = info.value
    assert isinstance(exc, InvalidHandshake)
    assert (exc.status, exc.reason, exc.body) == (403, "Forbidden", body)
    assert ("X-Why", "origin") in exc.headers
    assert "403" in str(exc)


def test_server_error_responses_round_trip_to_client():
    exc = status_of(make_request({"Sec-WebSocket-Version": "8"}))
    response = feed_response(error_response(exc))
    with pytest.raises(HandshakeRejected) as info:
        validate_response(response, RFC_KEY)
    assert info.value.status == 426
    assert info.value.body.decode().strip() == exc.reason
    assert ("Sec-WebSocket-Version", "13") in info.value.headers


def test_redirect_carries_location():
    data = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(HandshakeRedirect) as info:
        validate_response(feed_response(data), RFC_KEY)
    assert (info.value.status, info.value.location) == (302, "/elsewhere")


def test_chunked_rejection_body():
    data = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\noops!\r\n0\r\n\r\n"
    assert feed_response(data).body == b"oops!"


def test_body_until_close_needs_feed_eof():
    client = ClientHandshake()
    assert client.feed(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy") is None
    assert client.feed(b", retry") is None
    response = client.feed_eof()
    assert (response.status, response.body) == (503, b"busy, retry")


def test_rejection_body_truncated_at_limit():
    data = build_http_response(400, None, (), b"x" * 1000)
    response = ClientHandshake(max_body_size=100).feed(data)
    assert response is not None and response.body == b"x" * 100


def test_eof_before_head_is_invalid():
    client = ClientHandshake()
    client.feed(b"HTTP/1.1 101 Switching")
    with pytest.raises(InvalidHandshake) as info:
        client.feed_eof()
    assert info.value.status == 0


@pytest.mark.parametrize(
    "data",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 101 OK\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
        b"HTTP/1.1 101 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
    ],
)
def test_malformed_or_oversized_response(data):
    with pytest.raises(InvalidHandshake) as info:
        ClientHandshake().feed(data)
    assert info.value.status == 0


# --------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("ws://example.com", (False, "example.com", 80, "/")),
        ("wss://example.com", (True, "example.com", 443, "/")),
        ("WS://Example.COM:8080/Chat?Room=1", (False, "example.com", 8080, "/Chat?Room=1")),
        ("ws://example.com?x=1", (False, "example.com", 80, "/?x=1")),
        ("wss://[::1]:9000/a", (True, "::1", 9000, "/a")),
        ("ws://127.0.0.1/", (False, "127.0.0.1", 80, "/")),
        ("ws://example.com/a b/%41?q=é&r=%20", (False, "example.com", 80, "/a%20b/%41?q=%C3%A9&r=%20")),
        ("wss://bücher.example/", (True, "xn--bcher-kva.example", 443, "/")),
    ],
)
def test_parse_uri(uri, expected):
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/",
        "example.com",
        "ws:///path",
        "ws://user:pass@example.com/",
        "ws://example.com/#frag",
        "ws://example.com:99999/",
        "ws://example.com:port/",
        "ws://[::1/",
        "ws://exa mple.com/",
        "ws://exa<mple.com/",
    ],
)
def test_parse_uri_errors(uri):
    with pytest.raises(InvalidURI) as info:
        parse_uri(uri)
    assert "pass" not in str(info.value)  # a password never ends up in the message


def test_parse_uri_feeds_build_client_request():
    secure, host, port, path = parse_uri("wss://[2001:db8::1]:8443/x?y=1")
    data, key = build_client_request(host, port, path, secure)
    request = parse(data)
    assert request.header("Host") == "[2001:db8::1]:8443" and request.path == "/x?y=1"


# --------------------------------------------------------------------------- Headers


def test_headers_multidict():
    headers = Headers([("X-A", "1"), ("x-a", "2"), ("Y", "3")])
    assert headers["x-A"] == "1, 2" and headers.get("X-a") == "1, 2"
    assert headers.get_all("X-A") == ["1", "2"] and headers.get_all("Z") == []
    assert "y" in headers and "z" not in headers and 1 not in headers
    assert list(headers) == ["X-A", "Y"] and len(headers) == 2
    assert headers.get("Z") is None
    with pytest.raises(KeyError):
        headers["Z"]
    headers.add("Y", "4")
    assert headers.multi_items() == [("X-A", "1"), ("x-a", "2"), ("Y", "3"), ("Y", "4")]
    assert headers == Headers([("x-a", "1"), ("X-A", "2"), ("y", "3"), ("y", "4")])
    assert headers != Headers([("X-A", "2"), ("X-A", "1"), ("Y", "3"), ("Y", "4")])


# --------------------------------------------------------------------------- interoperability


def test_interop_websockets_client_against_our_server():
    client_mod = pytest.importorskip("websockets.client")
    from websockets.protocol import State
    from websockets.uri import parse_uri as ws_parse_uri

    uri = ws_parse_uri("ws://example.com:8080/chat?x=1")
    client = client_mod.ClientProtocol(uri, subprotocols=["b", "a"])
    client.send_request(client.connect())
    data = b"".join(client.data_to_send())
    request = parse(data)
    assert request.path == "/chat?x=1" and request.header("Host") == "example.com:8080"
    accepted = process_request(request, subprotocols=["a", "b"])
    client.receive_data(accepted.response + b"\x81\x02hi")
    assert client.state is State.OPEN and client.handshake_exc is None
    assert client.subprotocol == "a"
    assert [frame.data for frame in client.events_received()[1:]] == [b"hi"]


def test_interop_our_client_against_websockets_server():
    server_mod = pytest.importorskip("websockets.server")
    from websockets.protocol import State

    server = server_mod.ServerProtocol(subprotocols=["b"])
    data, key = build_client_request(
        "example.com", 80, "/chat", False, subprotocols=["a", "b"], origin="http://o"
    )
    server.receive_data(data)
    [request] = server.events_received()
    server.send_response(server.accept(request))
    assert server.state is State.OPEN
    response = feed_response(b"".join(server.data_to_send()))
    assert validate_response(response, key, ["a", "b"]) == Negotiated("b", [])
