"""The CPU executor against the eager layer: every op case of the table,
forward and backward, recorded and run by `janus.jit.compile_graph` on the
same inputs, must give the eager results; ops without a native kernel run
through the fallback and say so."""

import os
import sys

import numpy as np
import pytest

import janus
from harness import backward_with, flat_outputs, grad_weights, make_inputs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from op_db import CASES  # noqa: E402

# Ops the executor runs through the eager kernel by design (data-dependent
# shapes) or not yet natively; the test keeps this list honest both ways.
EXPECTED_FALLBACK = {
    "einsum",
    "index",
    "index_put",
    "nonzero",
    "unique",
}
# Per case, fallbacks for a dtype: float16 has no native kernels.
CASE_FALLBACK = {"to_dtype": {"to_dtype"}}


def _compare(got, want, case):
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=max(case.rtol, 1e-5) * 10, atol=case.atol * 10)
    else:
        np.testing.assert_array_equal(got, want)


def _run_sample(case, args, kwargs):
    inputs = make_inputs(args, janus, case.grad)

    def program(*xs):
        outs = flat_outputs(case.fn(janus, *xs, **kwargs))
        grads = []
        if case.grad:
            backward_with(outs, grad_weights(outs), janus)
            grads = [x.grad for x in xs if isinstance(x, janus.Tensor) and x.grad is not None]
        return outs + grads

    tensors = [x for x in inputs if isinstance(x, janus.Tensor)]
    if len(tensors) != len(inputs):  # non-tensor arguments are constants of the trace
        constants = list(inputs)

        def program_of_tensors(*xs, _p=program):
            it = iter(xs)
            return _p(*[next(it) if isinstance(c, janus.Tensor) else c for c in constants])

        rec = janus.jit.recording(program_of_tensors, *tensors)
    else:
        rec = janus.jit.recording(program, *inputs)
    compiled = janus.jit.compile_graph(rec.graph)
    got = compiled(*rec.input_arrays)
    want = [t._data for t in rec.result] + [t._data for t in rec.effects]
    want += [t._grad._data for t, has_grad in rec.grads if has_grad]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _compare(g, w, case)
    return set(compiled.fallback_ops())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compiled_case_matches_eager(case):
    fallback = set()
    for args, kwargs in case.samples:
        fallback |= _run_sample(case, args, kwargs)
    allowed = EXPECTED_FALLBACK | CASE_FALLBACK.get(case.name, set())
    assert fallback <= allowed, f"ran through the fallback: {fallback - allowed}"


def test_the_expected_fallbacks_are_all_needed():
    """Each op listed as running through the fallback is really reached by a
    case that does (so the list shrinks as native kernels land)."""
    seen = set()
    for case in CASES:
        for args, kwargs in case.samples:
            seen |= _run_sample(case, args, kwargs)
    assert EXPECTED_FALLBACK <= seen, EXPECTED_FALLBACK - seen
