"""The short fuzz run (``pytest -m fuzz``): every fuzz target of fuzz/ under atheris for a
few seconds on the ASan+UBSan build, C against pure; and the inputs fuzzing found,
replayed on the normal build.

``FASTWS_FUZZ_SECONDS`` sets the seconds per target (default 10, two targets at a
time); ``python3 -m fuzz.run`` is the bounded run (README, "Fuzzing and sanitizers").
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the fuzz package sits beside fastws, not in it
    sys.path.insert(0, str(ROOT))

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.skipif(
        os.environ.get("FASTWS_NO_EXTENSIONS") == "1", reason="the differential needs the C build"
    ),
]

NAMES = ("parser", "utf8", "mask", "handshake", "extensions", "inflate", "connection")
REGRESSIONS = ROOT / "fuzz" / "regressions"
SECONDS = int(os.environ.get("FASTWS_FUZZ_SECONDS", "10"))


def test_every_target_is_run() -> None:
    from fuzz.targets import NAMES as targets

    assert tuple(targets) == NAMES


@pytest.fixture(scope="module")
def fuzz_results() -> dict:
    pytest.importorskip("atheris", reason="atheris (the test extra) is not installed")
    from fuzz import run

    return {r.target: r for r in run.run(list(NAMES), SECONDS, jobs=2)}


@pytest.mark.timeout(900)  # the first test waits for the sanitizer build and every run
@pytest.mark.parametrize("name", NAMES)
def test_short_fuzz(fuzz_results: dict, name: str) -> None:
    result = fuzz_results[name]
    log = Path(result.log).read_text(errors="replace")[-3000:] if result.log else ""
    assert result.ok, f"{name}: {result.finding}\n{log}"
    assert result.executions > 0 and result.cov > 0, f"{name} ran nothing or saw no coverage:\n{log}"
    print(f"{name}: {result.executions} runs, {result.exec_per_s}/s, cov {result.cov} ft {result.ft}")


@pytest.mark.parametrize("name", NAMES)
def test_seeds_and_regression_inputs(name: str) -> None:
    """Each target's seeds (the first 300) and the inputs fuzzing once failed on
    (fuzz/regressions/TARGET/), replayed through the target (C against pure) on the
    normal build: a disagreement or crash found once stays found."""
    import itertools

    target = importlib.import_module(f"fuzz.targets.{name}")
    inputs = list(itertools.islice(target.seeds(), 300))
    inputs += [path.read_bytes() for path in sorted((REGRESSIONS / name).glob("*")) if path.is_file()]
    assert inputs, f"{name} has no seeds"
    for data in inputs:
        target.test_one_input(data)


def test_a_disagreement_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness is not vacuous: a pure twin that gets one case wrong fails the target."""
    from fuzz.common import Disagreement
    from fuzz.impls import CODECS
    from fuzz.targets import mask

    real = CODECS["python"].mask

    def off_by_one(data, key):  # type: ignore[no-untyped-def]
        out = real(data, key)
        return out[:-1] + bytes([out[-1] ^ 1]) if len(out) == 17 else out

    monkeypatch.setattr(CODECS["python"], "mask", off_by_one)
    mask.test_one_input(b"\x00\x00abcd" + bytes(16))  # 16 bytes: agreed
    with pytest.raises(Disagreement, match="mask at offset 3 len 17"):
        mask.test_one_input(b"\x03\x00abcd" + bytes(17))
