"""Mistakes a type checker must flag (tests/test_typing.py checks each line is reported)."""

from __future__ import annotations

from fastws import WebSocket


async def handler(ws: WebSocket) -> None:
    await ws.sendd("typo")  # error: attribute
    ws.close(code="1000")  # error: argument type
    n: int = await ws.recv()  # error: assignment
