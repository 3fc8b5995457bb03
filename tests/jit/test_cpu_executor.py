"""The CPU executor against the eager layer: every op case of the table,
forward and backward, recorded and run by `janus.jit.compile_graph` on the
same inputs, must give the eager results; ops without a native kernel run
through the fallback and say so."""

import os
import sys

import numpy as np
import pytest

import janus
from harness import make_inputs, record_case

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from op_db import CASES  # noqa: E402

# Ops the executor runs through the eager kernel by design: their result sizes
# depend on the data. Every other op of the cases runs natively; the test keeps
# this list honest both ways.
EXPECTED_FALLBACK = {
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
    rec, want = record_case(case, make_inputs(args, janus, case.grad), kwargs)
    compiled = janus.jit.compile_graph(rec.graph)
    got = compiled(*rec.input_arrays)
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


# Keys for x of shape (3, 4, 5) that exercise numpy's placement rules (the
# broadcast index dims stay in place when adjacent, else go in front; ints
# next to tensors count as advanced), None, ellipsis, negative indices, masks.
_KEYS = {
    "tensor": lambda i, m: (i,),
    "slice_tensor": lambda i, m: (slice(None), i),
    "broadcast_pair": lambda i, m: (i[:2].reshape(2, 1), i[:3] % 4),
    "separated": lambda i, m: (i, slice(1, None), i % 5),
    "int_then_tensor": lambda i, m: (1, slice(None, None, 2), i % 5),
    "none_ellipsis": lambda i, m: (None, Ellipsis, i % 5),
    "mask": lambda i, m: (m,),
    "slice_mask": lambda i, m: (slice(None), m[0]),
}


def _key_inputs():
    idx = janus.tensor(np.array([2, -1, 0, 1]))
    mask = janus.tensor(np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1]], bool))
    return idx, mask


@pytest.mark.parametrize("name", list(_KEYS))
def test_advanced_keys_run_natively(name):
    idx, mask = _key_inputs()
    x = janus.tensor(np.arange(60, dtype=np.float32).reshape(3, 4, 5), requires_grad=True)

    def program(x, idx, mask):
        key = _KEYS[name](idx, mask)
        y = x[key]
        y.backward(janus.ones_like(y))  # index_put with accumulate=True
        out = x.detach() * 1.0
        # index_put with tensor values; with a number where janus's setitem
        # places the dims by numpy's rule, unlike getitem and PyTorch (an int
        # separated from a tensor: (4, 2) here, where x[key] is (2, 4)).
        out[key] = 0.5 if name == "int_then_tensor" else -y.detach()
        return y, out, x.grad

    rec = janus.jit.recording(program, x, idx, mask)
    compiled = janus.jit.compile_graph(rec.graph)
    assert not compiled.fallback_ops(), compiled.fallback_ops()
    got = compiled(*rec.input_arrays)
    want = [t._data for t in rec.result]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_bad_indices_and_mask_counts_raise():
    x = janus.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    idx, mask = janus.tensor(np.array([0, 2])), janus.tensor(np.array([True, False, True]))
    compiled = janus.jit.compile_graph(
        janus.jit.record(lambda x, i, m: (x[i], x[m]), x, idx, mask)[0]
    )
    np.testing.assert_array_equal(
        compiled(x.numpy(), idx.numpy(), mask.numpy())[1], x.numpy()[[0, 2]]
    )
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        compiled(x.numpy(), np.array([0, 3]), mask.numpy())
    with pytest.raises(janus.jit.ShapeSpeculationError, match="data-dependent shape"):
        compiled(x.numpy(), idx.numpy(), np.array([True, True, True]))


def test_max_pool_windows_with_nan_answer_as_eager():
    # PyTorch's rule, in both: the first maximum, or the last NaN of a window.
    x = np.array([[[[1, 3, np.nan, 2], [3, 0, 9, np.nan]]]], np.float32)

    def pool(t):
        return janus.nn.functional.max_pool2d(t, 2, 2, return_indices=True)

    graph, (values, indices) = janus.jit.record(pool, janus.tensor(x))
    program = janus.jit.compile_graph(graph)
    assert program.fallback_ops() == []
    got_values, got_indices = program(x)
    np.testing.assert_array_equal(got_values, values.numpy())
    np.testing.assert_array_equal(got_indices, indices.numpy())
    assert got_indices.tolist() == [[[[1, 7]]]]


def test_rnn_steps_batch_their_products_and_agree_with_eager():
    """A Python time loop records one small product per step and weight; the
    default passes batch the independent ones (input projections, their
    gradients, the weight gradients summed over the steps) into a few large
    ones, and the compiled step still computes what eager did."""
    janus.manual_seed(0)
    cell, head = janus.nn.LSTMCell(8, 16), janus.nn.Linear(16, 10)
    embed = janus.nn.Embedding(10, 8)
    tokens = janus.tensor(np.random.default_rng(0).integers(0, 10, (7, 4)))
    params = [*cell.parameters(), *head.parameters(), *embed.parameters()]

    def step(tokens):
        h = c = janus.zeros(4, 16)
        logits = []
        for t in range(6):
            h, c = cell(embed(tokens[t]), (h, c))
            logits.append(head(h))
        loss = janus.nn.functional.cross_entropy(
            janus.stack(logits).reshape(-1, 10), tokens[1:].reshape(-1)
        )
        loss.backward()
        return (loss, *(p.grad for p in params))

    rec = janus.jit.recording(step, tokens)
    want = [t._data for t in rec.result]

    def products(compiled):
        text = str(compiled.graph)
        return text.count("= matmul(") + text.count("= linear(")

    unbatched = janus.jit.compile_graph(rec.graph, passes=["infer_types", "cse", "dce"])
    batched = janus.jit.compile_graph(rec.graph)
    # 53 -> 18 products: what remains is the recurrence (each needs the last)
    assert products(batched) < products(unbatched) / 2
    # Fused gate groups write their results over the GEMM outputs they read.
    assert batched.program.in_place_count > 0
    for compiled in (unbatched, batched):
        got = compiled(*rec.input_arrays)  # fn's results, then the .grad effects
        assert len(got) >= len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposed_operands_are_read_in_place_and_agree_with_eager(dtype):
    """Products of transposes (user code's `x.t() @ y`, and the weight
    gradients autograd records) read the stored matrices through the GEMM's
    transpose flags: no permute is left, and the results are eager's."""
    rng = np.random.default_rng(1)
    a, b = (
        janus.tensor(rng.standard_normal(s), dtype=getattr(janus, dtype)) for s in [(5, 4), (5, 3)]
    )
    v = janus.tensor(rng.standard_normal((2, 5, 4)), dtype=getattr(janus, dtype))
    w = janus.tensor(rng.standard_normal((3, 4)), dtype=getattr(janus, dtype), requires_grad=True)

    def products(a, b, v):
        y = (a @ w.t()).tanh()  # d/dw: grad.t() @ a
        y.sum().backward()
        return a.t() @ b, b.t() @ a, v.transpose(1, 2) @ v, v.transpose(1, 2) @ a, v @ a.t(), w.grad

    rec = janus.jit.recording(products, a, b, v)
    want = [t._data for t in rec.result]
    compiled = janus.jit.compile_graph(rec.graph)
    text = str(compiled.graph)
    assert "permute(" not in text and text.count("transpose_a=true") >= 4
    got = compiled(*rec.input_arrays)
    for g, x in zip(got, want):
        assert g.dtype == x.dtype
        np.testing.assert_allclose(g, x, rtol=1e-5, atol=1e-6)
