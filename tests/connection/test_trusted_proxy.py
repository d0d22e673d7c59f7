"""``serve(trusted_proxies=...)``: the client's address from X-Forwarded-For, only via trusted proxies.

``ws.client_ip`` is the socket's peer unless that peer is a trusted proxy; then
it is the rightmost X-Forwarded-For address that is not a trusted proxy itself.
Malformed values fall back to the socket's peer and never fail the handshake;
``ws.remote_address`` always stays the socket's peer.  Unit tests of the rule
(``_forwarded_client``), validation of the option, then raw handshakes with
crafted headers from trusted and untrusted peers, IPv4 and IPv6.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
from typing import Any

import pytest

import fastws
from fastws.server import _forwarded_client, _trusted_networks

pytestmark = pytest.mark.timeout(30)

TRUSTED = _trusted_networks(["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"])


# =========================================================================== the rule


@pytest.mark.parametrize(
    "peer, forwarded_for, expected",
    [
        # Untrusted peer: whatever X-Forwarded-For says is ignored.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("203.0.113.9", ["127.0.0.1"], "203.0.113.9"),
        # Trusted peer: the rightmost untrusted address.
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, 10.0.0.5"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, 10.0.0.5, 10.9.9.9"], "198.51.100.1"),
        # A client-supplied (spoofed) entry left of the real client is not taken.
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.0.0.5"], "198.51.100.1"),
        # Repeated fields form one list, in order.
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1", "10.0.0.5"], "198.51.100.1"),
        # Every hop a trusted proxy: the leftmost is the client.
        ("127.0.0.1", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
        # No header, or an empty one: the peer itself.
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", [""], "127.0.0.1"),
        ("127.0.0.1", [" , ,"], "127.0.0.1"),
        # Whitespace and empty list elements are allowed.
        ("127.0.0.1", ["  198.51.100.1 ,, 10.0.0.5 "], "198.51.100.1"),
        # Malformed: the peer, never an exception.
        ("127.0.0.1", ["not-an-ip"], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1:4711"], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1, garbage"], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1, 10.0.0.5, 300.1.1.1"], "127.0.0.1"),
        ("127.0.0.1", ["unknown"], "127.0.0.1"),
        ("127.0.0.1", ["\x00\xff"], "127.0.0.1"),
        ("127.0.0.1", ["1.2.3.4" * 1000], "127.0.0.1"),
        # ... but garbage left of the client is never looked at.
        ("127.0.0.1", ["garbage, 198.51.100.1, 10.0.0.5"], "198.51.100.1"),
        # IPv6: bare, bracketed, normalized; a trusted IPv6 proxy.
        ("127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
        ("127.0.0.1", ["[2001:DB8:0::1]"], "2001:db8::1"),
        ("::1", ["198.51.100.1, fd00::7"], "198.51.100.1"),
        ("::1", ["2001:db8::2"], "2001:db8::2"),
        ("2001:db8::99", ["198.51.100.1"], "2001:db8::99"),
        ("::1", ["[2001:db8::2"], "::1"),
        # A dual-stack socket's IPv4 peer (IPv4-mapped) is matched as IPv4.
        ("::ffff:127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["::ffff:198.51.100.1"], "198.51.100.1"),
        # No peer address at all (a Unix socket).
        (None, ["198.51.100.1"], None),
    ],
)
def test_forwarded_client(peer: str | None, forwarded_for: list[str], expected: str | None) -> None:
    assert _forwarded_client(peer, forwarded_for, TRUSTED) == expected


def test_forwarded_client_trusts_nobody_by_default() -> None:
    assert _forwarded_client("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


# =========================================================================== validation at serve()


@pytest.mark.parametrize(
    "value, exc, message",
    [
        ("127.0.0.1", TypeError, "not a single str (write ['127.0.0.1'])"),
        (["localhost"], ValueError, "trusted_proxies: 'localhost' is not an IP address or network"),
        (
            ["10.0.0.1/8"],
            ValueError,
            "trusted_proxies: '10.0.0.1/8' has host bits set; did you mean '10.0.0.0/8'?",
        ),
        (["10.0.0.0/33"], ValueError, "trusted_proxies: '10.0.0.0/33' is not an IP address or network"),
        (["127.0.0.1", ""], ValueError, "trusted_proxies: '' is not an IP address or network"),
        ([2130706433], TypeError, "trusted_proxies: 2130706433 is not an IP address or network"),
        (42, TypeError, "not iterable"),
    ],
)
def test_serve_validates_trusted_proxies(run: Any, value: Any, exc: type, message: str) -> None:
    async def main() -> None:
        with pytest.raises(exc) as info:
            await fastws.serve(lambda ws: None, "127.0.0.1", 0, trusted_proxies=value)
        assert message in str(info.value)

    run(main())


def test_serve_accepts_addresses_networks_and_none(run: Any) -> None:
    import ipaddress

    async def main() -> None:
        value = [
            "127.0.0.1",
            "10.0.0.0/8",
            "::1",
            ipaddress.ip_address("192.0.2.1"),
            ipaddress.ip_network("fd00::/8"),
        ]
        async with await fastws.serve(lambda ws: None, "127.0.0.1", 0, trusted_proxies=iter(value)) as server:
            assert [str(n) for n in server.trusted_proxies] == [
                "127.0.0.1/32", "10.0.0.0/8", "::1/128", "192.0.2.1/32", "fd00::/8",
            ]  # fmt: skip
        async with await fastws.serve(lambda ws: None, "127.0.0.1", 0, trusted_proxies=None) as server:
            assert server.trusted_proxies == ()

    run(main())


# =========================================================================== over the network


async def raw_handshake(
    port: int, headers: list[tuple[str, str]], host: str = "127.0.0.1", local: str | None = None
) -> bytes:
    """A hand-made opening handshake with ``headers`` added; the response's status line."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local, 0) if local else None)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /chat HTTP/1.1",
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    return head.split(b"\r\n", 1)[0]


class Seen:
    """What the hook and the handler saw of each connection."""

    def __init__(self) -> None:
        self.in_hook: list[tuple[str | None, Any]] = []
        self.in_handler: list[tuple[str | None, Any]] = []

    def process_request(self, ws: Any, request: Any) -> None:
        self.in_hook.append((ws.client_ip, ws.remote_address))

    async def handler(self, ws: Any) -> None:
        self.in_handler.append((ws.client_ip, ws.remote_address))
        await ws.close()

    async def one(self, timeout: float = 5.0) -> tuple[str | None, Any]:
        for _ in range(int(timeout / 0.01)):
            if self.in_handler:
                assert self.in_hook == self.in_handler  # set before process_request runs
                return self.in_handler.pop()
            await asyncio.sleep(0.01)
        raise AssertionError("the handler did not run")


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    "trusted, local, xff, expected",
    [
        # The peer (127.0.0.1) is trusted: X-Forwarded-For names the client.
        (["127.0.0.1"], None, ["198.51.100.1"], "198.51.100.1"),
        (["127.0.0.0/8"], None, ["198.51.100.1, 127.0.0.2"], "198.51.100.1"),
        (["127.0.0.1"], None, ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        (["127.0.0.1"], None, ["198.51.100.1", "203.0.113.5"], "203.0.113.5"),
        (["127.0.0.1"], None, [], "127.0.0.1"),
        (["127.0.0.1"], None, ["garbage"], "127.0.0.1"),
        (["127.0.0.1"], None, ["198.51.100.1, [::1"], "127.0.0.1"),
        (["127.0.0.1"], None, ["2001:db8::1"], "2001:db8::1"),
        # The peer (127.0.0.2) is not trusted: the header is ignored.
        (["127.0.0.1"], "127.0.0.2", ["198.51.100.1"], "127.0.0.2"),
        # Nobody is trusted by default.
        ([], None, ["198.51.100.1"], "127.0.0.1"),
    ],
)
def test_client_ip_over_ipv4(
    run: Any, trusted: list[str], local: str | None, xff: list[str], expected: str
) -> None:
    async def main() -> None:
        seen = Seen()
        async with await fastws.serve(
            seen.handler, "127.0.0.1", 0, process_request=seen.process_request, trusted_proxies=trusted
        ) as server:
            status = await raw_handshake(server.port, [("X-Forwarded-For", v) for v in xff], local=local)
            assert status == b"HTTP/1.1 101 Switching Protocols"
            client_ip, remote = await seen.one()
        assert client_ip == expected
        assert remote[0] == (local or "127.0.0.1")  # the socket's peer stays available

    run(main())


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize(
    "trusted, xff, expected",
    [
        (["::1"], ["198.51.100.1"], "198.51.100.1"),
        (["::1"], ["2001:db8::1, ::1"], "2001:db8::1"),
        (["::/0"], ["[2001:db8::1]"], "2001:db8::1"),
        (["127.0.0.1"], ["198.51.100.1"], "::1"),  # an IPv4 entry does not cover ::1
        (["::1"], ["what?"], "::1"),
    ],
)
def test_client_ip_over_ipv6(run: Any, trusted: list[str], xff: list[str], expected: str) -> None:
    async def main() -> None:
        seen = Seen()
        async with await fastws.serve(
            seen.handler, "::1", 0, process_request=seen.process_request, trusted_proxies=trusted
        ) as server:
            status = await raw_handshake(server.port, [("X-Forwarded-For", v) for v in xff], host="::1")
            assert status == b"HTTP/1.1 101 Switching Protocols"
            client_ip, remote = await seen.one()
        assert client_ip == expected
        assert remote[0] == "::1"

    run(main())


def test_client_ip_with_fastws_client(run: Any) -> None:
    """connect(extra_headers=...) as a proxy-like client: the handler sees the named client."""

    async def main() -> None:
        seen = Seen()
        async with await fastws.serve(
            seen.handler, "127.0.0.1", 0, process_request=seen.process_request, trusted_proxies=["127.0.0.1"]
        ) as server:
            async with fastws.connect(
                f"ws://127.0.0.1:{server.port}/", extra_headers=[("X-Forwarded-For", "192.0.2.44")]
            ) as ws:
                await ws.wait_closed()
            assert (await seen.one())[0] == "192.0.2.44"

    run(main())


def test_ipv4_mapped_network_matches_ipv4_peers() -> None:
    trusted = _trusted_networks(["::ffff:10.0.0.0/104"])
    assert trusted == (ipaddress.ip_network("10.0.0.0/8"),)
    assert _forwarded_client("10.1.2.3", ["198.51.100.7"], trusted) == "198.51.100.7"
    assert _forwarded_client("::ffff:10.1.2.3", ["198.51.100.7"], trusted) == "198.51.100.7"


def test_forwarded_address_with_a_port_is_not_taken() -> None:
    assert _forwarded_client("127.0.0.1", ["198.51.100.7:5678"], TRUSTED) == "127.0.0.1"
