"""Shared fixtures for the codec test suite.

Every codec test takes the ``codec`` fixture and therefore runs against both
implementations: the compiled ``fastws._codec_c`` and the pure-Python
``fastws._codec_py``.

The compiled one must be there: a missing or broken extension makes its tests
fail, so a broken build cannot pass as a "pure" one by accident.  Only a
deliberately extension-less build (``FASTWS_NO_EXTENSIONS=1``) skips them.
"""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import HealthCheck, settings

# The interop matrix (docs/interop.md, README's generated block) and the `interop` mark,
# for tests/interop and tests/connection alike.
pytest_plugins = ["interop.matrix"]

NO_EXTENSIONS = os.environ.get("FASTWS_NO_EXTENSIONS") == "1"

# connect() takes its proxy from the environment, as websockets does: a CI machine that
# reaches its package index through a proxy must not send the loopback tests through it.
# (tests/client sets these variables itself where it tests them.)
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY", "SOCKS_PROXY", "NO_PROXY"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.lower(), None)

MODULES = {"c": "fastws._codec_c", "python": "fastws._codec_py"}

# Hypothesis: moderate by default so the whole suite stays well under a minute
# on two cores; HYPOTHESIS_PROFILE=thorough for a longer local run.
settings.register_profile(
    "fastws",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("fastws"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastws"))


def load_codec(name: str):
    """Import one implementation; fail (or skip in a pure-only build) when it is missing."""
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        if name == "c" and NO_EXTENSIONS:
            pytest.skip("FASTWS_NO_EXTENSIONS=1: the compiled codec is deliberately not built")
        pytest.fail(f"cannot import {MODULES[name]}: {exc!r}", pytrace=False)


@pytest.fixture(scope="session", params=["c", "python"])
def codec(request):
    """The codec module under test, once per implementation."""
    return load_codec(request.param)


@pytest.fixture(scope="session")
def both_codecs():
    """(compiled, pure) for tests that compare the two implementations."""
    return load_codec("c"), load_codec("python")
