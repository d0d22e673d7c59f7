"""Interoperability with Node's ``ws`` (npm), the seed's server library, in both roles.

* fastws server <- Node client (``node/client.js``): a scripted exchange (text,
  binary of each length encoding, 1 MiB and 16 MiB messages, a burst of 500,
  fragmented sends with ws's ``{fin: false}`` including UTF-8 split inside
  characters and a ping between fragments, pings both ways up to 125 bytes,
  close codes both ways, a close without status, invalid UTF-8 -> 1007),
  checked by the Node client (echoes byte for byte, bytes on the wire) and by
  the fastws side (what it received, whether it inflated/deflated, close codes).
* fastws client -> Node server (``node/server.js``): the same exchange driven
  from fastws, checked by fastws and by the server's event log.

Each role runs with several permessage-deflate settings on both event loops:
ws's defaults, every parameter, 8-bit windows, fastws's own policy (server) or
offer (client), declined, not offered; the server role also with the callback
API (a Listener).  A scenario runs once per (setting, loop) in a module-scoped
fixture; the tests below assert on its results.  Last, a message over fastws's
max_size must end with 1009 on both sides, in both roles.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from interop_support import (
    MAX_SIZE,
    ConnRecord,
    NodeServer,
    big_binary,
    canon_extensions,
    compressible_text,
    fragments_message,
    instrument,
    recording_handler,
    recording_listener,
    run_node_client,
    run_node_script,
    summary,
    wait_for,
)
from loops import run_on

import fastws
from fastws import ConnectionClosed
from fastws.deflate import PerMessageDeflate

BIG = 16 * 1024 * 1024
MIB = 1024 * 1024
TEXT = "hello fastws \u2603 \U0001f600 \u0000 \U0010ffff"  # what node/client.js sends first
SCENARIO_TIMEOUT = 55.0
COMPRESSED_MAX = 256 * 1024  # 1 MiB of the compressible text: ~4 KiB on the wire, ~140 KiB with 8-bit windows
LOOPS = ["asyncio", "uvloop"]

pytestmark = [
    pytest.mark.timeout(90),  # the first test of a scenario also runs it (fixture setup)
    pytest.mark.interop(peer="Node ws"),
]


@dataclass(frozen=True)
class Case:
    id: str
    node_pmd: str  # node/pmd.js mode of the Node peer
    fastws_compression: str | None  # fastws's compression= ("deflate" or None)
    agreed: str | None  # the Sec-WebSocket-Extensions both must settle on (None: no extension)
    session: str = ""  # repr of fastws's deflate session: the window bits and resets it runs with
    big: int = 0  # size of the large binary message (0: skip it)
    # fastws's own deflate settings: PerMessageDeflate(**options) for the server,
    # connect(compression_options=options) for the client.
    options: tuple[tuple[str, Any], ...] = ()
    listener: bool = False  # server: the callback API (a Listener) instead of a handler coroutine


# fastws server <- Node client.  fastws answers only what was offered (its own
# 12-bit window is not announced unless the client asked for a limit).
SERVER_CASES = [
    Case("deflate", "default", "deflate", "permessage-deflate",
         "<DeflateSession server send=12b receive=15b>", big=BIG),
    Case(
        "tuned",
        "tuned",
        "deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11",
        "<DeflateSession server send=10b/reset receive=11b/reset>",
    ),
    Case("bits8", "bits8", "deflate", "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
         "<DeflateSession server send=8b receive=8b>"),
    # fastws's own policy: no context takeover and a 10-bit window for its compressor,
    # a 9-bit window asked of the client, every message compressed at level 9.
    Case("server-policy", "default", "deflate", "permessage-deflate; server_no_context_takeover; "
         "client_max_window_bits=9", "<DeflateSession server send=10b/reset receive=9b>",
         options=(("server_no_context_takeover", True), ("server_max_window_bits", 10),
                  ("client_max_window_bits", 9), ("level", 9), ("threshold", 0))),
    # The callback API (what `fastws serve --echo` runs), ws's defaults.
    Case("listener", "default", "deflate", "permessage-deflate",
         "<DeflateSession server send=12b receive=15b>", listener=True),
    Case("declined", "default", None, None),  # Node offers, fastws declines
    Case("off", "off", "deflate", None, big=BIG),  # Node does not offer
]  # fmt: skip

# fastws client -> Node server.  fastws offers "permessage-deflate; client_max_window_bits".
CLIENT_CASES = [
    Case("deflate", "default", "deflate", "permessage-deflate",
         "<DeflateSession client send=15b receive=15b>", big=BIG),
    Case(
        "tuned",
        "tuned",
        "deflate",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=10; client_max_window_bits=11",
        "<DeflateSession client send=11b/reset receive=10b/reset>",
    ),
    Case("bits8", "bits8", "deflate", "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
         "<DeflateSession client send=8b receive=8b>"),
    # fastws offers every parameter; ws (defaults) accepts them as offered.
    Case("offer-params", "default", "deflate", "permessage-deflate; server_no_context_takeover; "
         "client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
         "<DeflateSession client send=12b/reset receive=10b/reset>",
         options=(("server_no_context_takeover", True), ("client_no_context_takeover", True),
                  ("server_max_window_bits", 10), ("client_max_window_bits", 12), ("threshold", 0))),
    Case("declined", "off", "deflate", None),  # fastws offers, Node declines
    Case("off", "default", None, None, big=BIG),  # fastws does not offer
]  # fmt: skip


def _params(cases: list[Case]) -> list[Any]:
    return [pytest.param((case, loop), id=f"{case.id}-{loop}") for case in cases for loop in LOOPS]


def check(steps: Any, *names: str) -> None:
    """Every named step ran and succeeded (the step's record is the failure message)."""
    by_name = steps if isinstance(steps, dict) else {s["name"]: s for s in steps}
    for name in names:
        assert name in by_name, f"step {name!r} did not run; steps: {sorted(by_name)}"
        assert by_name[name]["ok"], f"step {name!r} failed: {by_name[name]}"


# =========================================================================== fastws server <- Node client


@dataclass
class ServerRun:
    case: Case
    node: dict[str, Any]  # node/client.js's result
    records: list[ConnRecord]  # the fastws side, one per connection

    def step(self, name: str) -> dict[str, Any]:
        check(self.node["steps"], name)
        return next(s for s in self.node["steps"] if s["name"] == name)


async def _server_scenario(node: str, case: Case) -> ServerRun:
    records: list[ConnRecord] = []
    handler = recording_listener(records) if case.listener else recording_handler(records)
    compression: Any = case.fastws_compression
    if case.options:
        compression = PerMessageDeflate(**dict(case.options))
    server = await fastws.serve(handler, "127.0.0.1", 0, compression=compression, max_size=MAX_SIZE)
    async with server:
        result = await run_node_client(node, f"ws://127.0.0.1:{server.port}", case.node_pmd, case.big)
        await wait_for(
            lambda: len(records) == 4 and all(r.close_code is not None for r in records),
            10,
            "the 4 connections to close on the fastws side",
        )
    return ServerRun(case, result, records)


@pytest.fixture(scope="module", params=_params(SERVER_CASES))
def server_run(request: pytest.FixtureRequest, node: str) -> ServerRun:
    case, loop = request.param
    run = run_on(loop, _server_scenario(node, case), SCENARIO_TIMEOUT)
    assert not run.node.get("fatal"), f"node client.js failed: {run.node['fatal']}\n{run.node['stderr']}"
    return run


@pytest.mark.interop(role="fastws server", feature="deflate")
def test_server_negotiation(server_run: ServerRun) -> None:
    case, node, records = server_run.case, server_run.node, server_run.records
    assert [c["path"] for c in node["connections"]] == ["/node", "/node-2", "/node-3", "/node-4"]
    for conn, rec in zip(node["connections"], records):
        assert conn["accepted"] == case.agreed, conn  # the 101 Node received
        assert conn["extensions"] == ("permessage-deflate" if case.agreed else "")
        assert rec.agreed == case.agreed  # what fastws answered
        assert rec.session == case.session  # what its deflate session runs with
        if case.node_pmd == "off":
            assert rec.offered is None
        else:
            assert rec.offered is not None and rec.offered.startswith("permessage-deflate"), rec.offered
    # bits8: agreed 8 bits both ways.  fastws compresses with zlib's 9 (fastws/_deflate_py.py
    # explains why that fits) and Node inflates with its 256-byte window: the echoes prove it.


@pytest.mark.interop(role="fastws server", feature=("text", "binary"))
def test_server_text_and_binary(server_run: ServerRun) -> None:
    names = [
        "text",
        "text-empty",
        "binary-empty",
        "binary-256",
        *(f"binary-{n}" for n in (125, 126, 65535, 65536)),
    ]
    for name in names:
        step = server_run.step(name)
        assert step["recvBinary"] == step["sentBinary"] and step["recvLength"] == step["sentLength"], step
    received = server_run.records[0].received
    assert received[:4] == [TEXT, "", b"", bytes(range(256))]
    assert [r if isinstance(r, tuple) else summary(r) for r in received[4:8]] == [
        ("binary", server_run.step(f"binary-{n}")["sentLength"], server_run.step(f"binary-{n}")["sentSha256"])
        for n in (125, 126, 65535, 65536)
    ]


@pytest.mark.interop(role="fastws server", feature=("large", "deflate"))
def test_server_large_messages_and_compression(server_run: ServerRun) -> None:
    case, rec = server_run.case, server_run.records[0]
    text = server_run.step("text-1MiB-compressible")
    binary = server_run.step("binary-1MiB-random")
    assert text["recvLength"] == binary["recvLength"] == MIB
    received = {r[2]: r for r in rec.received if isinstance(r, tuple)}
    assert received[text["sentSha256"]] == ("text", MIB, text["sentSha256"])
    assert received[binary["sentSha256"]] == ("binary", MIB, binary["sentSha256"])
    if case.big:
        big = server_run.step("binary-big")
        assert big["recvLength"] == case.big and received[big["sentSha256"]][1] == case.big
    if case.agreed:
        # Compressed both ways on the wire (Node counts its socket's bytes) ...
        assert text["wireWritten"] < COMPRESSED_MAX, text
        assert text["wireRead"] < COMPRESSED_MAX, text
        # ... and fastws inflated Node's messages and deflated its echoes.
        assert rec.inflated > 0 and rec.deflated > 0, rec
    else:
        assert text["wireWritten"] > MIB and text["wireRead"] > MIB, text
        assert rec.inflated == rec.deflated == 0, rec


@pytest.mark.interop(role="fastws server", feature="text")
def test_server_burst(server_run: ServerRun) -> None:
    assert server_run.step("burst")["inOrder"] == 500
    received = [m for m in server_run.records[0].received if isinstance(m, str) and m.startswith('{"seq":')]
    assert [json.loads(m)["seq"] for m in received] == list(range(500))


@pytest.mark.interop(role="fastws server", feature="fragmented")
def test_server_fragmented(server_run: ServerRun) -> None:
    for name in (
        "fragmented-text",
        "fragmented-binary",
        "fragmented-text-large",
        "fragmented-interleaved-ping",
        "fragmented-utf8-split",
    ):
        server_run.step(name)
    for kind, count, size in (("text", 3, 10), ("binary", 3, 10), ("text", 4, 64 * 1024)):
        step = server_run.step(f"server-fragments-{kind}-{count}x{size}")
        assert step["recvLength"] == count * size
    received = server_run.records[0].received
    assert fragments_message(3, 7) in received  # Node's 3 frames, reassembled by fastws
    assert "a\u2603\U0001f600\u00e9z" in received  # UTF-8 split inside characters, one byte per frame
    assert fragments_message(3, 7).encode() in received
    assert summary(fragments_message(4, 64 * 1024)) in received


@pytest.mark.interop(role="fastws server", feature="ping")
def test_server_ping_pong(server_run: ServerRun) -> None:
    assert server_run.step("ping-node-ping")["got"] == {"kind": "pong", "data": "node-ping"}
    assert server_run.step("ping-empty")["got"] == {"kind": "pong", "data": ""}
    assert server_run.step("ping-125")["got"]["kind"] == "pong"  # the largest control payload
    step = server_run.step("server-ping")  # fastws's ping() resolved on Node's pong
    assert step["pings"] == ["srv-ping"]


@pytest.mark.interop(role="fastws server", feature="close codes")
def test_server_close_codes(server_run: ServerRun) -> None:
    first, second, third, fourth = server_run.records
    # Node closes: fastws sees its code and reason and echoes the code.
    client_close = server_run.step("client-close")
    assert (first.close_code, first.close_reason) == (4001, "node bye \u2713")
    assert (client_close["code"], client_close["reason"]) == (4001, "")
    # fastws closes: Node sees fastws's code and reason.
    server_close = server_run.step("server-close")
    assert (server_close["code"], server_close["reason"]) == (4002, "server bye \u2713")
    assert second.close_code == 4002
    # Invalid UTF-8 from Node: fastws fails the connection with 1007.
    invalid = server_run.step("invalid-utf8")
    assert invalid["code"] == 1007, invalid
    assert third.close_code == 1007
    # A close without a status code: 1005 on both sides.
    assert server_run.step("close-no-status")["code"] == 1005
    assert (fourth.close_code, fourth.close_reason) == (1005, "")
    assert first.error is None and second.error is None


# =========================================================================== fastws client -> Node server


class Steps(dict):  # type: ignore[type-arg]
    """name -> {"ok": bool, ...}: one entry per step of the client scenario; a failure does not stop it."""

    async def run(self, name: str, coro: Any) -> None:
        try:
            entry = await asyncio.wait_for(coro, 20)
            entry = dict(entry or {})
            entry.setdefault("ok", True)
        except Exception as exc:  # noqa: BLE001  (recorded as the step's failure)
            entry = {"ok": False, "error": repr(exc)}
        self[name] = entry


@dataclass
class ClientRun:
    case: Case
    steps: Steps
    agreed: list[str | None]  # Sec-WebSocket-Extensions of each 101 fastws accepted
    rec: ConnRecord  # deflate counters of the first connection
    events: list[dict[str, Any]]  # node/server.js's log
    closes: list[tuple[int | None, str]]  # fastws's close_code/close_reason per connection

    def step(self, name: str) -> dict[str, Any]:
        check(self.steps, name)
        return self.steps[name]  # type: ignore[no-any-return]

    def node_events(self, event: str, conn_id: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event and e["id"] == conn_id]


async def _client_scenario(node: str, case: Case) -> ClientRun:
    steps = Steps()
    rec = ConnRecord()
    agreed: list[str | None] = []
    closes: list[tuple[int | None, str]] = []
    async with NodeServer(node, case.node_pmd) as srv:
        url = f"ws://127.0.0.1:{srv.port}"
        options = dict(case.options) or None
        ws = await fastws.connect(
            url + "/fastws",
            compression=case.fastws_compression,
            compression_options=options,
            max_size=MAX_SIZE,
        )
        agreed.append(ws.response.headers.get("Sec-WebSocket-Extensions"))
        instrument(ws, rec)

        async def echo(message: str | bytes) -> dict[str, Any]:
            await ws.send(message)
            got = await ws.recv()
            return {"ok": type(got) is type(message) and got == message, "length": len(got)}

        async def stats() -> dict[str, int]:
            await ws.send("cmd:stats")
            return json.loads(await ws.recv())  # type: ignore[no-any-return]

        async def compressible() -> dict[str, Any]:
            before = await stats()
            result = await echo(compressible_text(MIB))
            after = await stats()
            # Node's socket: what it read is what fastws sent, and the reverse.
            result["fastws_sent"] = after["bytesRead"] - before["bytesRead"]
            result["node_sent"] = after["bytesWritten"] - before["bytesWritten"]
            return result

        async def fragmented(parts: list[Any]) -> dict[str, Any]:
            await ws.send_fragments(parts)
            got = await ws.recv()
            whole = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
            return {"ok": type(got) is type(whole) and got == whole, "length": len(got)}

        async def ping(payload: bytes | None) -> dict[str, Any]:
            rtt = await ws.ping(payload)
            return {"ok": rtt >= 0, "rtt": rtt}

        async def command(text: str, expected: str | bytes) -> dict[str, Any]:
            await ws.send(text)
            got = await ws.recv()
            return {
                "ok": type(got) is type(expected) and got == expected,
                "got": got if len(got) < 200 else len(got),
            }

        await steps.run("text", echo(TEXT))
        await steps.run("text-empty", echo(""))
        await steps.run("binary-empty", echo(b""))
        await steps.run("binary-256", echo(bytes(range(256))))
        for n in (125, 126, 65535, 65536):
            await steps.run(f"binary-{n}", echo(bytes(range(256)) * (n // 256) + bytes(range(n % 256))))
        await steps.run("text-1MiB-compressible", compressible())
        await steps.run("binary-1MiB-random", echo(big_binary(MIB)))
        if case.big:
            await steps.run("binary-big", echo(big_binary(case.big)))
        await steps.run("fragmented-text", fragmented(["frag-1 ", "frag-2 ", "frag-3"]))
        await steps.run("fragmented-binary", fragmented([b"\x00\x01", b"", b"\xff" * 10]))
        large = [fragments_message(1, 64 * 1024)[: 32 * 1024] + str(i) for i in range(4)]
        await steps.run("fragmented-text-large", fragmented(large))
        await steps.run("ping-payload", ping(b"py-ping"))
        await steps.run("ping-empty", ping(b""))
        await steps.run("server-ping", command("cmd:ping:node-ping", "pong-received:node-ping"))
        for kind, count, size in (("text", 3, 10), ("binary", 3, 10), ("text", 4, 64 * 1024)):
            whole = fragments_message(count, size)
            await steps.run(
                f"server-fragments-{kind}-{count}x{size}",
                command(
                    f"cmd:fragments:{kind}:{count}:{size}", whole.encode() if kind == "binary" else whole
                ),
            )
        for kind in ("text", "binary"):
            whole = fragments_message(2, 100)  # fragment(0, 100) + fragment(1, 100)
            await steps.run(
                f"server-interleaved-ping-{kind}",
                command(f"cmd:interleaved:{kind}", whole.encode() if kind == "binary" else whole),
            )
        await steps.run("ping-125", ping(b"p" * 125))

        async def burst() -> dict[str, Any]:
            for i in range(500):
                ws.send(json.dumps({"seq": i, "pad": "x" * (i % 50)}))  # no await: back to back
            seqs = [json.loads(await ws.recv())["seq"] for _ in range(500)]
            return {"ok": seqs == list(range(500)), "count": len(seqs)}

        await steps.run("burst", burst())
        # fastws closes with a code and reason; ws echoes both.
        await ws.close(4003, "fastws bye \u2713")
        closes.append((ws.close_code, ws.close_reason))
        await srv.wait_event("close", id=0)

        # Node closes a second connection with a code and reason.
        ws2 = await fastws.connect(
            url + "/fastws-2", compression=case.fastws_compression, compression_options=options
        )
        agreed.append(ws2.response.headers.get("Sec-WebSocket-Extensions"))

        async def closed_by_node() -> dict[str, Any]:
            await ws2.send("cmd:close:4004:node bye \u2713")
            try:
                message = await ws2.recv()
            except ConnectionClosed as exc:
                return {"ok": True, "exception": type(exc).__name__, "code": exc.code, "reason": exc.reason}
            return {"ok": False, "unexpected": message}

        await steps.run("server-close", closed_by_node())
        await ws2.wait_closed()
        closes.append((ws2.close_code, ws2.close_reason))
        await srv.wait_event("close", id=1)

        # Node sends a text message that is not UTF-8: fastws fails the connection with 1007.
        ws3 = await fastws.connect(
            url + "/fastws-3", compression=case.fastws_compression, compression_options=options
        )

        async def invalid_utf8() -> dict[str, Any]:
            await ws3.send("cmd:invalid-utf8")
            try:
                message = await ws3.recv()
            except ConnectionClosed as exc:
                return {"ok": True, "code": exc.code, "reason": exc.reason}
            return {"ok": False, "unexpected": message}

        await steps.run("invalid-utf8", invalid_utf8())
        await ws3.wait_closed()
        closes.append((ws3.close_code, ws3.close_reason))
        await srv.wait_event("close", id=2)

        # Node closes without a status code: fastws reports 1005 and echoes an empty close.
        ws4 = await fastws.connect(
            url + "/fastws-4", compression=case.fastws_compression, compression_options=options
        )

        async def close_empty() -> dict[str, Any]:
            await ws4.send("cmd:close-empty")
            try:
                message = await ws4.recv()
            except ConnectionClosed as exc:
                return {"ok": True, "exception": type(exc).__name__, "code": exc.code, "reason": exc.reason}
            return {"ok": False, "unexpected": message}

        await steps.run("close-no-status", close_empty())
        await ws4.wait_closed()
        closes.append((ws4.close_code, ws4.close_reason))
        await srv.wait_event("close", id=3)
    return ClientRun(case, steps, agreed, rec, srv.events, closes)


@pytest.fixture(scope="module", params=_params(CLIENT_CASES))
def client_run(request: pytest.FixtureRequest, node: str) -> ClientRun:
    case, loop = request.param
    return run_on(loop, _client_scenario(node, case), SCENARIO_TIMEOUT)  # type: ignore[no-any-return]


@pytest.mark.interop(role="fastws client", feature="deflate")
def test_client_negotiation(client_run: ClientRun) -> None:
    case = client_run.case
    connections = [e for e in client_run.events if e["event"] == "connection"]
    assert [c["path"] for c in connections] == ["/fastws", "/fastws-2", "/fastws-3", "/fastws-4"]
    for conn, agreed in zip(connections, client_run.agreed):
        if case.options:
            assert canon_extensions(conn["offered"]) == canon_extensions(case.agreed), conn
        elif case.fastws_compression:
            assert conn["offered"] == "permessage-deflate; client_max_window_bits", conn
        else:
            assert conn["offered"] is None, conn
        # ws orders the parameters its own way: compare them as sets.
        assert canon_extensions(conn["accepted"]) == canon_extensions(case.agreed), conn
        assert conn["extensions"] == ("permessage-deflate" if case.agreed else "")
        assert agreed == conn["accepted"]  # what fastws's client accepted
    assert client_run.rec.session == case.session


@pytest.mark.interop(role="fastws client", feature=("text", "binary"))
def test_client_text_and_binary(client_run: ClientRun) -> None:
    check(client_run.steps, "text", "text-empty", "binary-empty", "binary-256",
          *(f"binary-{n}" for n in (125, 126, 65535, 65536)))  # fmt: skip
    assert client_run.step("binary-65536")["length"] == 65536


@pytest.mark.interop(role="fastws client", feature=("large", "deflate"))
def test_client_large_messages_and_compression(client_run: ClientRun) -> None:
    case, rec = client_run.case, client_run.rec
    text = client_run.step("text-1MiB-compressible")
    assert text["length"] == client_run.step("binary-1MiB-random")["length"] == MIB
    if case.big:
        assert client_run.step("binary-big")["length"] == case.big
    if case.agreed:
        assert text["fastws_sent"] < COMPRESSED_MAX and text["node_sent"] < COMPRESSED_MAX, text
        assert rec.inflated > 0 and rec.deflated > 0, rec
    else:
        assert text["fastws_sent"] > MIB and text["node_sent"] > MIB, text
        assert rec.inflated == rec.deflated == 0, rec


@pytest.mark.interop(role="fastws client", feature="text")
def test_client_burst(client_run: ClientRun) -> None:
    assert client_run.step("burst")["count"] == 500


@pytest.mark.interop(role="fastws client", feature="fragmented")
def test_client_fragmented(client_run: ClientRun) -> None:
    check(client_run.steps, "fragmented-text", "fragmented-binary", "fragmented-text-large",
          "server-fragments-text-3x10", "server-fragments-binary-3x10", "server-fragments-text-4x65536",
          "server-interleaved-ping-text", "server-interleaved-ping-binary")  # fmt: skip
    # The pings between the fragments were answered (with their payload) while the messages were reassembled.
    assert [e["data"] for e in client_run.node_events("pong", 0)].count("mid-message") == 2


@pytest.mark.interop(role="fastws client", feature="ping")
def test_client_ping_pong(client_run: ClientRun) -> None:
    check(client_run.steps, "ping-payload", "ping-empty", "server-ping", "ping-125")
    pings = [e["data"] for e in client_run.node_events("ping", 0)]
    assert pings == ["py-ping", "", "p" * 125]
    # Node's ping was answered by fastws with the same payload.
    assert client_run.node_events("pong", 0)[0]["data"] == "node-ping"


@pytest.mark.interop(role="fastws client", feature="close codes")
def test_client_close_codes(client_run: ClientRun) -> None:
    (first_code, first_reason), (second_code, second_reason), third, fourth = client_run.closes
    # fastws closes: ws gets code and reason and echoes both.
    node_close = client_run.node_events("close", 0)[0]
    assert (node_close["code"], node_close["reason"]) == (4003, "fastws bye \u2713")
    assert (first_code, first_reason) == (4003, "fastws bye \u2713")
    # Node closes: fastws's recv() raises with Node's code and reason.
    step = client_run.step("server-close")
    assert (step["exception"], step["code"], step["reason"]) == (
        "ConnectionClosedError",
        4004,
        "node bye \u2713",
    )
    assert (second_code, second_reason) == (4004, "node bye \u2713")
    assert client_run.node_events("close", 1)[0]["code"] == 4004
    # Invalid UTF-8 from Node: fastws fails the connection with 1007, Node is told so.
    assert client_run.step("invalid-utf8")["code"] == 1007
    assert third[0] == 1007
    assert client_run.node_events("close", 2)[0]["code"] == 1007
    # Node's close without a status code: 1005 on both sides (fastws echoes it empty).
    step = client_run.step("close-no-status")
    assert (step["exception"], step["code"], step["reason"]) == ("ConnectionClosedOK", 1005, "")
    assert fourth == (1005, "")
    assert client_run.node_events("close", 3)[0]["code"] == 1005
    assert not [e for e in client_run.events if e["event"] == "error"]


# =========================================================================== oversized messages: 1009

LIMIT = MIB  # max_size of the fastws side in these tests

# A message over fastws's max_size must fail the connection with 1009, and the peer
# must be told so.  Just over the limit, the peer has sent everything when fastws
# fails the connection; 16 MiB uncompressed, the peer is still sending, and fastws
# must linger (read and discard) so that closing does not turn into an RST that
# destroys its close frame in flight.
OVERSIZED = [
    pytest.param("off", LIMIT + 1, id="plain-just-over"),
    pytest.param("off", BIG, id="plain-16MiB"),
    pytest.param("default", LIMIT + 1, id="deflate-just-over"),
    pytest.param("default", BIG, id="deflate-16MiB"),  # compresses to ~16 KiB: all sent at once
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("pmd,size", OVERSIZED)
@pytest.mark.interop(role="fastws server", feature=("large", "close codes"))
def test_server_oversized_message(node: str, loop: str, pmd: str, size: int) -> None:
    async def scenario() -> tuple[dict[str, Any], list[ConnRecord]]:
        records: list[ConnRecord] = []
        server = await fastws.serve(recording_handler(records), "127.0.0.1", 0, max_size=LIMIT)
        async with server:
            url = f"ws://127.0.0.1:{server.port}/oversized"
            result = await run_node_script(node, "send_one.js", url, f"--size={size}", f"--pmd={pmd}")
            await wait_for(lambda: bool(records) and records[0].close_code is not None, 10, "the close")
        return result, records

    result, records = run_on(loop, scenario(), 45)
    assert result["echoLength"] is None, result
    assert records[0].close_code == 1009, records[0]  # fastws failed the connection ...
    assert result["close"]["code"] == 1009, result  # ... and Node was told why


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("pmd,size", OVERSIZED)
@pytest.mark.interop(role="fastws client", feature=("large", "close codes"))
def test_client_oversized_message(node: str, loop: str, pmd: str, size: int) -> None:
    async def scenario() -> tuple[dict[str, Any], Any, list[dict[str, Any]]]:
        async with NodeServer(node, pmd) as srv:
            compression = "deflate" if pmd != "off" else None
            ws = await fastws.connect(
                f"ws://127.0.0.1:{srv.port}/oversized", compression=compression, max_size=LIMIT
            )
            await ws.send(f"cmd:big:{size}")
            try:
                got: Any = await ws.recv()
            except ConnectionClosed as exc:
                got = exc
            await ws.wait_closed()
            node_close = await srv.wait_event("close", id=0)
        return node_close, got, srv.events

    node_close, got, events = run_on(loop, scenario(), 45)
    assert isinstance(got, ConnectionClosed) and got.code == 1009, got  # fastws failed the connection ...
    assert node_close["code"] == 1009, events  # ... and Node was told why
