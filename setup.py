"""Builds the Cython codec and deflate kernels; without a compiler (or with FASTWS_NO_EXTENSIONS=1) the pure-Python twins are used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _warn(message: str) -> None:
    print(f"\nWARNING: {message}\nfastws falls back to its pure-Python implementation of it.\n", file=sys.stderr)


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


_ISAL_PROBE = """
#include <isa-l/igzip_lib.h>
int main(void) { struct isal_zstream s; isal_deflate_init(&s); s.hist_bits = 8; return isal_deflate(&s) == COMP_OK ? 0 : 1; }
"""


def have_isal() -> bool:
    """True when ISA-L's igzip (headers and libisal) compiles and links here (Debian: libisal-dev).

    The compressor of fastws._deflate_c then uses it instead of zlib's deflate;
    FASTWS_NO_ISAL=1 forces zlib.
    """
    if os.environ.get("FASTWS_NO_ISAL", "") not in ("", "0"):
        return False
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if not shutil.which(cc[0]):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(_ISAL_PROBE)
        try:
            result = subprocess.run(
                [*cc, src, "-o", os.path.join(tmp, "probe"), "-lisal"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError):
            return False
    return result.returncode == 0


# Types come from the .pxd files only: annotations in the shared .py source are for type checkers.
DIRECTIVES = {"language_level": "3", "annotation_typing": False}


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
    # The sans-IO connection: fastws/_connection_py.py itself (src/_connection_c.py links
    # to it), compiled with the C types of fastws/_connection_c.pxd. One source, two builds.
    connection = Extension(
        "fastws._connection_c",
        ["src/_connection_c.py"],
        include_dirs=["src"],
        depends=["fastws/_connection_c.pxd", "fastws/_codec_c.pxd"],
        extra_compile_args=["-O3"],
    )
    # permessage-deflate kernels: need zlib's headers and libz; without them the
    # pure-Python twin (Python's zlib module) is used, the codec is unaffected.
    # With ISA-L (libisal-dev) found, its igzip compresses instead of zlib
    # (src/deflate_backend.h); zlib still decompresses.
    isal = have_isal()
    print(f"fastws: permessage-deflate compressor backend: {'isal' if isal else 'zlib'}", file=sys.stderr)
    deflate = Extension(
        "fastws._deflate_c",
        ["src/_deflate_c.pyx"],
        include_dirs=["src"],
        depends=["src/deflate_backend.h"],
        define_macros=[("FASTWS_HAVE_ISAL", "1")] if isal else [],
        libraries=["isal", "z"] if isal else ["z"],
        extra_compile_args=["-O3"],
    )
    built = []
    for ext in (codec, connection, deflate):
        try:
            built.extend(cythonize([ext], include_path=["."], compiler_directives=DIRECTIVES))
        except Exception as exc:
            _warn(f"cythonizing {ext.name} failed: {exc}")
    return built


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
