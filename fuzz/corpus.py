"""Seed material from the project's own cases: the shared frame vectors (tests/vectors)
and the bytes every conformance case sends (fastws.testing.conformance), recorded
by running its script against a peer that only writes down what it would send."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
VECTOR_FILES = sorted((ROOT / "tests" / "vectors").glob("*.json"))
MAX_SEED = 1 << 16  # larger cases (16 MiB messages) only repeat what smaller ones cover


def _spec_bytes(spec: Any) -> bytes:
    """A vector's byte field, decoded by the suite's own helper (the format is in tests/vectors/frames.json)."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    from codec_helpers import spec_bytes

    return spec_bytes(spec)  # type: ignore[no-any-return]


def vector_streams() -> Iterator[tuple[bool, bytes]]:
    """(client flag of the parser, bytes fed) of every frame vector, valid or not."""
    for path in VECTOR_FILES:
        data = json.loads(path.read_text())
        for vector in (*data.get("valid", ()), *data.get("errors", ())):
            if "wire" in vector and "client" in vector:
                yield (
                    bool(vector["client"]),
                    _spec_bytes(vector["wire"]) + _spec_bytes(vector.get("trailing", [])),
                )


class _Recorder:
    """Stands in for the conformance driver's Peer: keeps what a script sends, waits for nothing."""

    def __init__(self, client: bool, deflate: Optional[dict]) -> None:
        from fastws.testing.conformance import driver, wire

        self.client = client
        self.deflate = deflate
        self.sent: list[bytes] = []
        self._deflater = None
        if deflate is not None:
            mine = "client" if client else "server"
            self._deflater = wire.Deflater(
                driver._bits(deflate, mine), f"{mine}_no_context_takeover" in deflate
            )

    frame = property(lambda self: functools.partial(_driver().Peer.frame, self))
    compress = property(lambda self: functools.partial(_driver().Peer.compress, self))

    def mark(self, name: str) -> None:
        pass

    def now(self) -> float:
        return 0.0

    async def send(self, data: bytes, **_: object) -> None:
        self.sent.append(bytes(data))

    async def send_close(self, code: Optional[int] = 1000, reason: bytes = b"") -> None:
        from fastws.testing.conformance import wire

        await self.send(self.frame(wire.OP_CLOSE, wire.close_payload(code, reason)))


def _driver() -> Any:
    from fastws.testing.conformance import driver

    return driver


@functools.cache
def conformance_cases() -> tuple[tuple[bool, Optional[str], bytes], ...]:
    """(client flag of the receiving parser, extensions header or None, bytes sent) per case and role.

    The driver is the client against a server under test: the server's parser
    (client flag False) receives its masked frames, and the other way round.
    """
    from fastws.testing.conformance import wire
    from fastws.testing.conformance.cases import all_cases

    async def record(case: Any, peer: _Recorder) -> None:
        try:
            await asyncio.wait_for(case.script(peer), 5)
        except Exception:
            pass  # a script that wants a live peer: keep what it sent until then

    async def record_all() -> list[tuple[bool, Optional[str], bytes]]:
        out = []
        for role in ("server", "client"):
            driver_is_client = role == "server"
            for case in all_cases(role):
                peer = _Recorder(driver_is_client, case.deflate)
                await record(case, peer)
                data = b"".join(peer.sent)
                header = case.extensions or (
                    wire.format_deflate(case.deflate) if case.deflate is not None else None
                )
                if len(data) <= MAX_SEED:
                    out.append((not driver_is_client, header, data))
        return out

    sleep = asyncio.sleep

    async def no_wait(delay: float, result: Any = None) -> Any:  # scripts pause for a live peer's sake only
        return await sleep(0, result)

    asyncio.sleep = no_wait  # type: ignore[assignment]
    try:
        out = asyncio.run(record_all())
    finally:
        asyncio.sleep = sleep
    return tuple(out)


def frame_streams() -> Iterator[tuple[bool, bytes]]:
    """Every vector's and every conformance case's input to a frame parser: (client flag, bytes)."""
    yield from vector_streams()
    for client, _, data in conformance_cases():
        if data:
            yield client, data


def extension_headers() -> list[str]:
    return sorted({header for _, header, _ in conformance_cases() if header is not None})
