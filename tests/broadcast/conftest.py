"""Fixtures for the broadcast and topics tests: both event loops, the build this process runs
(``test_broadcast_pure_build.py`` reruns the directory with ``FASTWS_PURE=1``), and the real peers of
tests/interop (Node's ``ws``, headless Chromium), required as there: missing ones fail."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))

from interop_support import ensure_node_modules, require_tool  # noqa: E402
from loops import run_on  # noqa: E402

RUN_TIMEOUT = 30.0


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_name(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def run(loop_name: str) -> Callable[..., Any]:
    """run(coro, timeout=30): run ``coro`` on a new loop of the selected kind."""

    def runner(coro: Awaitable[Any], timeout: float = RUN_TIMEOUT) -> Any:
        return run_on(loop_name, coro, timeout)

    return runner


@pytest.fixture(scope="session")
def node() -> str:
    path = require_tool("node", "Node.js (for the `ws` peer)")
    ensure_node_modules(require_tool("npm", "npm (to install the `ws` peer's packages)"))
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    return require_tool("chromium", "Chromium (Debian package `chromium`)")
