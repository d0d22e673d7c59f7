"""Fixtures for connection tests: every test runs on both event loops, and on the
build this process runs (``impl``; test_pure_core.py reruns the directory on the other).

Tests are plain functions that call ``run(coro)``: it runs the coroutine on a
fresh loop of the selected kind, with a hard timeout so nothing can hang.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import pytest

from fastws import codec, connection
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


# The build this process runs: the compiled core on the compiled codec, or (FASTWS_PURE=1)
# the pure core on the pure codec, as installed with or without a compiler. The compiled
# core calls the compiled codec directly, so the two are never mixed; test_pure_core.py
# runs this whole directory again with FASTWS_PURE=1, so both builds pass every test here.
ACTIVE_BUILD = connection.IMPLEMENTATION


@pytest.fixture(params=[ACTIVE_BUILD])
def impl(request: pytest.FixtureRequest) -> str:
    """The implementation the connection layer runs on ("c" or "python"; see ACTIVE_BUILD)."""
    assert codec.IMPLEMENTATION == connection.IMPLEMENTATION == request.param
    return request.param  # type: ignore[no-any-return]
