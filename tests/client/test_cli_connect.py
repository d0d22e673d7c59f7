"""``fastws connect`` driven through a pseudo-terminal (pexpect), against real servers."""

from __future__ import annotations

import sys

import pexpect
import pytest
from client_peers import pproxy, refusing_proxy

pytestmark = pytest.mark.timeout(60)


def spawn(*args: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "fastws", "connect", *args], encoding="utf-8", timeout=15)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus)


def test_messages_pings_and_close(echo_server: int) -> None:
    child = spawn(f"ws://127.0.0.1:{echo_server}/", "-H", "X-Trace: 1")
    child.expect(r"connected to ws://127.0.0.1:\d+/ \(subprotocol: none, compression: permessage-deflate\)")
    child.sendline("hello there")
    child.expect("< hello there\r\n")
    child.sendline("//slash")
    child.expect("< /slash\r\n")
    child.sendline("/ping abc")
    child.expect(r"< pong b'abc'\r\n")
    child.expect(r"round trip \d+\.\d+ ms")
    child.sendline("/help")
    child.expect("commands: /ping")
    child.sendline("/close 1000 bye")
    child.expect("connection closed: 1000")
    assert finish(child) == 0


def test_server_ping_binary_and_error_close(node_server: int) -> None:
    """Node ws pings on command and closes with 4000: both shown; the exit status says it failed."""
    child = spawn(f"ws://127.0.0.1:{node_server}/", "--no-compression", "--subprotocol", "chat")
    child.expect(r"\(subprotocol: chat, compression: off\)")  # ws picks the first offered
    child.sendline("cmd:ping:hey")
    child.expect(r"< ping b'hey' \(pong sent\)")
    child.expect("< pong-received:hey")
    child.sendline("cmd:close:4000:gone away")
    child.expect("connection closed: 4000 gone away")
    assert finish(child) == 1


def test_binary_messages_and_end_of_input(websockets_server: int) -> None:
    child = spawn(f"ws://127.0.0.1:{websockets_server}/")
    child.expect("connected to")
    child.sendline("text first")
    child.expect("< text first")
    child.sendeof()  # Ctrl-D: close with 1000
    child.expect("connection closed: 1000")
    assert finish(child) == 0


def test_through_a_proxy_and_refusals(echo_server: int) -> None:
    with pproxy("http", "u:p") as url:
        child = spawn(f"ws://127.0.0.1:{echo_server}/", "--proxy", url)
        child.expect("connected to")
        child.sendline("proxied")
        child.expect("< proxied")
        child.sendeof()
        assert finish(child) == 0
    with refusing_proxy("http", "--auth", "u:p") as proxy:  # (pproxy remembers an address that logged in)
        child = spawn(f"ws://127.0.0.1:{echo_server}/", "--proxy", f"http://127.0.0.1:{proxy.port}")
        child.expect(r"cannot connect to ws://127.0.0.1:\d+/: proxy http://127.0.0.1:\d+: CONNECT refused: HTTP 407")
        assert finish(child) == 1
    child = spawn(f"ws://127.0.0.1:{echo_server}/", "-H", "no-colon")
    child.expect("bad header 'no-colon'")
    assert finish(child) == 2


def test_binary_display() -> None:
    from fastws.cli_connect import describe

    assert describe("t") == "< t"
    assert describe(b"\x00\xff") == "< [binary 2 bytes] 00ff"
    assert describe(bytes(2000)).endswith("...") and "[binary 2000 bytes]" in describe(bytes(2000))


def test_proxy_none_unreachable_server_and_ctrl_c(echo_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")  # a proxy that is not there
    child = spawn(f"ws://127.0.0.1:{echo_server}/")
    child.expect(rf"cannot connect to ws://127.0.0.1:\d+/: proxy http://127.0.0.1:{dead}: cannot reach the proxy")
    assert finish(child) == 1
    child = spawn(f"ws://127.0.0.1:{echo_server}/", "--proxy", "none")
    child.expect("connected to")
    child.sendintr()  # Ctrl-C
    assert finish(child) == 130
    monkeypatch.delenv("HTTP_PROXY")
    child = spawn(f"ws://127.0.0.1:{dead}/")
    child.expect(rf"cannot connect to ws://127.0.0.1:{dead}/: .*[Cc]onnect")
    assert finish(child) == 1
