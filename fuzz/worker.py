"""One fuzz target under atheris: ``python3 -m fuzz.worker TARGET [libFuzzer arguments]``.

Started by fuzz.run (with the sanitizer runtime preloaded and the sanitizer copy
first on PYTHONPATH). Given file names instead of directories, it runs just those
inputs: the way to replay a crash (``python3 -m fuzz.worker parser crash-...``).
The Python modules are instrumented for coverage here; the C extensions were
instrumented when built (fuzz.build: every edge with clang, comparisons with gcc).
"""

from __future__ import annotations

import importlib
import os
import sys

import atheris


def main() -> None:
    name = sys.argv[1]
    with atheris.instrument_imports(include=["fastws", "fuzz"]):
        target = importlib.import_module(f"fuzz.targets.{name}")
    expected = os.environ.get("FASTWS_FUZZ_EXPECT_PACKAGE")
    if expected:  # the sanitizer copy must be the one imported, not the checkout's build
        import fastws._codec_c

        if not os.path.realpath(fastws._codec_c.__file__).startswith(os.path.realpath(expected)):
            raise SystemExit(f"expected fastws from {expected}, imported {fastws._codec_c.__file__}")
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target.test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
