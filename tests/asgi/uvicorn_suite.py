"""uvicorn's own WebSocket protocol tests, fetched from the package index at a pinned version.

:func:`suite_dir` downloads uvicorn's source distribution (``pip download --no-deps
--no-binary :all:``) once into ``~/.cache/fastws/`` (``FASTWS_CACHE`` overrides it) and
extracts the test module with the helpers it imports; :func:`run_suite` runs it in a
subprocess with ``uvicorn_plugin.py`` as its conftest (fastws added to the implementations)
and returns each test's outcome from the JUnit report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import uvicorn

UVICORN_VERSION = "0.54.0"  # keep in step with pyproject.toml's test extra
HERE = Path(__file__).resolve().parent
# What test_websocket.py needs from uvicorn's tests/ package (it imports tests.response and tests.utils).
MEMBERS = [
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/utils.py",
    "tests/response.py",
    "tests/protocols/__init__.py",
    "tests/protocols/test_websocket.py",
]


def cache_root() -> Path:
    return Path(os.environ.get("FASTWS_CACHE") or Path.home() / ".cache" / "fastws")


def suite_dir() -> Path:
    """A directory holding uvicorn's ``tests/`` (the members above), downloaded on first use."""
    if uvicorn.__version__ != UVICORN_VERSION:
        raise RuntimeError(
            f"uvicorn {uvicorn.__version__} is installed, the suite is pinned to {UVICORN_VERSION}: "
            "run `pip install -e '.[test]'`"
        )
    target = cache_root() / f"uvicorn-{UVICORN_VERSION}-tests"
    if all((target / member).is_file() for member in MEMBERS):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", tmp, f"uvicorn=={UVICORN_VERSION}"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        sdists = list(Path(tmp).glob("uvicorn-*.tar.gz"))
        if proc.returncode != 0 or len(sdists) != 1:
            raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        staging = Path(tmp) / "suite"
        prefix = f"uvicorn-{UVICORN_VERSION}/"
        with tarfile.open(sdists[0]) as sdist:
            for member in MEMBERS:
                extracted = sdist.extractfile(prefix + member)
                if extracted is None:
                    raise RuntimeError(f"{sdists[0].name} has no {member}")
                path = staging / member
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(extracted.read())
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)  # atomic: a concurrent run sees all of it or none
    return target


def run_suite(
    junit: Path, *selection: str, timeout: float = 600, env: dict[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """Run uvicorn's WebSocket tests with fastws added: ``{test id: (outcome, message)}``.

    Outcomes are ``passed``, ``failed``, ``error`` or ``skipped``; the message is the
    failure's (empty for a pass).
    """
    root = suite_dir()
    shutil.copyfile(HERE / "uvicorn_plugin.py", root / "tests" / "protocols" / "conftest.py")
    cmd = [
        sys.executable, "-m", "pytest", "tests/protocols/test_websocket.py", *selection,
        "--rootdir", str(root), "-c", os.devnull, "-p", "no:cacheprovider", "-q", "-rfE",
        # uvicorn's own settings (its pyproject.toml): warnings are errors, a hung test dumps its stack.
        "-W", "error", "-o", "faulthandler_timeout=60", "-o", "xfail_strict=true",
        "-p", "anyio", "--timeout", "60", f"--junitxml={junit}",
    ]  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    proc = subprocess.run(
        cmd,
        cwd=root,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if not junit.exists():
        raise RuntimeError(
            f"uvicorn's suite did not run ({proc.returncode}):\n{proc.stdout[-5000:]}\n{proc.stderr}"
        )
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                message = (child.get("message") or "") + "\n" + (child.text or "")
        outcomes[case.attrib["name"]] = (outcome, message)
    return outcomes
