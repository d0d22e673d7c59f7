"""Progress on stderr while the benchmark runs.

On a terminal: one line rewritten in place (bar, done/total, elapsed, ETA,
the run in progress).  Otherwise (a log, CI): a plain line every
:data:`PLAIN_EVERY` seconds and at the end.  ``quiet`` silences the progress;
notes (a skipped or failed server) are always printed, on their own line.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Optional, TextIO

PLAIN_EVERY = 10.0
BAR = 20


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, quiet: bool = False, stream: Optional[TextIO] = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.last_plain = self.started
        self.shown = False  # a bar line is on screen (terminal only)

    def note(self, text: str) -> None:
        """A line of its own (the bar, if any, is redrawn by the next update)."""
        self._clear()
        print(text, file=self.stream, flush=True)

    def update(
        self, done: int, total: int, what: str = "", weight_done: float = 0, weight_total: float = 0
    ) -> None:
        """``done`` of ``total`` runs finished; the weights (expected seconds) make a better ETA."""
        if self.quiet:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if weight_total and weight_done:
            eta = elapsed * (weight_total - weight_done) / weight_done
        else:
            eta = elapsed * (total - done) / done if done else 0.0
        head = f"{done}/{total} runs, {clock(elapsed)} elapsed, ETA {clock(eta) if done else '?'}"
        if self.tty:
            filled = BAR * done // total if total else BAR
            line = f"[{'#' * filled}{'.' * (BAR - filled)}] {head}  {what}"
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + line[:width].ljust(width))
            self.stream.flush()
            self.shown = True
        if done == total:
            self._clear()
            print(f"bench: {total} runs in {clock(elapsed)}", file=self.stream, flush=True)
        elif not self.tty and now - self.last_plain >= PLAIN_EVERY:
            self.last_plain = now
            print(f"bench: {head}", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.shown:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()
            self.shown = False
