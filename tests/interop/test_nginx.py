"""fastws behind Debian's nginx as a reverse proxy, configured as README.md says.

The ``nginx`` block of README.md's "Behind a reverse proxy" section is read and
run as is, with only its two ports replaced (the listening one and the
upstream's), so the documented configuration cannot drift from the tested one.
A module-scoped fixture writes it into a temporary directory with a minimal
main configuration (pid, logs and temp paths in that directory), starts
``nginx -c <conf> -g 'daemon off;'`` and stops it at the end.

Through it, a fastws client and a websockets client exchange text, binary,
1 MiB messages and pings with a fastws server, with and without
permessage-deflate, and close with a code and reason that reach the server.
Two extra locations, proxied the way nginx does by default (HTTP/1.0) or
without the Upgrade/Connection lines, show the failure: fastws answers 400,
nginx relays it and the client fails at once, naming the status.  Last,
``trusted_proxies``: the handler sees the real client (127.0.0.1) only when
the proxy is trusted.  nginx reaches the upstream from 127.0.0.2
(``proxy_bind``, in the test's wrapper, not in the README) so that proxy and
client have different addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from interop_support import (
    MAX_SIZE,
    ConnRecord,
    big_binary,
    compressible_text,
    recording_handler,
    stop_process_group,
    wait_for,
)
from loops import run_on
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

import fastws
from fastws.exceptions import HandshakeRejected

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Behind a reverse proxy"
PROXY_ADDRESS = "127.0.0.2"  # nginx's side of its upstream connections
MIB = 1024 * 1024
LOOPS = ["asyncio", "uvloop"]

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.interop(peer="nginx", role="fastws server"),
]


# =========================================================================== configuration


def readme_nginx_block() -> str:
    """The one ```nginx block of README.md's reverse-proxy section."""
    text = README.read_text(encoding="utf-8")
    start = text.find(f"\n{SECTION}\n")
    assert start >= 0, f"README.md has no {SECTION!r} section"
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```nginx\n(.*?)```", text[start : end if end > 0 else None], re.S)
    assert len(blocks) == 1, f"expected one ```nginx block in {SECTION!r}, found {len(blocks)}"
    return str(blocks[0])


def substitute(conf: str, old: str, new: str) -> str:
    assert conf.count(old) == 1, f"README's nginx block must contain {old!r} exactly once:\n{conf}"
    return conf.replace(old, new)


# Not in the README: what a configuration without the upgrade lines does.
BROKEN_LOCATIONS = """\
    location /http10/ {
        proxy_pass http://fastws;
    }

    location /no-upgrade-headers/ {
        proxy_pass http://fastws;
        proxy_http_version 1.1;
    }

"""


def render(tmp: Path, port: int, upstream_port: int) -> str:
    """nginx.conf: a minimal main context around the README's block, ports and paths templated in."""
    site = readme_nginx_block()
    site = substitute(site, "listen 80;", f"listen 127.0.0.1:{port};")
    site = substitute(site, "server 127.0.0.1:9001;", f"server 127.0.0.1:{upstream_port};")
    site = substitute(site, "    location / {", BROKEN_LOCATIONS + "    location / {")
    temp = "\n".join(
        f"    {name}_temp_path {tmp / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} info;

events {{
    worker_connections 64;
}}

http {{
    access_log {tmp / "access.log"};
{temp}
    proxy_bind {PROXY_ADDRESS};

{site}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Nginx:
    port: int
    upstream: socket.socket  # the fastws server's listening socket; each test serves a dup of it
    tmp: Path
    conf: str

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                parts.append(f"--- {name}\n" + (self.tmp / name).read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def url(self, path: str = "/echo") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def serve(self, handler: Any, **kwargs: Any) -> fastws.Server:
        return await fastws.serve(handler, sock=self.upstream.dup(), max_size=MAX_SIZE, **kwargs)


@pytest.fixture(scope="module")
def nginx_proxy(nginx: str) -> Iterator[Nginx]:
    """nginx in the foreground, with the README's configuration; stopped at the end."""
    with socket.socket() as upstream, tempfile.TemporaryDirectory(prefix="fastws-nginx-") as tmpdir:
        upstream.bind(("127.0.0.1", 0))
        upstream.listen(128)
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)  # workers run as nobody when the tests run as root
        proc = None
        for _attempt in range(3):  # the free port may be taken in between: try another
            port = free_port()
            conf = render(tmp, port, upstream.getsockname()[1])
            (tmp / "nginx.conf").write_text(conf)
            with open(tmp / "stderr.log", "wb") as err:
                proc = subprocess.Popen(
                    [nginx, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf"),
                     "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            proxy = Nginx(port, upstream, tmp, conf)
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                    break
                time.sleep(0.05)
            else:
                status = proc.poll()
                stop_process_group(proc, signal.SIGQUIT, whole_group=False)
                if status is not None and "Address already in use" in proxy.log():
                    continue
                pytest.fail(f"nginx did not start (exit {status}):\n{proxy.log()}\n{conf}", pytrace=False)
            break
        else:
            pytest.fail(f"nginx could not bind a port:\n{proxy.log()}", pytrace=False)
        assert proc is not None
        try:
            yield proxy
        finally:
            # SIGQUIT: graceful, the master waits for its worker.
            stop_process_group(proc, signal.SIGQUIT, whole_group=False)


# =========================================================================== messages


CASES = [
    pytest.param(client, compression, loop, id=f"{client}-{compression or 'no-compression'}-{loop}")
    for client in ("fastws", "websockets")
    for compression in ("deflate", None)
    for loop in LOOPS
]


@dataclass
class Exchange:
    echoed: list[Any]
    extensions: str | None  # the Sec-WebSocket-Extensions of the 101 the client got
    rtt: float
    close: tuple[int | None, str | None]  # the client's view of the close
    records: list[ConnRecord]


async def _exchange(proxy: Nginx, client: str, compression: str | None) -> Exchange:
    records: list[ConnRecord] = []
    messages: list[Any] = ["hello through nginx \u2603", b"\x00\x01\xfe\xff", big_binary(MIB)]
    if compression:
        messages.append(compressible_text(MIB))
    async with await proxy.serve(recording_handler(records)):
        echoed: list[Any] = []
        if client == "fastws":
            async with fastws.connect(proxy.url(), compression=compression, max_size=MAX_SIZE) as ws:
                extensions = ws.response.header("Sec-WebSocket-Extensions")
                for message in messages:
                    await ws.send(message)
                    echoed.append(await ws.recv())
                rtt = await asyncio.wait_for(ws.ping(b"through nginx"), 5)
                await ws.close(4000, "bye \u2713")
            close = (ws.close_code, ws.close_reason)
        else:
            async with ws_connect(
                proxy.url(), compression=compression, max_size=MAX_SIZE, ping_interval=None, proxy=None
            ) as ws:
                extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
                for message in messages:
                    await ws.send(message)
                    echoed.append(await ws.recv())
                rtt = await asyncio.wait_for(await ws.ping(b"through nginx"), 5)
                await ws.close(4000, "bye \u2713")
            close = (ws.close_code, ws.close_reason)
        await wait_for(
            lambda: bool(records) and records[0].close_code is not None, 10, "the server-side close"
        )
    assert echoed == messages
    return Exchange(echoed, extensions, rtt, close, records)


@pytest.mark.interop(
    role=("fastws server", "fastws client"), feature=("text", "binary", "large", "ping", "close codes")
)
@pytest.mark.parametrize("client, compression, loop", [p for p in CASES if p.values[0] == "fastws"])
def test_fastws_client_through_nginx(
    nginx_proxy: Nginx, client: str, compression: str | None, loop: str
) -> None:
    _check_exchange(nginx_proxy, client, compression, loop)


@pytest.mark.interop(feature=("text", "binary", "large", "ping", "close codes"))
@pytest.mark.parametrize("client, compression, loop", [p for p in CASES if p.values[0] == "websockets"])
def test_websockets_client_through_nginx(
    nginx_proxy: Nginx, client: str, compression: str | None, loop: str
) -> None:
    _check_exchange(nginx_proxy, client, compression, loop)


def _check_exchange(proxy: Nginx, client: str, compression: str | None, loop: str) -> None:
    run = run_on(loop, _exchange(proxy, client, compression), 45)
    [rec] = run.records
    assert rec.path == "/echo"
    assert run.rtt >= 0
    # The close code and reason crossed nginx both ways.
    assert (rec.close_code, rec.close_reason) == (4000, "bye \u2713"), rec
    assert run.close[0] == 4000
    assert rec.error is None


@pytest.mark.interop(role=("fastws server", "fastws client"), feature="deflate")
@pytest.mark.parametrize("client", ["fastws", "websockets"])
@pytest.mark.parametrize("compression", ["deflate", None])
def test_deflate_through_nginx(nginx_proxy: Nginx, client: str, compression: str | None) -> None:
    """permessage-deflate is negotiated end to end: nginx passes the headers and the frames through."""
    run = run_on("asyncio", _exchange(nginx_proxy, client, compression), 45)
    [rec] = run.records
    if compression:
        assert rec.offered is not None and rec.offered.startswith("permessage-deflate"), rec.offered
        assert run.extensions == rec.agreed == "permessage-deflate"
        assert rec.inflated > 0 and rec.deflated > 0, rec  # RSV1 both ways, through the proxy
    else:
        assert rec.offered is None and run.extensions is None and rec.agreed is None
        assert rec.inflated == rec.deflated == 0


# =========================================================================== without the upgrade lines


BROKEN = [
    pytest.param("/http10/", "HTTP/1.0 not supported, HTTP/1.1 or later required", id="http10"),
    pytest.param(
        "/no-upgrade-headers/", "Upgrade header must contain 'websocket', got none", id="no-upgrade"
    ),
]


@pytest.mark.interop(role=("fastws server", "fastws client"), feature="handshake")
@pytest.mark.parametrize("path, reason", BROKEN)
def test_fastws_client_without_upgrade_headers(nginx_proxy: Nginx, path: str, reason: str) -> None:
    async def main() -> tuple[HandshakeRejected, float, list[ConnRecord]]:
        records: list[ConnRecord] = []
        async with await nginx_proxy.serve(recording_handler(records)):
            start = time.monotonic()
            with pytest.raises(HandshakeRejected) as info:
                await fastws.connect(nginx_proxy.url(path), open_timeout=10)
            return info.value, time.monotonic() - start, records

    exc, elapsed, records = run_on("asyncio", main(), 30)
    assert exc.status == 400
    assert str(exc) == "server rejected the WebSocket handshake: HTTP 400 Bad Request"
    assert exc.body.decode() == reason + "\n"  # fastws's reason, relayed by nginx
    assert elapsed < 2, f"the rejection took {elapsed:.1f}s"
    assert records == []  # no handler ran


@pytest.mark.interop(feature="handshake")
@pytest.mark.parametrize("path, reason", BROKEN)
def test_websockets_client_without_upgrade_headers(nginx_proxy: Nginx, path: str, reason: str) -> None:
    async def main() -> tuple[InvalidStatus, float]:
        async with await nginx_proxy.serve(recording_handler([])):
            start = time.monotonic()
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(nginx_proxy.url(path), proxy=None, open_timeout=10)
            return info.value, time.monotonic() - start

    exc, elapsed = run_on("asyncio", main(), 30)
    assert exc.response.status_code == 400
    assert "HTTP 400" in str(exc)
    assert exc.response.body.decode() == reason + "\n"
    assert elapsed < 2, f"the rejection took {elapsed:.1f}s"


# =========================================================================== trusted_proxies


@pytest.mark.interop(role=("fastws server", "fastws client"), feature="handshake")
@pytest.mark.parametrize(
    "trusted, spoofed, expected",
    [
        pytest.param([PROXY_ADDRESS], None, "127.0.0.1", id="trusted"),
        # A client's own X-Forwarded-For is kept by nginx, left of the address nginx saw: not taken.
        pytest.param([PROXY_ADDRESS], "203.0.113.9", "127.0.0.1", id="trusted-spoofed"),
        pytest.param(["127.0.0.0/24"], None, "127.0.0.1", id="trusted-network-all-hops"),
        pytest.param([], None, PROXY_ADDRESS, id="untrusted"),
        pytest.param(["127.0.0.1"], "203.0.113.9", PROXY_ADDRESS, id="other-proxy-trusted"),
    ],
)
def test_client_ip_through_nginx(
    nginx_proxy: Nginx, trusted: list[str], spoofed: str | None, expected: str
) -> None:
    async def main() -> tuple[str | None, Any, dict[str, str | None]]:
        seen: list[Any] = []

        async def handler(ws: Any) -> None:
            headers = {
                name: ws.request.header(name) for name in ("Host", "X-Forwarded-For", "X-Forwarded-Proto")
            }
            seen.append((ws.client_ip, ws.remote_address, headers))
            await ws.close()

        extra = [("X-Forwarded-For", spoofed)] if spoofed else []
        async with await nginx_proxy.serve(handler, trusted_proxies=trusted):
            async with fastws.connect(nginx_proxy.url("/who"), extra_headers=extra) as ws:
                await ws.wait_closed()
            await wait_for(lambda: bool(seen), 5, "the handler")
        return seen[0]  # type: ignore[no-any-return]

    client_ip, remote, headers = run_on("asyncio", main(), 30)
    assert remote[0] == PROXY_ADDRESS  # the socket's peer is nginx
    assert client_ip == expected
    assert headers["Host"] == "127.0.0.1"  # nginx's $host: the client's Host without its port
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Forwarded-For"] == (f"{spoofed}, 127.0.0.1" if spoofed else "127.0.0.1")
