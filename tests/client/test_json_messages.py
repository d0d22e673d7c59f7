"""JSON messages: orjson and the standard library write the same bytes; send_json / recv_json on
both sides; Listener.parse_json; invalid JSON is the application's error, not the connection's.

test_client_pure_build.py runs this file again on the pure build with the standard library's JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastws
from fastws import json_messages
from fastws.json_messages import InvalidJSON, _stdlib_dumps, _stdlib_loads
from loops import run_on

pytestmark = pytest.mark.timeout(60)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=20,
)


@given(json_values)
def test_stdlib_writes_the_bytes_orjson_writes(value: Any) -> None:
    assert _stdlib_dumps(value) == orjson.dumps(value)


@given(json_values.filter(lambda v: v == v))  # (NaN is written as null, so it does not come back)
def test_both_read_back_the_same_value(value: Any) -> None:
    data = orjson.dumps(value)
    assert _stdlib_loads(data) == orjson.loads(data) == json.loads(data)


def test_encoding_choices() -> None:
    assert _stdlib_dumps({"é": [1.0, 1e16, 1e-7, 0.00001, float("nan"), float("inf")]}) == (
        '{"é":[1.0,1e16,1e-7,0.00001,null,null]}'.encode()
    )
    for loads in (_stdlib_loads, orjson.loads):
        with pytest.raises(ValueError):
            loads("NaN")
    with pytest.raises(InvalidJSON, match=r"invalid JSON in a message \('\{\"a\": '\)"):
        json_messages.loads('{"a": ')
    long = "x" * 100
    assert "...)" in str(pytest.raises(InvalidJSON, json_messages.loads, long).value)


class JSONEcho(fastws.Listener):
    """Answers each JSON value with {"got": value}; counts the invalid ones."""

    parse_json = True

    def on_json(self, ws: fastws.WebSocket, value: Any) -> None:
        ws.send_json({"got": value})

    def on_json_error(self, ws: fastws.WebSocket, exc: InvalidJSON) -> None:
        ws.send_json({"invalid": exc.message.decode() if isinstance(exc.message, bytes) else exc.message})

    def on_message(self, ws: fastws.WebSocket, message: Any) -> None:
        ws.send(message)  # binary: echoed


def test_listener_parse_json_and_the_awaitable_helpers() -> None:
    assert JSONEcho.decode_text is False and fastws.Listener.decode_text is True

    async def main() -> None:
        server = await fastws.serve(JSONEcho, "127.0.0.1", 0)
        try:
            async with fastws.connect(f"ws://127.0.0.1:{server.port}/", proxy=None) as ws:
                await ws.send_json({"n": 1, "s": "ü", "l": [True, None]})
                assert await ws.recv_json() == {"got": {"n": 1, "s": "ü", "l": [True, None]}}
                await ws.send("{nope")
                assert await ws.recv_json() == {"invalid": "{nope"}
                await ws.send(b"\x01binary")
                with pytest.raises(InvalidJSON):
                    await ws.recv_json()  # the binary echo is not JSON: the application's error
                await ws.send_json([1, 2])  # ...and the connection is still open
                assert await ws.recv_json() == {"got": [1, 2]}
        finally:
            server.close()

    run_on("asyncio", main(), 30)


def test_server_side_helpers_and_default_json_error() -> None:
    errors: list[BaseException] = []

    class Default(fastws.Listener):
        parse_json = True

        def on_error(self, ws: fastws.WebSocket, exc: BaseException) -> None:
            errors.append(exc)

    async def handler(ws: fastws.WebSocket) -> None:
        while True:
            try:
                value = await ws.recv_json()
            except InvalidJSON as exc:
                await ws.send_json({"error": str(exc)})
                continue
            except fastws.ConnectionClosed:
                return
            if isinstance(value, dict) and "raw" in value:
                await ws.send(value["raw"])  # as given: maybe not JSON
            else:
                await ws.send_json(value)

    async def main() -> None:
        server = await fastws.serve(handler, "127.0.0.1", 0)
        try:
            async with fastws.connect(f"ws://127.0.0.1:{server.port}/", proxy=None) as ws:
                await ws.send("[")
                assert "invalid JSON in a message ('[')" in (await ws.recv_json())["error"]
                await ws.send_json({"a": 1.5})
                assert await ws.recv() == '{"a":1.5}'
            listener = await fastws.connect(f"ws://127.0.0.1:{server.port}/", proxy=None, listener=Default)
            listener.send_json({"raw": "not json"})
            listener.send_json({"raw": "[3]"})
            for _ in range(100):
                if errors:
                    break
                await asyncio.sleep(0.02)
            await listener.close()
            assert len(errors) == 1 and isinstance(errors[0], InvalidJSON)
            assert listener.close_code == 1000  # not failed by the invalid message
        finally:
            server.close()

    run_on("asyncio", main(), 30)
