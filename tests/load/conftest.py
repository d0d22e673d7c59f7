"""Load, churn, soak and hostile-client tests: short versions of ``python3 -m bench.load``.

Selected with ``-m load`` (``-m "not load"`` leaves them out). The servers run in their
own processes (bench/load.py); the load comes from the test process.
"""

from __future__ import annotations

import os
import sys

import pytest
from loops import run_on
from test_connection import build  # noqa: F401  (a fixture: both builds of the connection core)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # bench/ lives at the top of the repository


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "load: load, churn, soak and hostile-client runs (tests/load)")


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest):
    """run(coro, timeout=30): run ``coro`` on a new loop of each kind, with a hard timeout."""
    return lambda coro, timeout=30.0: run_on(request.param, coro, timeout)
