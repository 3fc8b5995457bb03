"""Elementwise fusion end to end: random elementwise programs (trees over
inputs of broadcast shapes, casts, comparisons with `where`, values reused and
returned, reductions in between) are recorded, compiled with the default
passes (fusion on) and run natively; the results must match the eager run."""

import numpy as np
import pytest

import janus

# Ops that keep values bounded, so that float32 and float64 runs compare
# within a tolerance (no overflow, no nan from domains).
_UNARY = [
    lambda x: x.tanh(),
    lambda x: x.sigmoid(),
    lambda x: x.sin(),
    lambda x: -x,
    lambda x: x.abs().sqrt(),
    lambda x: x.relu(),
    lambda x: (x * 0.5).exp(),
    lambda x: x.clamp(-0.5, 0.75),
    lambda x: janus.nn.functional.leaky_relu(x, 0.1),
    lambda x: x.to(janus.float64).cos().to(janus.float32),
]
_BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b * 0.5,
    lambda a, b: a * b,
    lambda a, b: a / (1.0 + b * b),
    lambda a, b: janus.maximum(a, b),
    lambda a, b: janus.where(a > b, a, b * 2.0),
    lambda a, b: janus.where((a < 0.25) & (b > -0.25), a - b, 0.5),
    lambda a, b: (a >= b).to(janus.float32) + a,
]
_SHAPES = [(4, 5, 6), (5, 6), (5, 1), (6,), (), (4, 1, 6)]


def _random_program(rng: np.random.Generator, steps: int):
    """fn(*inputs) computing a random DAG of elementwise ops, and its returned
    value indices (a graph output or two beside the last value)."""
    plan = []
    for step in range(steps):
        if rng.random() < 0.08:
            plan.append(("sum", int(rng.integers(0, 3 + step))))
        elif rng.random() < 0.4:
            plan.append(("unary", int(rng.integers(len(_UNARY))), int(rng.integers(0, 3 + step))))
        else:
            pick = rng.integers(0, 3 + step, size=2)
            plan.append(("binary", int(rng.integers(len(_BINARY))), *map(int, pick)))
    returned = sorted({steps + 2, *map(int, rng.integers(3, steps + 3, size=2))})

    def fn(*inputs):
        values = list(inputs)
        for step in plan:
            if step[0] == "sum":
                v = values[step[1]]
                values.append(v.sum(dim=-1, keepdim=True) * 0.1 if v.dim() else v * 0.1)
            elif step[0] == "unary":
                values.append(_UNARY[step[1]](values[step[2]]))
            else:
                values.append(_BINARY[step[1]](values[step[2]], values[step[3]]))
        return [values[k] for k in returned]

    return fn


@pytest.mark.parametrize("seed", range(40))
def test_random_elementwise_programs_fused_match_eager(seed):
    rng = np.random.default_rng(seed)
    shapes = [_SHAPES[0]] + [_SHAPES[k] for k in rng.integers(0, len(_SHAPES), size=2)]
    inputs = [janus.tensor(rng.uniform(-1, 1, size=s).astype(np.float32)) for s in shapes]
    fn = _random_program(rng, steps=int(rng.integers(4, 16)))
    rec = janus.jit.recording(fn, *inputs)
    compiled = janus.jit.compile_graph(rec.graph)
    assert compiled.fallback_ops() == []
    got = compiled(*rec.input_arrays)
    want = [t._data for t in rec.result]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_random_programs_do_get_fused():
    """Most random programs must end up with fewer nodes than they recorded:
    the differential test above is about fused execution, not a no-op pass."""
    fused = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        shapes = [_SHAPES[0]] + [_SHAPES[k] for k in rng.integers(0, len(_SHAPES), size=2)]
        inputs = [janus.tensor(rng.uniform(-1, 1, size=s).astype(np.float32)) for s in shapes]
        rec = janus.jit.recording(_random_program(rng, int(rng.integers(4, 16))), *inputs)
        compiled = janus.jit.compile_graph(rec.graph)
        fused += "= fused(" in str(compiled.graph)
    assert fused >= 30


def test_fused_program_keeps_outside_values_and_plans_less_memory():
    def fn(x, b):
        a = (x * b + 1.0).tanh()
        return [a.sum(), (a * 3.0 - x).relu() * b + a]

    x = janus.tensor(np.linspace(-2, 2, 64 * 33, dtype=np.float32).reshape(64, 33))
    b = janus.tensor(np.linspace(0, 1, 33, dtype=np.float32))
    rec = janus.jit.recording(fn, x, b)
    fused = janus.jit.compile_graph(rec.graph)
    plain = janus.jit.compile_graph(rec.graph, passes=["simplify", "cse", "dce"])
    assert str(fused.graph).count("= fused(") == 1
    # The sum of %a is the group's last instruction; %a needs no buffer.
    assert fused.program.steps == 1 and plain.program.steps == 9
    assert fused.program.arena_bytes < plain.program.arena_bytes
    for got, want in zip(fused(*rec.input_arrays), plain(*rec.input_arrays)):
        np.testing.assert_array_equal(got, want)


def test_fused_groups_the_engine_cannot_run_use_the_eager_kernels():
    """A fused body runs through the Python fallback when the native engine
    refuses it (here: a hand-written float16 group), op by op, correctly."""
    g = janus._C.ir.Graph()
    x = g.add_input("x", "f16", [3])
    b = g.add_input("b", "f16", [])
    body = (("mul", "f16", ("in0", "in1"), ()), ("add", "f16", ("t0", 1.0), (("alpha", 2),)))
    [y] = g.add_node("fused", [x, b], {"body": body, "results": (1,)}, [("f16", [3])])
    [k] = g.add_node("constant", [], {"value": (0.5, 1.5, 2.5)}, [("f16", [3])])
    g.set_outputs([y, k])
    compiled = janus.jit.compile_graph(g, passes=[])
    assert compiled.fallback_ops() == ["fused", "constant"]
    x_ = np.array([1, 2, 3], np.float16)
    y_, k_ = compiled(x_, np.array(0.5, np.float16))
    np.testing.assert_array_equal(y_, x_ * np.float16(0.5) + np.float16(2.0))
    np.testing.assert_array_equal(k_, np.array([0.5, 1.5, 2.5], np.float16))


def test_reductions_at_the_end_of_groups_match_unfused_and_eager():
    """sum/mean/amax/amin reading a group's value join the group (rows,
    columns, everything): the compiled results are the unfused program's bits
    and match eager."""

    def fn(x, y, b):
        d = x * b - y
        return [(d * d).mean(), d.relu().sum(0), (d.abs() + 1.0).amax(-1), (d - 2.0).amin()]

    rng = np.random.default_rng(0)
    x = janus.tensor(rng.uniform(-1, 1, (70, 45)).astype(np.float32))
    y = janus.tensor(rng.uniform(-1, 1, (70, 45)).astype(np.float32))
    b = janus.tensor(rng.uniform(-1, 1, 45).astype(np.float32))
    rec = janus.jit.recording(fn, x, y, b)
    fused = janus.jit.compile_graph(rec.graph)
    plain = janus.jit.compile_graph(rec.graph, passes=["simplify", "cse", "dce"])
    text = str(fused.graph)
    assert fused.fallback_ops() == []
    for op in ("sum", "mean", "amax", "amin"):
        assert f'["{op}", "f32", ["t' in text, op
    assert fused.program.steps < plain.program.steps
    got = fused(*rec.input_arrays)
    for g, p, w in zip(got, plain(*rec.input_arrays), rec.result):
        np.testing.assert_array_equal(g, p)
        np.testing.assert_allclose(g, w._data, rtol=1e-5, atol=1e-6)


def test_fused_reductions_the_engine_cannot_run_use_the_eager_kernels():
    """The Python fallback runs a body ending in a reduction over the whole
    iteration shape, even where a body value has an input's smaller shape."""
    g = janus._C.ir.Graph()
    x = g.add_input("x", "f16", [3])
    c = g.add_input("c", "f16", [2, 1])
    body = (
        ("neg", "f16", ("in0",), ()),
        ("add", "f16", ("in1", 1.0), ()),
        ("sum", "f16", ("t0",), (("dims", (0, 1)), ("keepdim", False))),
    )
    y, s = g.add_node(
        "fused", [x, c], {"body": body, "results": (1, 2)}, [("f16", [2, 3]), ("f16", [])]
    )
    g.set_outputs([y, s])
    compiled = janus.jit.compile_graph(g, passes=[])
    assert compiled.fallback_ops() == ["fused"]
    x_ = np.array([1, 2, 3], np.float16)
    c_ = np.array([[0.5], [1.5]], np.float16)
    y_, s_ = compiled(x_, c_)
    np.testing.assert_array_equal(y_, np.broadcast_to(c_ + np.float16(1), (2, 3)))
    assert s_ == np.float16(-12)
