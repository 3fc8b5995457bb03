"""The CUDA runtime against eager CUDA: every op case of the table
(tests/ops/op_db.py), forward and backward, recorded on GPU tensors and
compiled by `compile_graph(..., device="cuda")` (generated kernels and
cuBLAS, a captured CUDA graph), must give the eager (cupy) results. Ops the
runtime has no kernel for are listed, and the list is kept honest both ways.
And each case as a training step through janus.jit on GPU tensors (the
translator, the frame's device, its CUDA program and backward) gives
eager's results on every call.

On a GPU machine these run on the GPU; elsewhere on the emulated device of
tests/fake_cuda.py (conftest.py), which checks janus's side only.
"""

import os
import sys

import numpy as np
import pytest

import janus
from fake_cuda import USABLE
from harness import assert_jit_matches_eager, make_inputs, on_device, record_case
from janus.jit.cuda_codegen import NoKernel

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from op_db import CASES  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not USABLE, reason="needs a CUDA GPU (cupy), or g++ to emulate one"),
]

# Case name -> why the CUDA runtime has no kernel for it (a frame with such
# an op runs eagerly on the GPU).
EXPECTED_NO_KERNEL = {
    "to_dtype": "float16 (the CPU runtime runs it through the eager kernel too)",
}


def _run_sample(case, args, kwargs):
    """None when the sample compiled and its replay matched eager, else
    NoKernel's reason."""
    inputs = on_device(make_inputs(args, janus, case.grad), "cuda")
    rec, want = record_case(case, inputs, kwargs)
    try:
        compiled = janus.jit.compile_graph(rec.graph, device="cuda")
    except NoKernel as why:
        return str(why)
    compiled(*rec.input_arrays)  # captured, then replayed
    got = compiled(*rec.input_arrays)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = g.get(), w.get()
        assert g.shape == w.shape and g.dtype == w.dtype
        if w.dtype.kind == "f":
            rtol, atol = max(case.rtol, 1e-5) * 10, case.atol * 10
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=case.name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=case.name)
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compiled_case_on_the_gpu_matches_eager(case):
    missing = {why for args, kwargs in case.samples if (why := _run_sample(case, args, kwargs))}
    if case.name in EXPECTED_NO_KERNEL:
        assert missing, f"{case.name} compiles now: take it off EXPECTED_NO_KERNEL"
    else:
        assert not missing, f"no CUDA kernel: {missing}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_jitted_step_of_the_case_on_the_gpu_matches_eager(case):
    assert_jit_matches_eager(case, "cuda", no_kernel=EXPECTED_NO_KERNEL)
