"""``python -m fastws serve --echo`` in a subprocess, driven by the fastws client."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any, Optional

import pytest

from fastws import cli, connect
from fastws.admission import DEFAULT_SHARE as DEFAULT_HANDSHAKE_SHARE
from fastws.exceptions import ConnectionClosed, ConnectionClosedOK
from fastws.workers import WorkerConfig

LISTENING = re.compile(
    r"^fastws echo server listening on ws://127\.0\.0\.1:(\d+) "
    r"\(codec: (c|python), loop: (asyncio|uvloop), max size: (\d+) bytes, "
    r"compression: (permessage-deflate|off)\)$"
)


class EchoServer:
    def __init__(self, *args: str, env: Optional[dict[str, str]] = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastws", "serve", "--echo", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # The CLI's own default: not this process's FASTWS_PURE (test_pure_core.py sets it).
            env={**{k: v for k, v in os.environ.items() if k != "FASTWS_PURE"}, **(env or {})},
        )
        self.port = 0
        self.codec = self.loop = ""
        self.max_size = 0
        self.compression = ""

    async def readline(self) -> str:
        assert self.proc.stdout is not None
        return await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)

    async def started(self) -> EchoServer:
        line = await asyncio.wait_for(self.readline(), 10)
        match = LISTENING.match(line.strip())
        if match is None:
            stderr = self.proc.stderr.read() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
            raise AssertionError(f"unexpected first line {line!r}; stderr: {stderr}")
        self.port = int(match.group(1))
        self.codec, self.loop = match.group(2), match.group(3)
        self.max_size = int(match.group(4))
        self.compression = match.group(5)
        assert self.port != 0, "the line must show the bound port, not 0"
        return self

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def wait(self, timeout: float) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, self.proc.wait, timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


async def echo_round_trip(uri: str) -> None:
    async with connect(uri, max_size=8 << 20) as ws:
        await ws.send("héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await ws.send(b"\x00\x01\xfe\xff")
        assert await ws.recv() == b"\x00\x01\xfe\xff"
        big = os.urandom(5 << 20)
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send("")
        assert await ws.recv() == ""


@pytest.mark.timeout(30)
def test_serve_echo_then_sigterm(run, loop_name: str) -> None:
    server = EchoServer("--loop", loop_name)

    async def main() -> None:
        await server.started()
        assert server.loop == loop_name
        assert server.codec == "c"
        await echo_round_trip(server.uri)

        # A connection open at SIGTERM is closed with 1001, and the process exits 0 promptly,
        # even with a client stuck in the middle of its opening handshake.
        ws = await connect(server.uri)
        await ws.send("before")
        assert await ws.recv() == "before"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosedOK) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.code == 1001
        assert await server.wait(5) == 0
        assert time.monotonic() - start < 3
        rest = await server.readline()
        assert "shutting down" in rest
        try:
            assert await asyncio.wait_for(reader.read(), 2) == b""
        except ConnectionResetError:
            pass
        writer.close()

    try:
        run(main())
    finally:
        server.kill()


@pytest.mark.timeout(30)
def test_sigint_exits_zero(run) -> None:
    server = EchoServer("--loop", "asyncio")

    async def main() -> None:
        await server.started()
        await echo_round_trip(server.uri)
        start = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        assert await server.wait(5) == 0
        assert time.monotonic() - start < 3
        stderr = server.proc.stderr.read()  # type: ignore[union-attr]
        assert "Traceback" not in stderr, stderr

    try:
        run(main())
    finally:
        server.kill()


@pytest.mark.timeout(30)
def test_pure_reports_python_codec(run, loop_name: str) -> None:
    server = EchoServer("--pure", "--loop", loop_name)

    async def main() -> None:
        await server.started()
        assert server.codec == "python"
        assert server.loop == loop_name
        await echo_round_trip(server.uri)
        server.proc.send_signal(signal.SIGTERM)
        assert await server.wait(5) == 0

    try:
        run(main())
    finally:
        server.kill()


@pytest.mark.timeout(30)
def test_loop_auto_is_uvloop(run) -> None:
    pytest.importorskip("uvloop")
    server = EchoServer()

    async def main() -> None:
        await server.started()
        assert server.loop == "uvloop"
        server.proc.send_signal(signal.SIGTERM)
        assert await server.wait(5) == 0

    try:
        run(main())
    finally:
        server.kill()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flag", [None, "--no-compression"])
def test_compression_default_and_opt_out(run, flag) -> None:
    server = EchoServer(*([flag] if flag else []), "--loop", "asyncio")

    async def main() -> None:
        await server.started()
        assert server.compression == ("off" if flag else "permessage-deflate")
        async with connect(server.uri) as ws:
            answered = ws.response.header("Sec-WebSocket-Extensions")
            assert (answered is None) if flag else answered.startswith("permessage-deflate")
            message = '{"user": "alice", "text": "hello"}' * 100
            await ws.send(message)
            assert await ws.recv() == message
        server.proc.send_signal(signal.SIGTERM)
        assert await server.wait(5) == 0

    try:
        run(main())
    finally:
        server.kill()


@pytest.mark.timeout(30)
def test_max_size_option(run) -> None:
    server = EchoServer("--max-size", "1000", "--loop", "asyncio")

    async def main() -> None:
        await server.started()
        assert server.max_size == 1000
        async with connect(server.uri) as ws:
            await ws.send("a" * 1000)
            assert await ws.recv() == "a" * 1000
            await ws.send("a" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.code == 1009
        server.proc.send_signal(signal.SIGTERM)
        assert await server.wait(5) == 0

    try:
        run(main())
    finally:
        server.kill()


@pytest.mark.timeout(30)
def test_port_in_use_fails_cleanly(run) -> None:
    first = EchoServer("--loop", "asyncio")

    async def main() -> Any:
        await first.started()
        proc = await asyncio.get_running_loop().run_in_executor(
            None,
            lambda: subprocess.run(
                [sys.executable, "-m", "fastws", "serve", "--echo", "--port", str(first.port)],
                capture_output=True,
                text=True,
                timeout=10,
            ),
        )
        assert proc.returncode != 0
        assert "listening" not in proc.stdout
        first.proc.send_signal(signal.SIGTERM)
        assert await first.wait(5) == 0

    try:
        run(main())
    finally:
        first.kill()


def test_echo_is_required() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fastws", "serve", "--port", "0"], capture_output=True, text=True, timeout=10
    )
    assert proc.returncode == 2
    assert "--echo" in proc.stderr


@pytest.mark.timeout(30)
def test_bad_trusted_proxy_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fastws", "serve", "--echo", "--port", "0", "--trusted-proxy", "10.0.0.1/8"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "'10.0.0.1/8' has host bits set; did you mean '10.0.0.0/8'?" in proc.stderr


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", ["0", "1.5", "x"])
def test_bad_handshake_share_is_a_usage_error(value: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fastws", "serve", "--echo", "--port", "0", "--handshake-share", value],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert f"--handshake-share: must be a number in (0, 1] or 'off', not {value!r}" in proc.stderr


@pytest.mark.parametrize("share", [None, 0.25, DEFAULT_HANDSHAKE_SHARE])
def test_handshake_share_reaches_the_workers(share: Optional[float]) -> None:
    """The supervisor passes --handshake-share on to each worker's command line."""
    argv = WorkerConfig(target="fastws.echo:EchoListener", handshake_share=share).worker_argv(9001, 0)
    assert argv[3] == "serve"
    assert cli._parser().parse_args(argv[3:]).handshake_share == share
