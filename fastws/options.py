"""Per-connection settings, checked when they are given (``serve()``, ``connect()``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

# The largest control frame's payload: a frame limit below it could not even carry a close frame.
MIN_SIZE_LIMIT = 125


def check_int(name: str, value: Any, minimum: int, none_ok: bool = False) -> None:
    """TypeError unless an int (or None if allowed), ValueError below ``minimum``."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        allowed = "an int or None" if none_ok else "an int"
        raise TypeError(f"{name} must be {allowed}, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def check_seconds(name: str, value: Any, none_ok: bool) -> None:
    """TypeError unless a number (or None if allowed), ValueError unless positive and finite."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        allowed = "a number of seconds or None" if none_ok else "a number of seconds"
        raise TypeError(f"{name} must be {allowed}, not {type(value).__name__}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value}")


def check_strings(name: str, values: Any, none_entries: bool = False) -> None:
    """TypeError unless ``values`` is a collection of str (or None entries, if allowed)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not a single string (write [{values!r}])")
    for entry in values:
        if not isinstance(entry, str) and not (none_entries and entry is None):
            raise TypeError(f"{name}: {entry!r} is not a string")


@dataclass
class Options:
    """Per-connection settings shared by server and client.

    Memory held for one connection is bounded by about ``max_queue * max_size``
    (inflated messages waiting for ``recv()``) plus one read's worth of frames
    not yet inflated (at most ``max_frame_size`` + 256 KiB) plus ``write_limit``
    of unsent data that the connection itself produces (pongs are coalesced).
    """

    max_size: Optional[int] = (
        1 << 20
    )  # largest message, after reassembly and inflation (1009 above); None: no limit
    max_frame_size: Optional[int] = None  # largest frame; None means max_size
    max_queue: int = 16  # received messages buffered before reading pauses
    write_limit: int = 64 * 1024  # transport buffer above which send() waits
    ping_interval: Optional[float] = 20.0  # keepalive pings; None disables them
    ping_timeout: Optional[float] = 20.0  # no pong this long after a keepalive ping: 1011
    close_timeout: float = 5.0  # how long to wait for the peer in the closing handshake
    open_timeout: float = 10.0  # the whole opening handshake

    def __post_init__(self) -> None:
        check_int("max_size", self.max_size, MIN_SIZE_LIMIT, none_ok=True)
        check_int("max_frame_size", self.max_frame_size, MIN_SIZE_LIMIT, none_ok=True)
        if (
            self.max_frame_size is not None
            and self.max_size is not None
            and self.max_frame_size > self.max_size
        ):
            raise ValueError(
                f"max_frame_size ({self.max_frame_size}) must not exceed max_size ({self.max_size})"
            )
        check_int("max_queue", self.max_queue, 1)
        check_int("write_limit", self.write_limit, 0)
        check_seconds("ping_interval", self.ping_interval, none_ok=True)
        check_seconds("ping_timeout", self.ping_timeout, none_ok=True)
        check_seconds("close_timeout", self.close_timeout, none_ok=False)
        check_seconds("open_timeout", self.open_timeout, none_ok=False)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Options:
        """Options from keyword arguments; TypeError names any unknown one."""
        unknown = set(kwargs) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return cls(**kwargs)
