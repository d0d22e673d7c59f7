"""Conformance suite wiring: one target per (role, impl), started once and reused by
every case of that configuration; the reports are written at the end of a session
that ran the complete suite (all four configurations, nothing deselected)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from fastws.testing.conformance.cases import all_cases
from fastws.testing.conformance.report import write_outputs
from fastws.testing.conformance.targets import Session
from fastws.testing.conformance.verdict import Result

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = (("server", "c"), ("server", "pure"), ("client", "c"), ("client", "pure"))

#: "role/impl" -> case id -> result, filled by test_conformance.py
RESULTS: dict[str, dict[str, Result]] = {}
_WALL: dict[str, float] = {}


class Targets:
    """The target of the configuration being tested; switching closes the previous one
    (tests are generated configuration by configuration)."""

    def __init__(self) -> None:
        self.key: Optional[tuple[str, str]] = None
        self.session: Optional[Session] = None
        self._started = 0.0

    def get(self, role: str, impl: str) -> Session:
        if self.key != (role, impl):
            self.close()
            self._started = time.monotonic()
            self.key = (role, impl)
            self.session = Session(role, impl)
        assert self.session is not None
        return self.session

    def close(self) -> None:
        if self.session is not None:
            assert self.key is not None
            _WALL["/".join(self.key)] = time.monotonic() - self._started
            session, self.session, self.key = self.session, None, None
            session.close()


@pytest.fixture(scope="session")
def targets() -> Iterator[Targets]:
    manager = Targets()
    yield manager
    manager.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write docs/conformance.* and the README block, only after a complete run."""
    for role, impl in CONFIGS:
        got = RESULTS.get(f"{role}/{impl}", {})
        if set(got) != {c.id for c in all_cases(role)}:
            return  # partial run (selection, -x, an error): keep the published reports
    run = {f"{r}/{i}": [RESULTS[f"{r}/{i}"][c.id] for c in all_cases(r)] for r, i in CONFIGS}
    write_outputs(run, sum(_WALL.values()), ROOT / "docs", ROOT / "README.md")
