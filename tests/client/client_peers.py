"""Real peers for the client tests, each a process on a free loopback port, stopped at the end
(the fixtures are in conftest.py).

* :func:`pproxy` runs pproxy (PyPI's ``pproxy``, a well-known proxy server):
  HTTP CONNECT, SOCKS5 and SOCKS4, with or without credentials, TLS to the proxy.
* :func:`refusing_proxy` runs ``proxy_server.py`` (here) for the refusals pproxy does
  not make the way the protocols say (407 with Proxy-Authenticate, 403, SOCKS
  reply codes): see its docstring.
* :func:`echo_server` runs ``fastws serve --echo``; :func:`websockets_server` a
  websockets echo server (``peer_websockets.py``); Node ws is tests/interop's server.js.
* ``certificate``: a CA and a certificate for 127.0.0.1 / localhost (trustme).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_DIR = REPO / "tests" / "interop" / "node"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[str], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} is not listening on {port} after {timeout}s")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def pproxy(scheme: str, auth: str = "", tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """pproxy listening for ``scheme`` (http, socks5, socks4, http+ssl): yields its URL for connect()."""
    port = free_port()
    listen = f"{scheme}://127.0.0.1:{port}" + (f"#{auth}" if auth else "")
    # pproxy installs uvloop and then asks for the current loop, which recent uvloop no longer
    # creates: it runs on a plain asyncio loop set beforehand.
    launcher = (
        "import asyncio, sys; sys.modules['uvloop'] = None; "
        "asyncio.set_event_loop(asyncio.new_event_loop()); "
        "from pproxy.server import main; sys.argv[0] = 'pproxy'; main()"
    )
    cmd = [sys.executable, "-c", launcher, "-l", listen]
    if tls is not None:
        cmd += ["--ssl", f"{tls[0]},{tls[1]}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc, f"pproxy {listen}")
        client_scheme = {"http+ssl": "https"}.get(scheme, scheme)
        yield f"{client_scheme}://{auth + '@' if auth else ''}127.0.0.1:{port}"
    finally:
        stop(proc)


class RefusingProxy:
    """proxy_server.py as a process: ``port``, and ``tunnels()`` (the targets it connected to)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "proxy_server.py"), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), (line, self.proc.stderr.read() if self.proc.stderr else "")
        self.port = int(line.split()[1])
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line.rstrip("\n"))

    def tunnels(self) -> list[str]:
        return [line.split()[1] for line in self._lines if line.startswith("TUNNEL")]

    def lines(self) -> list[str]:
        """What it printed so far."""
        return list(self._lines)

    def wait_for(self, line: str, count: int, timeout: float = 10.0) -> None:
        """Until it printed ``line`` ``count`` times (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._lines.count(line) < count:
            assert time.monotonic() < deadline, f"{line!r} x{count} not printed: {self._lines}"
            time.sleep(0.02)

    def stop(self) -> None:
        stop(self.proc)
        self._reader.join(5)


@contextlib.contextmanager
def refusing_proxy(*args: str) -> Iterator[RefusingProxy]:
    proxy = RefusingProxy(*args)
    try:
        yield proxy
    finally:
        proxy.stop()
