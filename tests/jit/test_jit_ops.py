"""The JIT against eager on every op case of the table (tests/ops/op_db.py):
each case as a training step (outputs, a weighted backward, the input
gradients) run through janus.jit three times gives eager's results every
call. (test_cpu_executor.py compiles the recorded graph of each case; this
goes through the translator, the compiled frame and its backward.)"""

import os
import sys

import pytest

from harness import assert_jit_matches_eager

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from op_db import CASES  # noqa: E402


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_jitted_step_of_the_case_matches_eager(case):
    assert_jit_matches_eager(case)
