"""Pacing of opening handshakes while a server is being flooded with failing connections.

A refused request or a connection failed at once costs the server a whole
connection's work (accept, parse, answer, close) and the attacker one ``connect``:
a few such clients on another core keep the server's core busy, and the open
connections' messages wait behind that work.  While connections are failing
(``ARM_FAILURES`` in a second), the handshakes of new connections may take at
most ``share`` of the loop's time, one per turn of the loop; the rest wait in turn
(FIFO; their reading goes on, so that a client that leaves is seen at once).
Without failures nothing is paced, so a legitimate reconnect storm is not slowed.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Callable, Deque, Optional

DEFAULT_SHARE = 0.1  # serve(handshake_share=...): what handshakes may take of the loop while paced
ARM_FAILURES = 50  # failed connections within ARM_WINDOW that start the pacing
ARM_WINDOW = 1.0  # seconds; the pacing lasts this long after the last such failure
BURST = 0.0005  # seconds of handshake work the bucket holds (a few handshakes)


class HandshakeGate:
    """A token bucket of handshake time: ``share`` seconds per second, ``BURST`` at most."""

    def __init__(self, loop: asyncio.AbstractEventLoop, share: float) -> None:
        self.loop = loop
        self.share = share
        self.tokens = BURST
        self._refilled = time.perf_counter()
        self._failures = 0
        self._window_start = 0.0
        self._armed_until = 0.0
        self.waiting: Deque[Callable[[], None]] = collections.deque()
        self._timer: Optional[asyncio.TimerHandle] = None

    @property
    def armed(self) -> bool:
        return self._armed_until > 0.0 and self.loop.time() < self._armed_until

    def failed(self) -> None:
        """A connection was refused, or failed by us (a protocol error, a limit)."""
        now = self.loop.time()
        if now - self._window_start > ARM_WINDOW:
            self._window_start, self._failures = now, 0
        self._failures += 1
        if self._failures >= ARM_FAILURES:
            self._armed_until = now + ARM_WINDOW

    def admits(self) -> bool:
        """True if a handshake may run now: nobody waits and the bucket is not empty."""
        if self.waiting:
            return False
        self._refill()
        return self.tokens > 0.0

    def run(self, work: Callable[[], None]) -> None:
        """Run ``work`` (a handshake step) and charge its time to the bucket."""
        started = time.perf_counter()
        try:
            work()
        finally:
            self.tokens -= time.perf_counter() - started

    def wait(self, work: Callable[[], None]) -> None:
        """Run ``work`` when its turn comes (after those already waiting)."""
        self.waiting.append(work)
        if self._timer is None:
            self._timer = self.loop.call_later(self._delay(), self._drain)

    def _refill(self) -> None:
        now = time.perf_counter()
        self.tokens = min(BURST, self.tokens + (now - self._refilled) * self.share)
        self._refilled = now

    def _delay(self) -> float:
        return -self.tokens / self.share if self.tokens < 0.0 else 0.0

    def _drain(self) -> None:
        self._timer = None
        waiting = self.waiting
        try:
            # One handshake per turn of the loop, so that paced work never lengthens a turn
            # by more than one handshake; the open connections' reads come in between.
            if not self.armed:
                self.tokens = BURST  # the flood is over: the rest go now
            self._refill()
            if waiting and self.tokens > 0.0:
                self.run(waiting.popleft())  # its connection checks that it is still there
        finally:  # even if that handshake raised: the others still get their turn
            if waiting and self._timer is None:
                self._timer = self.loop.call_later(self._delay(), self._drain)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.waiting.clear()
