"""uvicorn's own WebSocket protocol tests (fetched from the package index at the pinned
version, never stored here) with fastws's class added to the implementations they are
parametrized over: every test that passes for uvicorn's ``wsproto`` or
``websockets-sansio`` implementation must pass for fastws, with the same HTTP protocol.

The two tests in NOT_APPLICABLE assert that the protocol object *is* one of uvicorn's
two classes; they are run, must fail on exactly that assertion and nothing else, and
the behaviour they check (the keepalive's attributes) is tested in test_asgi_protocol.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from uvicorn_suite import UVICORN_VERSION, run_suite

pytestmark = pytest.mark.timeout(900)

REFERENCES = ("wsproto", "websockets-sansio")
CLASS_CHECK = "isinstance(protocol, (_WSProtocol, WebSocketsSansIOProtocol))"
NOT_APPLICABLE = {
    "test_server_keepalive_ping_pong": CLASS_CHECK,
    "test_server_keepalive_disabled": CLASS_CHECK,
}
_ID = re.compile(r"^(\w+)\[(.*)\]$")


def split(test_id: str) -> tuple[str, str, str]:
    """``test_x[wsproto-httptools-1]`` -> ``("test_x", "wsproto", "httptools-1")``; impl "" if none."""
    match = _ID.match(test_id)
    if match is None:
        return test_id, "", ""
    name, params = match.groups()
    for impl in (*REFERENCES, "fastws"):
        if params == impl or params.startswith(impl + "-"):
            return name, impl, params[len(impl) + 1 :]
    return name, "", params


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    return run_suite(tmp_path_factory.mktemp("uvicorn-suite") / "junit.xml")


def test_the_suite_ran_fastws(outcomes: dict[str, tuple[str, str]]) -> None:
    fastws = [tid for tid in outcomes if split(tid)[1] == "fastws"]
    passed = [tid for tid in fastws if outcomes[tid][0] == "passed"]
    # 70-odd tests x 2 HTTP protocols (httptools, h11) at uvicorn 0.54.0.
    assert len(passed) >= 130, (
        f"uvicorn {UVICORN_VERSION}: only {len(passed)} of {len(fastws)} fastws tests passed"
    )


def test_fastws_passes_what_uvicorns_implementations_pass(outcomes: dict[str, tuple[str, str]]) -> None:
    missing, failing = [], []
    for tid, (outcome, _) in outcomes.items():
        name, impl, rest = split(tid)
        if impl not in REFERENCES or outcome != "passed" or name in NOT_APPLICABLE:
            continue
        ours = f"{name}[fastws-{rest}]" if rest else f"{name}[fastws]"
        if ours not in outcomes:
            missing.append(ours)
        elif outcomes[ours][0] != "passed":
            failing.append(f"{ours} ({impl} passes): {outcomes[ours][1][:2000]}")
    assert not missing, f"not run for fastws: {sorted(set(missing))}"
    assert not failing, "\n\n".join(sorted(set(failing)))


def test_not_applicable_tests_fail_only_on_the_class_check(outcomes: dict[str, tuple[str, str]]) -> None:
    seen = 0
    for tid, (outcome, message) in outcomes.items():
        name, impl, _ = split(tid)
        if impl == "fastws" and name in NOT_APPLICABLE and outcome != "skipped":  # zttp: not installed
            seen += 1
            assert outcome == "failed" and NOT_APPLICABLE[name] in message, (
                f"{tid}: {outcome}\n{message[:3000]}"
            )
    assert seen >= 2 * len(NOT_APPLICABLE)


def test_the_pure_build_passes_them_too(tmp_path: Path) -> None:
    """The same tests on fastws's pure-Python connection and codec (one HTTP protocol)."""
    # (-k matches the cache directory's name too: "fastws" alone would select every test.)
    pure = run_suite(tmp_path / "junit.xml", "-k", "fastws-httptools", env={"FASTWS_PURE": "1"})
    assert {split(tid)[1] for tid in pure} == {"fastws"}
    ran = {tid: result for tid, result in pure.items() if split(tid)[0] not in NOT_APPLICABLE}
    assert len(ran) >= 65
    assert len(ran) >= 65
    failing = {tid: message[:2000] for tid, (outcome, message) in ran.items() if outcome != "passed"}
    assert not failing, failing


def test_the_suite_is_fetched_not_stored() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert not list(repo.glob("**/test_websocket.py")), "uvicorn's test module must not be in the repository"
