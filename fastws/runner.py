"""Running an asyncio program on uvloop when it is installed."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


def new_event_loop(loop: str = "auto") -> asyncio.AbstractEventLoop:
    """A new event loop: ``"uvloop"``, ``"asyncio"``, or ``"auto"`` (uvloop if installed)."""
    if loop not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"unknown loop {loop!r}; expected 'auto', 'uvloop' or 'asyncio'")
    if loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], *, loop: str = "auto", debug: bool = False) -> T:
    """Like ``asyncio.run(main)``, on uvloop when it is installed (or as ``loop`` says)."""
    event_loop = new_event_loop(loop)
    try:
        asyncio.set_event_loop(event_loop)
        event_loop.set_debug(debug)
        return event_loop.run_until_complete(main)
    finally:
        try:
            _cancel_remaining(event_loop)
            event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            event_loop.close()


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
