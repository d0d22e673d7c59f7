"""Targets: where the driver's connections come from.

* :class:`ServerTarget`: the peer under test is a server; the driver connects to
  ``url`` as a client.  :func:`start_echo_server` runs ``fastws serve --echo`` in
  a subprocess (uvloop, C or pure codec) and gives its URL.
* :class:`ClientTarget`: the peer under test is a client; the driver listens,
  and the echo-client agent (``python -m fastws.testing.conformance.echo_client``,
  a subprocess so ``FASTWS_PURE`` selects its codec) connects once per case, with
  the compression offer the case asks for (a JSON line on its stdin).  The
  driver answers the opening handshake by hand, with the case's parameters.
* :class:`Session`: a target on an event loop of its own thread, so that
  synchronous code (pytest) can run cases one by one on a long-lived target.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from . import wire
from .cases import OFF, Case
from .driver import Declined, NegotiationError, Peer, Target, run_case
from .verdict import Result

START_TIMEOUT = 20.0


def _env(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    env["FASTWS_PURE"] = "1" if impl == "pure" else "0"
    return env


_CODEC_NAME = {"c": "codec: c", "pure": "codec: python"}


async def _first_line(proc: asyncio.subprocess.Process, what: str) -> str:
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
    except asyncio.TimeoutError:
        raise RuntimeError(f"{what} printed nothing within {START_TIMEOUT}s") from None
    if not line:
        raise RuntimeError(f"{what} exited (status {await proc.wait()}) before starting")
    return line.decode().strip()


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill ``proc`` (if still running) and reap it."""
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    await proc.wait()


async def start_echo_server(impl: str) -> tuple[asyncio.subprocess.Process, str]:
    """``fastws serve --echo`` on 127.0.0.1, a free port, uvloop, the ``impl`` codec ("c"/"pure")."""
    args = ["-m", "fastws", "serve", "--echo", "--host", "127.0.0.1", "--port", "0", "--loop", "uvloop"]
    if impl == "pure":
        args.append("--pure")
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, env=_env(impl),
                                                stdout=asyncio.subprocess.PIPE)
    try:
        line = await _first_line(proc, "fastws serve --echo")
        # "fastws echo server listening on ws://HOST:PORT (codec: c, ...)"
        if _CODEC_NAME[impl] not in line:
            raise RuntimeError(f"echo server does not run the {impl} codec: {line}")
        url = next((word for word in line.split() if word.startswith("ws://")), None)
        if url is None:
            raise RuntimeError(f"echo server printed no ws:// URL: {line}")
    except BaseException:
        await _kill(proc)
        raise
    return proc, url + "/"


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def check_answer(offer: wire.DeflateParams, answer: wire.DeflateParams) -> None:
    """Raise NegotiationError if ``answer`` is not a valid response to ``offer`` (RFC 7692 §7.1)."""
    known = {"server_no_context_takeover", "client_no_context_takeover",
             "server_max_window_bits", "client_max_window_bits"}
    for name, value in answer.items():
        if name not in known:
            raise NegotiationError(f"unknown parameter {name}")
        if name.endswith("_window_bits") and (value is None or value not in {str(n) for n in range(8, 16)}):
            raise NegotiationError(f"{name}={value} is not 8..15")
        if name.endswith("_takeover") and value is not None:
            raise NegotiationError(f"{name} has a value")
    if "server_no_context_takeover" in offer and "server_no_context_takeover" not in answer:
        raise NegotiationError("server_no_context_takeover offered but not in the answer (§7.1.1.1)")
    if offer.get("server_max_window_bits"):
        got = answer.get("server_max_window_bits")
        if got is None or int(got) > int(offer["server_max_window_bits"]):  # type: ignore[arg-type]
            raise NegotiationError(f"server_max_window_bits={got} for an offer of "
                                   f"{offer['server_max_window_bits']} (§7.1.2.1)")
    if "client_max_window_bits" in answer:
        if "client_max_window_bits" not in offer:
            raise NegotiationError("client_max_window_bits answered but not offered (§7.1.2.2)")
        limit = offer["client_max_window_bits"]
        if limit is not None and int(answer["client_max_window_bits"]) > int(limit):  # type: ignore[arg-type]
            raise NegotiationError("client_max_window_bits larger than offered (§7.1.2.2)")


def agreed(offer: wire.DeflateParams, answer: wire.DeflateParams) -> wire.DeflateParams:
    """``answer`` plus what the client's ``offer`` promised about its own side without an
    echo: no context takeover, a window limit (RFC 7692 §7.1.1.2, §7.1.2.2)."""
    out = dict(answer)
    for name in ("client_max_window_bits", "client_no_context_takeover"):
        if name in offer and name not in out and (offer[name] or name.endswith("takeover")):
            out[name] = offer[name]
    return out


def parse_ws_url(url: str) -> tuple[str, int, str]:
    """(host, port, path with its query) of a ws:// URL; ValueError saying what is wrong otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme != "ws" or not parts.hostname:
        tls = " (TLS is not supported: test the server behind plain ws://)" if parts.scheme == "wss" else ""
        raise ValueError(f"expected a ws://host[:port][/path] URL, not {url!r}{tls}")
    return parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class ServerTarget(Target):
    """A server under test at ``url`` (ws://host:port/path)."""

    role = "server"

    def __init__(self, url: str) -> None:
        self.url = url
        self.host, self.port, self.path = parse_ws_url(url)

    async def open(self, case: Case) -> Peer:
        deflate = case.deflate
        offer = case.extensions if case.extensions is not None else (
            wire.format_deflate(deflate) if deflate is not None else None)
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        lenient = []
        try:
            key = wire.new_key()
            writer.write(wire.client_request(self.host, self.port, self.path, key, offer))
            start, headers = await asyncio.wait_for(wire.read_head(reader), 5)
            if not start.startswith("HTTP/1.1 101"):
                raise ValueError(f"handshake refused: {start}")
            if headers.get("sec-websocket-accept", "").encode() != wire.accept_for(key):
                raise ValueError("wrong Sec-WebSocket-Accept")
            offers = wire.parse_extensions(offer or "")
            elements = wire.parse_extensions(headers.get("sec-websocket-extensions", ""))
            for name, _ in elements:
                if name not in {n for n, _ in offers}:
                    raise NegotiationError(f"{name} in the answer but not offered (RFC 6455 §9.1)")
            answers = [params for name, params in elements if name == "permessage-deflate"]
            if len(answers) > 1:
                raise NegotiationError("permessage-deflate answered twice")
            answer = answers[0] if answers else None
            if answer is not None and deflate is None:
                raise NegotiationError(f"accepted {offer!r}, which it must decline (RFC 7692 §7)")
            if deflate is not None:
                if answer is None:
                    raise Declined("the server answered without it")
                try:
                    check_answer(deflate, answer)
                except NegotiationError:
                    # A valid answer to a later (less preferred) offer is allowed, not ideal (§5).
                    later = [p for n, p in offers if n == "permessage-deflate"]
                    later = later[later.index(deflate) + 1 :] if deflate in later else []
                    deflate = next((p for p in later if _valid_answer(p, answer)), None)
                    if deflate is None:
                        raise
                    lenient.append(f"accepted a less preferred offer ({wire.format_deflate(deflate)}); "
                                   f"RFC 7692 §5 recommends the client's first choice")
                answer = agreed(deflate, answer)
        except BaseException:
            writer.transport.abort()
            raise
        peer = Peer(reader, writer, client=True, deflate=answer)
        peer.obs.lenient.extend(lenient)
        return peer


def _valid_answer(offer: wire.DeflateParams, answer: wire.DeflateParams) -> bool:
    try:
        check_answer(offer, answer)
    except NegotiationError:
        return False
    return True


def agent_options(offer: Union[wire.DeflateParams, str, None]) -> dict[str, Any]:
    """The fastws ``connect()`` keywords that make its offer ``offer`` (see :attr:`Case.offer`)."""
    if offer is None:
        return {}
    if offer == OFF:
        return {"compression": None}
    assert isinstance(offer, dict)
    cmwb = offer.get("client_max_window_bits")
    smwb = offer.get("server_max_window_bits")
    return {"compression_options": {
        "client_max_window_bits": (int(cmwb) if cmwb else True) if "client_max_window_bits" in offer else None,
        "server_max_window_bits": int(smwb) if smwb else None,
        "client_no_context_takeover": "client_no_context_takeover" in offer,
        "server_no_context_takeover": "server_no_context_takeover" in offer,
    }}


class ClientTarget(Target):
    """Clients under test connect to :attr:`url`; each connection serves one case.

    With an :attr:`agent` (the echo-client agent's stdin), each case first tells
    it how to connect: one JSON line of ``connect()`` keywords (:func:`agent_options`).
    """

    role = "client"

    def __init__(self) -> None:
        self._pending: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._server: Optional[asyncio.AbstractServer] = None
        self.url = ""
        self.agent: Optional[asyncio.StreamWriter] = None

    async def start(self) -> None:
        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._pending.put((reader, writer))

        self._server = await asyncio.start_server(connected, "127.0.0.1", 0, limit=1 << 20)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/"

    async def open(self, case: Case) -> Peer:
        if self.agent is not None:
            self.agent.write(json.dumps(agent_options(case.offer)).encode() + b"\n")
            await self.agent.drain()
        elif case.offer is not None:
            raise Declined("the client under test cannot be told what to offer")
        while True:
            reader, writer = await self._pending.get()
            try:
                _, headers = await asyncio.wait_for(wire.read_head(reader), 5)
                break
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                writer.transport.abort()  # a connection the client gave up on: take the next
        key = headers.get("sec-websocket-key", "").encode()
        offer = wire.parse_deflate(headers.get("sec-websocket-extensions", ""))
        answer = case.deflate
        try:
            if case.offer is not None and offer != (None if case.offer == OFF else case.offer):
                raise NegotiationError(f"the client offered {offer}, told to offer {case.offer}")
            if case.extensions is not None:  # a raw answer, valid or not on purpose
                header = case.extensions
            elif answer is None:
                header = None
            else:
                if offer is None:
                    raise Declined("the client offered no permessage-deflate")
                try:
                    check_answer(offer, answer)
                except NegotiationError as exc:
                    raise Declined(f"the client's offer ({wire.format_deflate(offer)}) does not allow "
                                   f"{wire.format_deflate(answer)}: {exc}") from None
                header = wire.format_deflate(answer)
        except BaseException:
            writer.transport.abort()
            raise
        writer.write(wire.server_response(key, header))
        return Peer(reader, writer, client=False,
                    deflate=None if answer is None else agreed(offer or {}, answer))

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()  # EOF: the agent exits
        if self._server is not None:
            self._server.close()  # the agent's next connect is refused: it exits
        while not self._pending.empty():
            self._pending.get_nowait()[1].transport.abort()


async def start_echo_client(target: ClientTarget, impl: str) -> asyncio.subprocess.Process:
    """The fastws echo-client agent (uvloop, the ``impl`` codec) connecting to ``target``, driven by it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastws.testing.conformance.echo_client", target.url,
        env=_env(impl), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        line = await _first_line(proc, "echo client")
        if _CODEC_NAME[impl] not in line:
            raise RuntimeError(f"echo client does not run the {impl} codec: {line}")
    except BaseException:
        await _kill(proc)
        raise
    target.agent = proc.stdin
    return proc


class Session:
    """A target (and its subprocess) living on a private event loop in a thread.

    ``Session("server", "c")`` starts fastws's echo server; ``Session("server",
    url=...)`` uses any server; ``Session("client", "pure")`` listens and starts
    the fastws echo-client agent.  :meth:`run` runs one case, synchronously.
    """

    def __init__(self, role: str, impl: str = "c", url: Optional[str] = None) -> None:
        self.role, self.impl = role, impl
        self._proc: Optional[asyncio.subprocess.Process] = None
        self.target: Optional[Target] = None
        self._closed = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"conformance-{role}-{impl}",
                                        daemon=True)
        self._thread.start()
        try:
            # The timeout inside the loop cancels _start there, which then stops what it started.
            self.target = self._call(asyncio.wait_for(self._start(url), START_TIMEOUT + 5),
                                     START_TIMEOUT + 10)
        except BaseException:
            self.close()
            raise

    def _call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self, url: Optional[str]) -> Target:
        if self.role == "server":
            if url is None:
                self._proc, url = await start_echo_server(self.impl)
            return ServerTarget(url)
        if self.role != "client":
            raise ValueError(f"role must be 'server' or 'client', not {self.role!r}")
        target = ClientTarget()
        try:
            await target.start()
            self._proc = await start_echo_client(target, self.impl)
        except BaseException:
            target.close()
            raise
        return target

    def run(self, case: Case) -> Result:
        assert self.target is not None
        return self._call(asyncio.wait_for(run_case(self.target, case), case.timeout * 2 + 20),
                          case.timeout * 2 + 25)

    def close(self) -> None:
        """Stop the target and its subprocess, then the loop and its thread (idempotent)."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            if isinstance(self.target, ClientTarget):
                self.target.close()
            if self._proc is not None:
                await stop_process(self._proc)

        try:
            self._call(stop(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()

    def __enter__(self) -> Session:  # noqa: PYI034
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
