"""Misbehaving load clients for the harness tests (``python -m fastws.bench.worker module:function``)."""

from __future__ import annotations

import time

from fastws.bench.clients.fastws_clients import run_callback


async def chatty(command: dict) -> dict:
    """Prints to stdout (as a library might) and then measures normally."""
    print("a library talking on stdout")
    return await run_callback(command)


async def stuck(command: dict) -> dict:
    """Blocks its event loop: no answer within the runner's limit."""
    time.sleep(command["warmup"] + command["duration"] + 30)
    return {"ok": True}
