"""wsproto's own tests (the public API ones) pass on fastws.compat.wsproto, both codecs."""

from __future__ import annotations

import re

import pytest

from wsproto_suite import EXCLUDED, WSPROTO_VERSION, run_suite

pytestmark = pytest.mark.timeout(900)


@pytest.mark.parametrize("pure", ["0", "1"], ids=["c", "pure"])
def test_wsproto_suite_passes(pure: str) -> None:
    result = run_suite({"FASTWS_PURE": pure})
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    # wsproto 1.3.2: 108 test cases of the public API, 25 private-internals cases deselected
    # (test_frame_protocol.py is ignored as a whole)
    assert passed == 108, summary
    assert "failed" not in summary and "error" not in summary, summary
    assert "skipped" not in summary, summary
    deselected = re.search(r"(\d+) deselected", summary)
    assert deselected is not None and int(deselected.group(1)) == 25, summary


def test_exclusions_are_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"wsproto {WSPROTO_VERSION}" in readme
    for node in EXCLUDED:
        assert node.rsplit("::", 1)[-1] in readme, node
