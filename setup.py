"""Builds the Cython codec; without a compiler (or with FASTWS_NO_EXTENSIONS=1) the pure-Python twin is used."""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _warn(message: str) -> None:
    print(f"\nWARNING: {message}\nfastws falls back to its pure-Python codec.\n", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Never fail the install because the C codec could not be compiled."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            _warn(f"building the C extension failed: {exc}")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"compiling {ext.name} failed: {exc}")


def extensions() -> list[Extension]:
    if os.environ.get("FASTWS_NO_EXTENSIONS", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return []
    codec = Extension(
        "fastws._codec_c",
        ["src/_codec_c.pyx"],
        include_dirs=["src"],
        depends=["src/mask.h", "src/utf8.h"],
        extra_compile_args=["-O3"],
    )
    core = Extension("fastws._core_c", ["src/_core_c.pyx"], extra_compile_args=["-O3"])
    try:
        return cythonize([codec, core], compiler_directives={"language_level": "3"})
    except Exception as exc:
        _warn(f"cythonizing the codec failed: {exc}")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
