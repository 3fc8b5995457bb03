"""Every case of the op table against PyTorch: outputs and input gradients."""

import numpy as np
import pytest
from op_db import CASES

import janus
from harness import (
    assert_close,
    backward_with,
    flat_outputs,
    grad_weights,
    leaves,
    make_inputs,
    to_numpy,
    torch_or_skip,
)


def _as_dtype(args, dtype):
    """The sample with its float32 arrays turned into `dtype`."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype == np.float32:
            a = a.astype(dtype)
        elif isinstance(a, (list, tuple)):
            a = type(a)(_as_dtype(a, dtype))
        out.append(a)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_pytorch(case, dtype):
    torch = torch_or_skip()
    for args, kwargs in case.samples:
        args = _as_dtype(args, dtype)
        j_in = make_inputs(args, janus, case.grad)
        t_in = make_inputs(args, torch, case.grad)
        j_out = flat_outputs(case.fn(janus, *j_in, **kwargs))
        t_out = flat_outputs(case.fn(torch, *t_in, **kwargs))
        assert len(j_out) == len(t_out)
        for k, (jo, to) in enumerate(zip(j_out, t_out)):
            assert str(jo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1], (
                f"output {k}: dtype {jo.dtype} vs {to.dtype}"
            )
            assert_close(jo, to, case.rtol, case.atol, f"{case.name} output {k}")
        if not case.grad:
            continue
        weights = grad_weights(t_out)
        if not backward_with(t_out, weights, torch):
            continue
        backward_with(j_out, weights, janus)
        for k, (jl, tl) in enumerate(zip(leaves(j_in), leaves(t_in))):
            if tl.grad is None:
                assert jl.grad is None or np.all(to_numpy(jl.grad) == 0), f"input {k}"
                continue
            assert jl.grad is not None, f"{case.name}: no gradient for input {k}"
            assert_close(
                jl.grad, tl.grad, case.rtol * 10, case.atol * 10, f"{case.name} grad of input {k}"
            )
