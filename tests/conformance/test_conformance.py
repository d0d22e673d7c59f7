"""The crafted-frame conformance suite against fastws: server and client, C and pure
codec, on uvloop; one test per (role, impl, case).  The bar is every case OK: a
NON-STRICT verdict fails too."""

from __future__ import annotations

import pytest

from fastws.testing.conformance.cases import Case, all_cases
from fastws.testing.conformance.verdict import OK

from .conftest import CONFIGS, RESULTS, Targets

PARAMS = [
    pytest.param(role, impl, case, id=f"{role}-{impl}-{case.id}")
    for role, impl in CONFIGS
    for case in all_cases(role)
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role,impl,case", PARAMS)
def test_case(targets: Targets, role: str, impl: str, case: Case) -> None:
    result = targets.get(role, impl).run(case)
    RESULTS.setdefault(f"{role}/{impl}", {})[case.id] = result
    assert result.verdict == OK, f"{result.verdict}: {result.reason} ({case.doc})"
