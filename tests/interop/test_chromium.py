"""Real headless Chromium (Debian's ``chromium``) talking to a fastws server.

The fastws server serves ``page.html`` at /page from its ``process_request``
hook; Chromium loads it and the page opens ``new WebSocket(url)`` with
onopen/onmessage/onerror/onclose, like a front-end.  It exchanges text, JSON,
binary (ArrayBuffer, typed array, Blob), large messages, a burst and server
pushes on /ws/echo, closes with 4000, watches the server close /ws/server-close
with 4001, and sends everything it saw as a JSON report on /ws/report.  The
tests assert on that report and on what the server saw: the messages, the
permessage-deflate offer Chromium made and the agreement (browsers offer it
by default), whether messages really went compressed, and the close codes.

One Chromium run per (compression, loop), in a module-scoped fixture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from interop_support import (
    HERE,
    MAX_SIZE,
    Chromium,
    ConnRecord,
    instrument,
    keep,
    negotiated_extensions,
    wait_for,
)
from loops import run_on

import fastws
from fastws import HTTPResponse
from fastws.deflate import PerMessageDeflate
from fastws.exceptions import ConnectionClosed

PAGE = (HERE / "page.html").read_bytes()
REPORT_TIMEOUT = 30.0
# compression: fastws's defaults ("deflate"), declined (None), or its own policy ("policy":
# no context takeover for its compressor, a 9-bit window asked of Chromium, level 9, no threshold).
CASES = [
    ("deflate", "asyncio"),
    ("deflate", "uvloop"),
    (None, "asyncio"),
    (None, "uvloop"),
    ("policy", "uvloop"),
]
POLICY = {"server_no_context_takeover": True, "client_max_window_bits": 9, "level": 9, "threshold": 0}
STEPS = [
    "welcome", "text", "text-empty", "json", "binary-arraybuffer", "binary-typed-array", "binary-blob",
    "text-large-json", "binary-1MiB-random", "binary-16MiB", "burst", "server-push", "page-close", "server-close",
]  # fmt: skip

pytestmark = [
    pytest.mark.timeout(60),  # the first test of a case also starts Chromium (fixture setup)
    pytest.mark.interop(peer="Chromium"),
]


@dataclass
class BrowserRun:
    compression: str | None
    report: dict[str, Any]  # what the page saw
    records: dict[str, ConnRecord]  # what the server saw, by path
    log: str  # Chromium's stderr (console messages), for failure messages

    def step(self, name: str) -> dict[str, Any]:
        steps = {s["name"]: s for s in self.report["steps"]}
        assert name in steps, f"the page did not run step {name!r}: {self.report}\n{self.log}"
        assert steps[name]["ok"], f"the page's step {name!r} failed: {steps[name]}\n{self.log}"
        return steps[name]  # type: ignore[no-any-return]


def _process_request(ws: fastws.WebSocket, request: Any) -> HTTPResponse | None:
    if request.path == "/page":
        return HTTPResponse(
            200, PAGE, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        )
    if request.path.startswith("/ws/"):
        return None  # the WebSocket handshake goes on
    return HTTPResponse(404, "not found\n")  # /favicon.ico and the like


def _handler(records: dict[str, ConnRecord], reports: list[dict[str, Any]]) -> Any:
    async def handler(ws: fastws.WebSocket) -> None:
        path = ws.request.path
        rec = ConnRecord(path, ws.request.headers.get("Sec-WebSocket-Extensions"), negotiated_extensions(ws))
        records[path] = rec
        instrument(ws, rec)
        try:
            if path == "/ws/echo":
                await ws.send(json.dumps({"type": "welcome", "extensions": rec.agreed or ""}))
                async for message in ws:
                    rec.received.append(keep(message))
                    if isinstance(message, str) and message.startswith('{"type":"push-request"'):
                        for seq in range(json.loads(message)["count"]):
                            await ws.send(json.dumps({"type": "push", "seq": seq}))
                        await ws.send(b"\x01\x02\x03\x04")
                    else:
                        await ws.send(message)
            elif path == "/ws/server-close":
                await ws.send("closing soon")
                await ws.close(4001, "server done \u2713")
            elif path == "/ws/report":
                message = await ws.recv()
                reports.append(json.loads(message))
                await ws.send("report received")
                async for message in ws:
                    rec.received.append(keep(message))
        except ConnectionClosed:
            pass
        finally:
            await ws.wait_closed()
            rec.close_code, rec.close_reason = ws.close_code, ws.close_reason

    return handler


async def _scenario(chromium: str, compression: str | None) -> BrowserRun:
    records: dict[str, ConnRecord] = {}
    reports: list[dict[str, Any]] = []
    server = await fastws.serve(
        _handler(records, reports),
        "127.0.0.1",
        0,
        process_request=_process_request,
        compression=PerMessageDeflate(**POLICY) if compression == "policy" else compression,
        max_size=MAX_SIZE,
    )
    async with server:
        with Chromium(chromium, f"http://127.0.0.1:{server.port}/page") as browser:

            def finished() -> bool:
                if browser.exited() is not None and not reports:
                    raise AssertionError(
                        f"chromium exited with status {browser.exited()} before the page reported"
                    )
                return (
                    bool(reports)
                    and len(records) == 3
                    and all(r.close_code is not None for r in records.values())
                )

            try:
                await wait_for(
                    finished, REPORT_TIMEOUT, "the page's report and all three connections to close"
                )
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc}\nserver saw: {records}\nchromium log:\n{browser.log_tail()}"
                ) from None
            log = browser.log_tail()
    return BrowserRun(compression, reports[0], records, log)


@pytest.fixture(scope="module", params=CASES, ids=[f"{c or 'no-compression'}-{loop}" for c, loop in CASES])
def browser_run(request: pytest.FixtureRequest, chromium: str) -> BrowserRun:
    compression, loop = request.param
    return run_on(loop, _scenario(chromium, compression), REPORT_TIMEOUT + 15)  # type: ignore[no-any-return]


@pytest.mark.interop(role="fastws server", feature=("text", "binary", "large"))
def test_page_steps(browser_run: BrowserRun) -> None:
    report = browser_run.report
    assert report["errors"] == [], f"{report['errors']}\n{browser_run.log}"
    assert [s["name"] for s in report["steps"]] == STEPS
    for name in STEPS:
        browser_run.step(name)
    assert "Chrome/" in report["userAgent"]
    for path in ("/ws/echo", "/ws/server-close", "/ws/report"):
        assert report["connections"][path]["events"][0] == "open", report["connections"][path]


@pytest.mark.interop(role="fastws server", feature="deflate")
def test_permessage_deflate_negotiation(browser_run: BrowserRun) -> None:
    echo = browser_run.records["/ws/echo"]
    page = browser_run.report["connections"]["/ws/echo"]
    # Chromium offers permessage-deflate by default.
    assert echo.offered == "permessage-deflate; client_max_window_bits"
    if browser_run.compression == "policy":
        assert echo.agreed == "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"
        assert page["extensions"] == echo.agreed  # ws.extensions, as the page saw it
        assert echo.session == "<DeflateSession server send=15b/reset receive=9b>"
        assert echo.inflated > 0 and echo.deflated > 0, echo
    elif browser_run.compression:
        assert echo.agreed == "permessage-deflate"
        assert page["extensions"] == "permessage-deflate"  # ws.extensions, as the page saw it
        assert echo.session == "<DeflateSession server send=12b receive=15b>"
        # Chromium compressed what it sent, fastws compressed its echoes: RSV1 both ways.
        assert echo.inflated > 0 and echo.deflated > 0, echo
    else:
        assert echo.agreed is None
        assert page["extensions"] == ""
        assert echo.inflated == echo.deflated == 0
    welcome = browser_run.step("welcome")["welcome"]
    assert welcome == {"type": "welcome", "extensions": echo.agreed or ""}


@pytest.mark.interop(role="fastws server", feature=("text", "binary", "large"))
def test_server_saw_the_messages(browser_run: BrowserRun) -> None:
    received = browser_run.records["/ws/echo"].received
    bytes256 = bytes(range(256))
    assert received[:6] == [
        "hello from chromium \u2603 \U0001f600",
        "",
        '{"type":"chat","id":42,"text":"h\u00e9llo \u2603","nested":{"list":[1,2.5,-3],"ok":true,"none":null}}',
        bytes256,
        bytes256[16:116],
        b"blob-\x00\x01\x02\xff",
    ]
    large_json, large_binary, huge_binary = received[6:9]
    assert large_json[:2] == ("text", browser_run.step("text-large-json")["length"])
    assert large_binary[:2] == ("binary", 1024 * 1024)
    assert huge_binary[:2] == ("binary", 16 * 1024 * 1024)
    assert received[9:109] == [f'{{"type":"burst","seq":{i}}}' for i in range(100)]
    assert received[109:] == ['{"type":"push-request","count":3}']


@pytest.mark.interop(role="fastws server", feature="close codes")
def test_close_codes(browser_run: BrowserRun) -> None:
    records = browser_run.records
    # The page closed /ws/echo with 4000: the server got code and reason, the page the echoed code.
    assert (records["/ws/echo"].close_code, records["/ws/echo"].close_reason) == (4000, "page done \u2713")
    page_close = browser_run.step("page-close")
    assert (page_close["code"], page_close["wasClean"]) == (4000, True)
    # The server closed /ws/server-close with 4001: the page got code and reason, cleanly.
    server_close = browser_run.step("server-close")
    assert (server_close["code"], server_close["reason"], server_close["wasClean"]) == (
        4001,
        "server done \u2713",
        True,
    )
    assert records["/ws/server-close"].close_code == 4001
    # The report connection: a plain close(1000) from the page.
    assert records["/ws/report"].close_code == 1000
