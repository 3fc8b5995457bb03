"""Gradients of every differentiable case against finite differences (float64).

This needs no PyTorch, so gradient rules stay checked where the oracle is absent.
"""

import pytest
from op_db import CASES

from harness import check_numeric

GRAD_CASES = [c for c in CASES if c.grad and c.numeric]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.name for c in GRAD_CASES])
def test_gradients_match_finite_differences(case):
    for args, kwargs in case.samples:
        check_numeric(
            lambda *a, **k: case.fn(__import__("janus"), *a, **k),
            args,
            kwargs,
            rtol=1e-4,
            atol=1e-6,
        )
