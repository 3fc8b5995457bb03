"""Every benchmark workload (bench/workloads) trained on "cuda" by janus's
JIT, against janus eager on "cuda": the same losses step by step, and each
step function compiled into CUDA programs that replay. On a machine with no
GPU this runs on the emulated device (tests/fake_cuda.py): it checks the
JIT's device paths for every model family the suite measures."""

import os
import sys

import numpy as np
import pytest

import janus
from fake_cuda import USABLE

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bench import modes, workloads  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not USABLE, reason="needs a CUDA GPU (cupy), or g++ to emulate one"),
]

STEPS = 6


def _losses(name, compiled):
    workload = workloads.get(name)
    janus.manual_seed(0)
    compile = modes.compiler("janus-jit" if compiled else "janus-eager")
    step = workload.build(janus, workload.SIZES["small"], "cuda", compile, 0)
    return np.array([step(i).item() for i in range(STEPS)])


@pytest.mark.parametrize("name", workloads.NAMES)
def test_a_workload_trains_on_cuda_compiled_as_eagerly(name, made_programs, hook_on):
    janus.jit.disable()
    eager = _losses(name, False)
    janus.jit.enable()
    compiled = _losses(name, True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-6)
    assert made_programs
    if name != "treelstm":  # (a new tree each step: its programs replay over longer runs)
        assert sum(p.replays for p in made_programs) >= 2
