"""Fixtures for connection tests: every test runs on both event loops, and on
both codec implementations where the ``impl`` fixture is used.

Tests are plain functions that call ``run(coro)``: it runs the coroutine on a
fresh loop of the selected kind, with a hard timeout so nothing can hang.
"""

from __future__ import annotations

import sys
from typing import Any, Awaitable, Callable

import pytest

from loops import run_on

RUN_TIMEOUT = 30.0


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def run(loop_name: str) -> Callable[[Awaitable[Any]], Any]:
    """run(coro, timeout=30): run ``coro`` to completion on a new loop of the selected kind."""

    def runner(coro: Awaitable[Any], timeout: float = RUN_TIMEOUT) -> Any:
        return run_on(loop_name, coro, timeout)

    return runner


@pytest.fixture(params=["c", "python"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the connection layer on one codec implementation (C or pure Python).

    The connection core is the one this process loaded (compiled unless FASTWS_PURE=1;
    test_pure_core.py runs the suite again on the pure core); its codec is swapped here.
    """
    from fastws import codec, connection

    monkeypatch.setattr(sys.modules[connection.Connection.__module__], "codec", codec.implementation(request.param))
    return request.param
