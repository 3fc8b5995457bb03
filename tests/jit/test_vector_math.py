"""The CPU runtime's transcendental functions (AVX2 + FMA loops where the CPU has
them, the C library elsewhere) against numpy: within a few ulp over wide
ranges, with numpy's special values (inf, nan, +-0, denormals, overflow)."""

from __future__ import annotations

import numpy as np
import pytest

import janus
from janus import _C


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


REFERENCES = {
    "exp": np.exp,
    "expm1": np.expm1,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "silu": lambda x: (x.astype(np.float64) * sigmoid(x.astype(np.float64))).astype(x.dtype),
}


def inputs(dtype) -> np.ndarray:
    info = np.finfo(dtype)
    rng = np.random.default_rng(5)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, info.tiny, -info.tiny, info.smallest_subnormal]
    special += [info.max, -info.max, 1.0, -1.0, 88.7, -87.5, -103.0, 709.7, -745.0]
    lowest = np.log2(float(info.smallest_subnormal))
    magnitudes = np.exp2(rng.uniform(lowest, info.maxexp - 1, 4000))
    parts = [
        np.array(special),
        rng.uniform(-3, 3, 4000),
        rng.uniform(-120, 120, 4000),
        magnitudes * rng.choice([-1.0, 1.0], 4000),
    ]
    return np.concatenate(parts).astype(dtype)


def run_op(op: str, x: np.ndarray) -> np.ndarray:
    dt = {np.float32: "f32", np.float64: "f64"}[x.dtype.type]
    n = x.size
    text = f"graph(%x: {dt}[{n}]) {{\n  %y: {dt}[{n}] = {op}(%x)\n  return %y\n}}\n"
    return janus.jit.compile_graph(_C.ir.Graph.parse(text), passes=[])(x)[0]


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in representable numbers, for finite values of one dtype."""
    itype = np.int32 if got.dtype == np.float32 else np.int64
    a, b = got.view(itype).astype(np.int64), want.view(itype).astype(np.int64)
    lowest = np.iinfo(itype).min
    a = np.where(a < 0, lowest - a, a)
    b = np.where(b < 0, lowest - b, b)
    return np.abs(a - b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(REFERENCES))
def test_transcendental_matches_numpy_within_a_few_ulp(op, dtype):
    x = inputs(dtype)
    with np.errstate(all="ignore"):
        want = REFERENCES[op](x)
        got = run_op(op, x)
        if op == "silu":  # where sigmoid is a denormal, neither result has its precision
            keep = sigmoid(x) >= np.finfo(dtype).tiny
            x, got, want = x[keep], got[keep], want[keep]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{op}: NaN positions")
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    worst = ulps(got[finite], want[finite])
    k = np.argmax(worst)
    x, got, want = x[finite][k], got[finite][k], want[finite][k]
    assert worst.max() <= 4, f"{op}({x!r}) = {got!r}, numpy {want!r}"


def test_fused_chain_with_transcendentals_matches_numpy():
    def chain(t, m):
        y = m.tanh(t * 1.5 + 0.5) * t - 0.25
        return m.log(m.exp(y * 0.5) + 1.0) if m is np else (y * 0.5).exp().add(1.0).log()

    x = np.random.default_rng(1).uniform(-4, 4, 10_007).astype(np.float32)  # partial last chunk
    rec = janus.jit.recording(lambda t: chain(t, janus), janus.tensor(x))
    fused = janus.jit.compile_graph(rec.graph)
    assert fused.graph.node_count() == 1 and fused.fallback_ops() == []
    np.testing.assert_allclose(fused(x)[0], chain(x, np), rtol=2e-6, atol=1e-7)
