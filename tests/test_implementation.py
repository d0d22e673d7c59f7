"""Which codec implementation is active, so a broken build cannot pass silently."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastws.codec

PURE_REQUESTED = os.environ.get("FASTWS_PURE") == "1" or os.environ.get("FASTWS_NO_EXTENSIONS") == "1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_active_implementation():
    """The compiled codec is active unless a pure run was asked for."""
    assert fastws.codec.IMPLEMENTATION == ("python" if PURE_REQUESTED else "c")


@pytest.mark.skipif(PURE_REQUESTED, reason="pure-Python run requested")
def test_compiled_extension_imports():
    module = importlib.import_module("fastws._codec_c")
    assert module.IMPLEMENTATION == "c"


def test_pure_module_names_itself():
    assert importlib.import_module("fastws._codec_py").IMPLEMENTATION == "python"


def test_codec_reexports_the_active_module():
    active = importlib.import_module(
        "fastws._codec_c" if fastws.codec.IMPLEMENTATION == "c" else "fastws._codec_py"
    )
    for name in ("FrameParser", "FrameBuilder", "Utf8Validator", "mask", "mask_inplace", "validate_utf8",
                 "build_close_payload", "parse_close_payload"):  # fmt: skip
        assert getattr(fastws.codec, name) is getattr(active, name), name


def active_implementation_in_subprocess(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "import fastws.codec; print(fastws.codec.IMPLEMENTATION)"],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_fastws_pure_selects_python():
    assert active_implementation_in_subprocess(FASTWS_PURE="1") == "python"
