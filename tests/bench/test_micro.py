"""The runtime's micro-benchmarks (issue 3's targets) cannot rot: each runs
end to end at a tiny size and prints its table. They check their own results
against numpy before timing, so a wrong kernel fails here too."""

import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")


@pytest.mark.parametrize(
    "script, args, expect",
    [
        ("dispatch.py", ["--nodes", "50", "--repeat", "1"], "ns/node"),
        ("gemm.py", ["--rounds", "1"], "numpy/janus"),
        ("elementwise_chain.py", ["--size", "300000", "--repeat", "1"], "janus fused, 1 thread"),
        ("memory_plan.py", ["--steps", "3", "--batch", "4", "--hidden", "16"], "planned /"),
    ],
)
def test_micro_benchmark_runs(script, args, expect):
    result = subprocess.run(
        [sys.executable, os.path.join(BENCH, script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout
