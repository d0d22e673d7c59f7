"""Running a test coroutine on a fresh event loop of a given kind, with a hard timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastws.runner import new_event_loop


def run_on(loop_name: str, coro: Awaitable[Any], timeout: float) -> Any:
    """Run ``coro`` on a new ``loop_name`` loop ("asyncio" or "uvloop"); cancel what it leaves."""
    loop = new_event_loop(loop_name)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
