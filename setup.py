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


def sanitizer_flags() -> list[str]:
    """Compiler flags for ``FASTWS_SANITIZE`` (e.g. ``address,undefined``); empty when unset.

    For fuzzing (README, "Fuzzing and sanitizers"): a sanitizer aborts at its
    first finding instead of reporting and going on, and -O1 keeps stack traces
    readable; the C code is instrumented for the fuzzer's coverage. The runtime is
    not linked in: Python must preload one (gcc's libasan, or atheris's
    asan_with_fuzzer.so, which also holds the fuzzer's coverage hooks). Build such a copy apart from the normal in-place build
    (``python3 -m fuzz.build`` does).
    """
    sanitizers = os.environ.get("FASTWS_SANITIZE", "").strip()
    if not sanitizers:
        return []
    print(f"fastws: sanitizer build: {sanitizers}", file=sys.stderr)
    # For the fuzzer: clang instruments every edge of the C code (fuzzer-no-link); gcc can
    # only trace its comparisons (trace-cmp: value profile, operand-guided mutations).
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    coverage = "-fsanitize=fuzzer-no-link" if "clang" in cc else "-fsanitize-coverage=trace-cmp"
    return [f"-fsanitize={sanitizers}", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1",
            coverage]  # fmt: skip


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
    optimize = sanitizer_flags() or ["-O3"]  # a later -O3 would override the sanitizers' -O1
    stubs = ["fuzz/sanitizer_cov_stubs.c"] if optimize[0].startswith("-fsanitize") else []
    codec = Extension(
        "fastws._codec_c",
        ["src/_codec_c.pyx", *stubs],
        include_dirs=["src"],
        depends=["src/mask.h", "src/utf8.h"],
        extra_compile_args=optimize,
    )
    # The sans-IO connection: fastws/_connection_py.py itself (src/_connection_c.py links
    # to it), compiled with the C types of fastws/_connection_c.pxd. One source, two builds.
    connection = Extension(
        "fastws._connection_c",
        ["src/_connection_c.py", *stubs],
        include_dirs=["src"],
        depends=["fastws/_connection_c.pxd", "fastws/_codec_c.pxd"],
        extra_compile_args=optimize,
    )
    # permessage-deflate kernels: need zlib's headers and libz; without them the
    # pure-Python twin (Python's zlib module) is used, the codec is unaffected.
    # With ISA-L (libisal-dev) found, its igzip compresses instead of zlib
    # (src/deflate_backend.h); zlib still decompresses.
    isal = have_isal()
    print(f"fastws: permessage-deflate compressor backend: {'isal' if isal else 'zlib'}", file=sys.stderr)
    deflate = Extension(
        "fastws._deflate_c",
        ["src/_deflate_c.pyx", *stubs],
        include_dirs=["src"],
        depends=["src/deflate_backend.h"],
        define_macros=[("FASTWS_HAVE_ISAL", "1")] if isal else [],
        libraries=["isal", "z"] if isal else ["z"],
        extra_compile_args=optimize,
    )
    # The I/O layer's sink that writes to a plain socket itself (fastws/protocol.py).
    sink = Extension("fastws._socket_sink", ["src/_socket_sink.pyx", *stubs], extra_compile_args=optimize)
    built = []
    for ext in (codec, connection, deflate, sink):
        try:
            built.extend(cythonize([ext], include_path=["."], compiler_directives=DIRECTIVES))
        except Exception as exc:
            _warn(f"cythonizing {ext.name} failed: {exc}")
    return built


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
