"""Fixtures for the client tests: the servers of client_peers.py (see its docstring) and
certificates. No proxy variable of the machine leaks into a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from client_peers import HERE, NODE_DIR, REPO, free_port, stop, wait_listening


def _echo(cmd: list[str], what: str, env: dict[str, str] | None = None) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        wait_listening(port, proc, what)
        yield port
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[int]:
    """``fastws serve --echo`` (compression on): its port."""
    yield from _echo([sys.executable, "-m", "fastws", "serve", "--echo"], "fastws serve --echo")


@pytest.fixture(scope="module")
def websockets_server() -> Iterator[int]:
    """A websockets echo server (peer_websockets.py), as a process: its port."""
    yield from _echo([sys.executable, str(HERE / "peer_websockets.py")], "websockets server")


@pytest.fixture(scope="module")
def node_server() -> Iterator[int]:
    """tests/interop's Node ws echo server (node/server.js, permessage-deflate on): its port."""
    from interop.interop_support import require_tool

    node = require_tool("node", "the sync client against Node ws")
    proc = subprocess.Popen(
        [node, "server.js", "--pmd=default"], cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        import json

        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["event"] == "listening", first
        yield int(first["port"])
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a test CA and its certificate for 127.0.0.1 and localhost."""
    import trustme

    directory = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.cert_chain_pems[0].write_to_path(str(paths[1]))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return paths


@pytest.fixture(autouse=True)
def no_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the proxy variables they mean; none leaks in from the machine."""
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy", "socks_proxy"):
            monkeypatch.delenv(name)
