"""The control ops through the Python builder (janus._C.ir.Graph) and the CPU
executor (janus.jit.compile_graph): assert aborts with AssertionFailed and
leaves caller-owned buffers untouched, cond picks a region, loop computes
against numpy, call recurses (a tree sum), and callback runs a Python callable
with the GIL, checking what it returns and propagating what it raises."""

import numpy as np
import pytest

from janus import _C
from janus.jit import AssertionFailed, compile_graph


def _graph(*inputs):
    g = _C.ir.Graph()
    return g, [g.add_input(name, dtype, shape) for name, dtype, shape in inputs]


def _true_flag(g):
    [flag] = g.add_node("constant", [], {"value": (True,)}, [("bool", [])])
    return flag


# ----- assert -----


def _overwrite_then_assert():
    """overwrite(x, 5) then assert(ok): the overwrite runs first."""
    g, (x, ok) = _graph(("x", "f32", [3]), ("ok", "bool", []))
    [y] = g.add_node("overwrite", [x, 5.0], {}, [("f32", [3])])
    [z] = g.add_node("mul", [y, 2.0], {}, [("f32", [3])])
    assert g.add_node("assert", [ok], {"id": 3, "message": "ok holds"}, []) == []
    g.set_outputs([y, z])
    return g


def test_assert_round_trips_and_survives_the_passes():
    g = _overwrite_then_assert()
    assert 'assert(%ok) {id=3, message="ok holds"}' in str(g)
    assert str(_C.ir.Graph.parse(str(g))) == str(g)
    compiled = compile_graph(g)
    assert "assert(%ok)" in str(compiled.graph)  # dce kept it


def test_failing_assert_raises_with_its_id_and_message():
    compiled = compile_graph(_overwrite_then_assert())
    y, z = compiled(np.ones(3, np.float32), np.array(True))
    np.testing.assert_array_equal(z, [10, 10, 10])
    with pytest.raises(AssertionFailed, match="assertion 3 failed: ok holds") as failed:
        compiled(np.ones(3, np.float32), np.array(False))
    assert failed.value.assert_id == 3 and failed.value.message == "ok holds"


def test_abort_leaves_an_overwritten_input_buffer_unchanged():
    """The caller commits the overwrite in place (the input's own buffer is
    the output): after a failed assert the input still holds its old value."""
    compiled = compile_graph(_overwrite_then_assert(), passes=[])
    x = np.array([1, 2, 3], np.float32)
    doubled = np.zeros(3, np.float32)
    with pytest.raises(AssertionFailed):
        compiled.program.run([x, np.array(False)], [x, doubled])
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_array_equal(doubled, [0, 0, 0])
    compiled.program.run([x, np.array(True)], [x, doubled])
    np.testing.assert_array_equal(x, [5, 5, 5])


# ----- cond -----


def _abs_by_cond():
    """cond(sum(x) > 0, x): then x * 2, else -x."""
    g, (x,) = _graph(("x", "f32", [4]))
    [s] = g.add_node("sum", [x], {"dims": (0,), "keepdim": False}, [("f32", [])])
    [p] = g.add_node("gt", [s, 0.0], {}, [("bool", [])])
    then, (a,) = _graph(("a", "f32", [4]))
    then.set_outputs(then.add_node("mul", [a, 2.0], {}, [("f32", [4])]))
    other, (b,) = _graph(("b", "f32", [4]))
    other.set_outputs(other.add_node("neg", [b], {}, [("f32", [4])]))
    [r] = g.add_node("cond", [p, x], {}, [("f32", [4])], regions=[then, other])
    g.set_outputs([r])
    return g


def test_cond_runs_the_chosen_region():
    g = _abs_by_cond()
    assert g.verify() == []
    assert str(_C.ir.Graph.parse(str(g))) == str(g)
    compiled = compile_graph(g)
    for x in (np.array([1, -2, 3, 4], np.float32), np.array([-1, -2, 3, -4], np.float32)):
        want = x * 2 if x.sum() > 0 else -x
        np.testing.assert_array_equal(compiled(x)[0], want)


def test_cond_with_mismatched_regions_is_rejected():
    g, (p, x) = _graph(("p", "bool", []), ("x", "f32", [4]))
    then, (a,) = _graph(("a", "f32", [4]))
    then.set_outputs([a])
    other, (b,) = _graph(("b", "f64", [4]))
    other.set_outputs([b])
    g.set_outputs(g.add_node("cond", [p, x], {}, [("f32", [4])], regions=[then, other]))
    [problem] = g.verify()
    assert "cond: else takes (f64[4]), the node passes (f32[4])" in problem
    with pytest.raises(ValueError, match="malformed graph"):
        compile_graph(g)


def test_regions_cannot_hold_functions():
    g, (p, x) = _graph(("p", "bool", []), ("x", "f32", [4]))
    region, (a,) = _graph(("a", "f32", [4]))
    region.set_outputs([a])
    region.add_function("f", region)
    with pytest.raises(ValueError, match="cannot hold functions"):
        g.add_node("cond", [p, x], {}, [("f32", [4])], regions=[region, region])


# ----- loop -----


def test_loop_runs_a_power_iteration_like_numpy():
    """for i in range(n): v = normalize(m @ v) -- the dominant eigenvector."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal((5, 5))
    m = m @ m.T
    v0 = rng.standard_normal((5, 1))
    g, (gm, gv, n) = _graph(("m", "f64", [5, 5]), ("v", "f64", [5, 1]), ("n", "i64", []))
    body, (i, bm, bv) = _graph(("i", "i64", []), ("m", "f64", [5, 5]), ("v", "f64", [5, 1]))
    [w] = body.add_node("matmul", [bm, bv], {}, [("f64", [5, 1])])
    [sq] = body.add_node("mul", [w, w], {}, [("f64", [5, 1])])
    [total] = body.add_node("sum", [sq], {"dims": (0, 1), "keepdim": False}, [("f64", [])])
    [norm] = body.add_node("sqrt", [total], {}, [("f64", [])])
    [unit] = body.add_node("div", [w, norm], {}, [("f64", [5, 1])])
    body.set_outputs([_true_flag(body), bm, unit])
    rm, rv = g.add_node(
        "loop", [n, True, gm, gv], {}, [("f64", [5, 5]), ("f64", [5, 1])], regions=[body]
    )
    g.set_outputs([rv])
    assert str(_C.ir.Graph.parse(str(g))) == str(g)
    compiled = compile_graph(g)
    for steps in (0, 1, 7, 60):
        want = v0.copy()
        for _ in range(steps):
            want = m @ want
            want = want / np.sqrt((want * want).sum())
        np.testing.assert_allclose(compiled(m, v0, np.array(steps))[0], want, rtol=1e-10)


def test_while_loop_stops_on_its_flag():
    """Collatz steps until 1: a data-dependent trip count (no limit)."""
    g, (start,) = _graph(("start", "i64", []))
    body, (i, x, count) = _graph(("i", "i64", []), ("x", "i64", []), ("count", "i64", []))
    [odd] = body.add_node("remainder", [x, 2], {}, [("i64", [])])
    [is_odd] = body.add_node("eq", [odd, 1], {}, [("bool", [])])
    [up] = body.add_node("mul", [x, 3], {}, [("i64", [])])
    [up1] = body.add_node("add", [up, 1], {}, [("i64", [])])
    [down] = body.add_node("floor_divide", [x, 2], {}, [("i64", [])])
    [nxt] = body.add_node("where", [is_odd, up1, down], {}, [("i64", [])])
    [more] = body.add_node("ne", [nxt, 1], {}, [("bool", [])])
    [count1] = body.add_node("add", [count, 1], {}, [("i64", [])])
    body.set_outputs([more, nxt, count1])
    [zero] = g.add_node("constant", [], {"value": (0,)}, [("i64", [])])
    [go] = g.add_node("ne", [start, 1], {}, [("bool", [])])
    _, steps = g.add_node(
        "loop", [None, go, start, zero], {}, [("i64", []), ("i64", [])], regions=[body]
    )
    g.set_outputs([steps])
    compiled = compile_graph(g)
    for n in (1, 6, 27):
        want, x = 0, n
        while x != 1:
            x = 3 * x + 1 if x % 2 else x // 2
            want += 1
        assert compiled(np.array(n))[0] == want


# ----- call -----


def test_recursive_call_sums_a_tree():
    """tree_sum(d, x): x at a leaf (d == 0), else tree_sum(d-1, x) +
    tree_sum(d-1, 2x): a recursive function called by name."""
    fn, (d, x) = _graph(("d", "i64", []), ("x", "f32", [3]))
    [leaf] = fn.add_node("le", [d, 0], {}, [("bool", [])])
    then, (td, tx) = _graph(("d", "i64", []), ("x", "f32", [3]))
    then.set_outputs([tx])
    other, (od, ox) = _graph(("d", "i64", []), ("x", "f32", [3]))
    [d1] = other.add_node("sub", [od, 1], {}, [("i64", [])])
    [x2] = other.add_node("mul", [ox, 2.0], {}, [("f32", [3])])
    [left] = other.add_node("call", [d1, ox], {"callee": "tree_sum"}, [("f32", [3])])
    [right] = other.add_node("call", [d1, x2], {"callee": "tree_sum"}, [("f32", [3])])
    other.set_outputs(other.add_node("add", [left, right], {}, [("f32", [3])]))
    fn.set_outputs(fn.add_node("cond", [leaf, d, x], {}, [("f32", [3])], regions=[then, other]))
    g, (gd, gx) = _graph(("d", "i64", []), ("x", "f32", [3]))
    g.add_function("tree_sum", fn)
    g.set_outputs(g.add_node("call", [gd, gx], {"callee": "tree_sum"}, [("f32", [3])]))
    assert g.function_names() == ["tree_sum"]
    assert g.verify() == []
    assert str(_C.ir.Graph.parse(str(g))) == str(g)
    compiled = compile_graph(g)
    assert compiled.fallback_ops() == []  # every node, nested ones too, runs natively

    def tree_sum(depth, v):
        return v if depth <= 0 else tree_sum(depth - 1, v) + tree_sum(depth - 1, 2 * v)

    x = np.array([1.0, -0.5, 0.25], np.float32)
    for depth in (0, 1, 4, 8):
        np.testing.assert_allclose(compiled(np.array(depth), x)[0], tree_sum(depth, x))


def test_call_to_a_missing_function_is_rejected():
    g, (x,) = _graph(("x", "f32", [3]))
    g.set_outputs(g.add_node("call", [x], {"callee": "nowhere"}, [("f32", [3])]))
    assert "call: no function named nowhere" in g.verify()[0]


# ----- callback -----


def _with_callback(outputs=(("f32", [3]),)):
    """y = callback(x * 3) {target="f"}; return y + 1 (and an assert after)."""
    g, (x, ok) = _graph(("x", "f32", [3]), ("ok", "bool", []))
    [x3] = g.add_node("mul", [x, 3.0], {}, [("f32", [3])])
    results = g.add_node("callback", [x3], {"target": "f"}, list(outputs))
    g.add_node("assert", [ok], {"id": 9, "message": "late"}, [])
    g.set_outputs(g.add_node("add", [results[0], 1.0], {}, [("f32", [3])]) if results else [x3])
    return g


def test_callback_runs_python_on_numpy_arrays():
    seen = []

    def f(v):
        seen.append(v)
        return np.sqrt(v)

    compiled = compile_graph(_with_callback(), callbacks={"f": f})
    [y] = compiled(np.array([3.0, 12.0, 27.0], np.float32), np.array(True))
    np.testing.assert_allclose(y, [4, 7, 10])
    assert isinstance(seen[0], np.ndarray) and seen[0].dtype == np.float32
    np.testing.assert_array_equal(seen[0], [9, 36, 81])


def test_callback_results_are_checked():
    x, ok = np.ones(3, np.float32), np.array(True)
    wrong_dtype = compile_graph(_with_callback(), callbacks={"f": lambda v: v.astype(np.float64)})
    with pytest.raises(TypeError, match="result 0 is float64.*declares f32\\[3\\]"):
        wrong_dtype(x, ok)
    wrong_count = compile_graph(_with_callback(), callbacks={"f": lambda v: (v, v)})
    with pytest.raises(TypeError, match="returned 2 values, its node declares 1"):
        wrong_count(x, ok)
    missing = compile_graph(_with_callback(), callbacks={})
    with pytest.raises(KeyError, match="no callable"):
        missing(x, ok)


def test_callback_exception_propagates_and_aborts():
    class Boom(Exception):
        pass

    def f(v):
        raise Boom("from the callable")

    compiled = compile_graph(_with_callback(), callbacks={"f": f}, passes=[])
    x = np.ones(3, np.float32)
    out = np.full(3, -1, np.float32)
    with pytest.raises(Boom, match="from the callable"):
        compiled.program.run([x, np.array(True)], [out])
    np.testing.assert_array_equal(out, [-1, -1, -1])  # staged: nothing written


def test_callback_without_results_and_after_it_a_failing_assert():
    calls = []
    compiled = compile_graph(_with_callback(outputs=()), callbacks={"f": calls.append})
    np.testing.assert_array_equal(compiled(np.ones(3, np.float32), np.array(True))[0], [3, 3, 3])
    with pytest.raises(AssertionFailed):
        compiled(np.ones(3, np.float32), np.array(False))
    assert len(calls) == 2  # the callback ran before the assert failed


def test_callback_needs_the_callbacks_table():
    with pytest.raises(ValueError, match="built without callbacks"):
        compile_graph(_with_callback())
