"""Build a sanitizer copy of fastws apart from the checkout's own build.

``python3 -m fuzz.build`` copies the sources (``fastws/``, ``src/``, ``setup.py``)
into ``build/fuzz-asan/`` and builds the extensions there in place with
``FASTWS_SANITIZE=address,undefined``. The checkout's ``fastws/*.so`` are never
touched (other work uses them); the fuzz runner puts the copy first on
``sys.path``. Rebuilding is incremental: only changed sources are recompiled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "build" / "fuzz-asan"
SANITIZERS = "address,undefined"
EXTENSIONS = ("_codec_c", "_connection_c", "_deflate_c")


def _sync(src: Path, dst: Path) -> None:
    """Copy ``src`` over ``dst`` keeping mtimes (so unchanged sources are not rebuilt); no built objects."""
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.suffix in (".so", ".pyc") or "__pycache__" in rel.parts or "node_modules" in rel.parts:
            continue
        target = dst / rel
        if path.is_symlink():
            if target.is_symlink() or target.exists():
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(path))
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists() or target.stat().st_mtime_ns != path.stat().st_mtime_ns:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def built(directory: Path = DEFAULT_DIR) -> bool:
    """True when every extension of the sanitizer copy exists."""
    return all(any((directory / "fastws").glob(f"{name}.*.so")) for name in EXTENSIONS)


def compiler() -> str:
    """clang when installed (it gives the fuzzer edge coverage of the C code), else gcc;
    ``FASTWS_FUZZ_CC`` chooses."""
    chosen = os.environ.get("FASTWS_FUZZ_CC") or ("clang" if shutil.which("clang") else "gcc")
    if not shutil.which(chosen):
        raise RuntimeError(f"FASTWS_FUZZ_CC={chosen}: not found")
    return chosen


def build(directory: Path = DEFAULT_DIR, sanitizers: str = SANITIZERS, quiet: bool = True) -> Path:
    """Sync the sources into ``directory`` and build them with ``sanitizers``; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cc = compiler()
    stamp = directory / "sanitizers.txt"
    if not stamp.exists() or stamp.read_text() != f"{sanitizers} {cc}":  # other flags: build everything again
        for old in (directory / "fastws").glob("*.so"):
            old.unlink()
        shutil.rmtree(directory / "build", ignore_errors=True)  # build_ext would copy its old objects back
        stamp.write_text(f"{sanitizers} {cc}")
    _sync(ROOT / "fastws", directory / "fastws")
    _sync(ROOT / "src", directory / "src")
    for name in ("setup.py", "pyproject.toml", "README.md", "fuzz/sanitizer_cov_stubs.c"):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, directory / name)
    ldshared = (sysconfig.get_config_var("LDSHARED") or "cc -shared").split(" ", 1)
    env = {**os.environ, "FASTWS_SANITIZE": sanitizers, "CC": cc, "LDSHARED": " ".join([cc, *ldshared[1:]])}
    env.pop("FASTWS_NO_EXTENSIONS", None)
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace", "-j", "2"],
        cwd=directory,
        env=env,
        capture_output=quiet,
        text=True,
        timeout=900,
    )
    if result.returncode != 0 or not built(directory):
        output = (result.stdout or "") + (result.stderr or "")
        raise RuntimeError(f"the sanitizer build failed in {directory}:\n{output[-4000:]}")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the copy is built")
    parser.add_argument("--sanitize", default=SANITIZERS, help="-fsanitize= value (default %(default)s)")
    args = parser.parse_args()
    print(build(args.dir, args.sanitize, quiet=False))


if __name__ == "__main__":
    main()
