"""wsproto's own test suite, fetched from the package index at test time (never stored here).

``suite_dir()`` downloads wsproto's source distribution at ``WSPROTO_VERSION``
(``pip download --no-deps --no-binary :all:``) into a cache directory, extracts
its ``tests/`` and writes a ``conftest.py`` that installs fastws's module under
the ``wsproto`` name first.  ``EXCLUDED`` lists the tests that reach into
wsproto's private internals, with the reason (the README repeats it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

WSPROTO_VERSION = "1.3.2"

_PRIVATE_HOOKS = (
    "constructs wsproto's private FrameProtocol and sets PerMessageDeflate's private "
    "_enabled/_compressor/_decompressor to drive its per-frame hooks; fastws runs "
    "permessage-deflate inside the connection instead"
)
EXCLUDED: dict[str, str] = {
    "tests/test_frame_protocol.py": (
        "tests wsproto's private parser classes (Buffer, MessageDecoder, FrameDecoder, "
        "FrameProtocol, XorMaskerSimple); fastws's codec replaces them"
    ),
    **{
        f"tests/test_permessage_deflate.py::TestPerMessageDeflate::{name}": _PRIVATE_HOOKS
        for name in (
            "test_inbound_uncompressed_control_frame",
            "test_inbound_compressed_control_frame",
            "test_inbound_compressed_continuation_frame",
            "test_inbound_uncompressed_data_frame",
            "test_client_inbound_compressed_single_data_frame",
            "test_client_inbound_compressed_multiple_data_frames",
            "test_client_decompress_after_uncompressible_frame",
            "test_inbound_bad_zlib_payload",
            "test_inbound_bad_zlib_decoder_end_state",
            "test_decompressor_reset",
            "test_outbound_uncompressible_opcode",
            "test_outbound_compress_single_frame",
            "test_outbound_compress_multiple_frames",
            "test_compressor_reset",
        )
    },
}

_CONFTEST = '''\
import fastws.compat

fastws.compat.install()

import wsproto  # noqa: E402

assert wsproto.__name__ == "fastws.compat.wsproto", wsproto
'''


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "fastws" / f"wsproto-{WSPROTO_VERSION}"


def suite_dir() -> Path:
    """The extracted source tree (with our conftest), downloading the sdist on first use."""
    cache = cache_dir()
    tree = cache / f"wsproto-{WSPROTO_VERSION}"
    if not (tree / "tests").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        sdist = cache / f"wsproto-{WSPROTO_VERSION}.tar.gz"
        if not sdist.exists():
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 "--disable-pip-version-check", "-q", "-d", str(cache), f"wsproto=={WSPROTO_VERSION}"],
                check=True,
                timeout=180,
            )
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/tests/" in m.name and m.isfile()]
            archive.extractall(cache, members=members)  # noqa: S202 (our own pinned download)
    (tree / "conftest.py").write_text(_CONFTEST)
    (tree / "pytest.ini").write_text("[pytest]\n")
    return tree


def run_suite(extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the suite in a subprocess (fresh interpreter: the real wsproto never loads there)."""
    tree = suite_dir()
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "tests"]
    for node in EXCLUDED:
        args += ["--deselect", node] if "::" in node else ["--ignore", node]
    env = dict(os.environ, **(extra_env or {}))
    env.pop("PYTHONPATH", None)
    return subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
