"""The CUDA code generator, checked on the CPU: its kernels compiled as C++
(tests/jit/cuda_host.py) against the CPU runtime, for every case of
cuda_cases.py, plus what it refuses."""

import numpy as np
import pytest
from cuda_cases import CASES, recorded
from cuda_host import compile_as_cuda, have_compiler, have_cuda_compiler, lowered, run_on_host

import janus
from janus.jit import compile_graph
from janus.jit.cuda_codegen import NoKernel, lower

pytestmark = pytest.mark.skipif(not have_compiler(), reason="needs g++")


@pytest.mark.parametrize("case", CASES, ids=[c[0].__name__ for c in CASES])
def test_generated_kernels_match_the_cpu_runtime(case):
    graph, arrays = recorded(case)
    outs, low, flag = run_on_host(graph, *arrays)
    expected = compile_graph(graph)(*arrays)
    assert flag == 0 and low.kernels
    for got, want in zip(outs, expected):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("case", CASES, ids=[c[0].__name__ for c in CASES])
def test_generated_kernels_give_the_same_results_on_blocks_of_threads(case):
    """Each launch on 3 blocks of 8 threads that run at once, as the GPU
    runs many (the case above runs one): a kernel whose threads split the
    work wrongly, race, or miss each other at a barrier gives other
    results, or hangs, here."""
    graph, arrays = recorded(case)
    one, _, _ = run_on_host(graph, *arrays)
    many, _, flag = run_on_host(graph, *arrays, threads=(3, 8))
    assert flag == 0
    for got, want in zip(many, one):  # (float sums add in another order)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not have_cuda_compiler(), reason="needs NVRTC or nvcc")
@pytest.mark.parametrize("case", CASES, ids=[c[0].__name__ for c in CASES])
def test_generated_kernels_compile_as_cuda(case):
    """The same source as device code, compiled by NVRTC as on a GPU
    machine (or nvcc where NVRTC is missing): a kernel that only the host
    branch accepts fails here, on a machine with no GPU."""
    graph, _ = recorded(case)
    _, low = lowered(graph)
    assert compile_as_cuda(low.source) == ""


def test_transposed_operands_are_read_through_the_gemm_flags():
    """fold_transposes leaves no permute before a product: cuBLAS reads the
    stored matrices transposed, batched with a shared 2-D operand too."""
    from janus.jit.cuda_steps import Gemm

    case = next(c for c in CASES if c[0].__name__ == "linear_algebra")
    graph, arrays = recorded(case)
    _, low, _ = run_on_host(graph, *arrays)
    gemms = [s for steps in low.steps for s in steps if isinstance(s, Gemm)]
    assert any(g.trans_a and g.batch == 3 and g.stride_b == 0 for g in gemms)  # vt @ v[0]
    assert any(g.trans_a and g.batch == 3 and g.stride_b == 24 for g in gemms)  # vt @ v
    assert any(g.trans_b and not g.trans_a and g.batch == 3 for g in gemms)  # bmm(v, vt)
    assert "permute(" not in str(compile_graph(graph).graph)  # the same passes as CUDA's


def test_an_assert_sets_the_flag_to_its_id():
    g = janus._C.ir.Graph()
    x = g.add_input("x", "f32", [3])
    s = g.add_node("sum", [x], {"dims": None, "keepdim": False}, [("f32", [])])[0]
    ok = g.add_node("gt", [s, 0.0], {}, [("bool", [])])[0]
    g.add_node("assert", [ok], {"id": 7, "message": "sum > 0"}, [])
    y = g.add_node("mul", [x, 2.0], {}, [("f32", [3])])[0]
    g.set_outputs([y])
    outs, low, flag = run_on_host(g, np.ones(3, np.float32))
    assert flag == 0 and low.asserts == {7: "sum > 0"}
    np.testing.assert_array_equal(outs[0], [2, 2, 2])
    _, _, flag = run_on_host(g, -np.ones(3, np.float32))
    assert flag == 7


def test_an_assert_on_many_elements_holds_for_every_one():
    g = janus._C.ir.Graph()
    x = g.add_input("x", "f32", [4])
    ok = g.add_node("ge", [x, 0.0], {}, [("bool", [4])])[0]
    g.add_node("assert", [ok], {"id": 3, "message": "x >= 0"}, [])
    y = g.add_node("mul", [x, 2.0], {}, [("f32", [4])])[0]
    g.set_outputs([y])
    assert run_on_host(g, np.array([0, 1, 2, 3], np.float32))[2] == 0
    assert run_on_host(g, np.array([0, 1, -2, 3], np.float32))[2] == 3
    assert run_on_host(g, np.array([-1, 1, 2, 3], np.float32))[2] == 3


def test_a_node_without_a_kernel_is_named():
    graph, _ = janus.jit.record(lambda x: x.unique(dim=0) * 2, janus.ones(4, 2))
    with pytest.raises(NoKernel, match="unique: unique along a dim"):
        lower(graph)
    graph, _ = janus.jit.record(lambda x: x.sort(0)[0], janus.ones(3000, 500))
    with pytest.raises(NoKernel, match="sort: .*too long for a counting sort"):
        lower(graph)


def test_a_cat_or_a_split_is_one_kernel_whatever_its_parts():
    case = next(c for c in CASES if c[0].__name__ == "many_way_cat_and_split")
    graph, low = lowered(recorded(case)[0])
    ops = [node[0] for node in graph.node_list()]
    assert {"cat", "split"} <= set(ops)
    for op, steps in zip(ops, low.steps):
        if op in ("cat", "split"):
            assert len(steps) == 1, op


def test_a_split_read_only_by_elementwise_kernels_launches_nothing():
    case = next(c for c in CASES if c[0].__name__ == "gates_read_in_place")
    graph, low = lowered(recorded(case)[0])
    [(at, split)] = [(k, n) for k, n in enumerate(graph.node_list()) if n[0] == "split"]
    assert len(split[3]) == 4  # (i, f, g, o)
    assert low.steps[at] == []
    assert {low.views[name] for name, _, _ in split[3]} == {split[1][0]}


def test_an_add_after_a_linear_is_folded_only_where_its_addend_is_ready():
    case = next(c for c in CASES if c[0].__name__ == "bias_folds")
    graph, low = lowered(recorded(case)[0])
    nodes = graph.node_list()
    produced_by = {o[0]: op for op, _, _, outs, _ in nodes for o in outs}
    adds = [(k, n) for k, n in enumerate(nodes) if n[0] == "add"]
    [(at, add)] = [(k, n) for k, n in adds if not low.steps[k]]
    assert len(adds) == 2  # `a`'s: the linear of relu(r[:, :6]) computes it
    linear_out = low.views[add[3][0][0]]
    [linear] = [n for n in nodes if n[0] == "linear" and n[3][0][0] == linear_out]
    assert produced_by[linear[1][0]] == "relu"
    # `c`: r is not ready before the linear of h0, so its add stays.
    [other] = [n for n in nodes if n[0] == "linear" and n is not linear]
    assert other[3][0][0] not in low.views.values()


def test_convolutions_cut_into_chunks_of_images_match(monkeypatch):
    """A small im2col budget cuts the batch into several chunks (GEMMs at
    offsets, the weight gradient accumulated over chunks)."""
    from janus.jit import cuda_windows

    case = next(c for c in CASES if c[0].__name__ == "convolutions")
    graph, arrays = recorded(case)
    monkeypatch.setattr(cuda_windows, "_COLS_BUDGET", 1)  # one image per chunk
    outs, low, _ = run_on_host(graph, *arrays)
    chunked = sum(len(s) for s in low.steps)
    monkeypatch.undo()
    _, whole, _ = run_on_host(graph, *arrays)
    assert chunked > sum(len(s) for s in whole.steps)
    for got, want in zip(outs, compile_graph(graph)(*arrays)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_an_index_out_of_range_sets_the_flag_and_is_never_read():
    from janus.jit.cuda_steps import INDEX_ASSERT

    graph, _ = janus.jit.record(
        lambda x, i: x.gather(1, i) * 2, janus.ones(3, 4), janus.zeros(3, 2, dtype=janus.int64)
    )
    x = np.ones((3, 4), np.float32)
    ok = np.array([[0, 3], [1, -4], [2, 2]])
    outs, low, flag = run_on_host(graph, x, ok)
    assert flag == 0 and low.asserts[INDEX_ASSERT]
    np.testing.assert_array_equal(outs[0], np.full((3, 2), 2.0))
    for bad in (4, -5, 1 << 40):
        index = ok.copy()
        index[1, 1] = bad
        assert run_on_host(graph, x, index)[2] == INDEX_ASSERT


def test_index_add_out_of_range_sets_the_flag_and_writes_nothing_outside():
    """(It wrote past its buffer: an embedding's backward when the forward
    lookup, which checks, was dead code.)"""
    from janus.jit.cuda_steps import INDEX_ASSERT

    graph, _ = janus.jit.record(
        lambda x, i, v: x.index_add(0, i, v), janus.zeros(4, 3), janus.zeros(2, dtype=janus.int64),
        janus.ones(2, 3),
    )  # fmt: skip
    x, v = np.zeros((4, 3), np.float32), np.ones((2, 3), np.float32)
    outs, _, flag = run_on_host(graph, x, np.array([3, -4]), v)
    assert flag == 0 and outs[0][:, 0].tolist() == [1, 0, 0, 1]
    for bad in ([4, 0], [0, -5], [1 << 40, 0]):
        assert run_on_host(graph, x, np.array(bad), v)[2] == INDEX_ASSERT


def test_a_mask_selecting_another_count_sets_the_flag():
    """The graph's shapes hold the recorded call's count of true elements; a
    run with another count is flagged (the frame falls back), as the CPU
    runtime raises ShapeSpeculationError."""
    from janus.jit.cuda_steps import COUNT_ASSERT

    graph, _ = janus.jit.record(
        lambda x, m: (x[m] * 2, m.nonzero()), janus.ones(2, 3), janus.ones(2, 3, dtype=janus.bool)
    )
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    outs, low, flag = run_on_host(graph, x, np.ones((2, 3), bool))
    assert flag == 0 and low.asserts[COUNT_ASSERT]
    np.testing.assert_array_equal(outs[0], x.reshape(-1) * 2)
    fewer = np.array([[True, False, True], [True, True, True]])
    assert run_on_host(graph, x, fewer)[2] == COUNT_ASSERT
    with pytest.raises(janus.jit.ShapeSpeculationError):
        compile_graph(graph)(x, fewer)


def test_advanced_indices_out_of_range_set_the_flag():
    """x[i] and x[i] = v (index, index_put) wrap a negative index once and
    flag one out of range; the CPU runtime raises for the same calls."""
    from janus.jit.cuda_steps import INDEX_ASSERT

    def read_and_write(x, i):
        y = x * 1
        y[:, i] = 0.0
        return x[i] + 1, y

    graph, _ = janus.jit.record(read_and_write, janus.ones(4, 4), janus.zeros(3, dtype=janus.int64))
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    outs, _, flag = run_on_host(graph, x, np.array([-4, 3, 0]))
    assert flag == 0
    np.testing.assert_array_equal(outs[0], x[[0, 3, 0]] + 1)
    assert not outs[1][:, [0, 3]].any() and outs[1][:, 1:3].all()
    for bad in ([4, 0, 0], [0, -5, 0]):
        assert run_on_host(graph, x, np.array(bad))[2] == INDEX_ASSERT
        with pytest.raises(IndexError):
            compile_graph(graph)(x, np.array(bad))


def test_random_ops_read_the_calls_stream_shift():
    """A replayed graph draws new numbers each call: the shift comes from
    device memory, as the CPU runtime's rng_shift."""
    case = next(c for c in CASES if c[0].__name__ == "random_draws")
    graph, arrays = recorded(case)
    for shift in (0, 8, 1 << 20):
        outs, low, _ = run_on_host(graph, *arrays, rng_shift=shift)
        assert low.uses_rng
        want = compile_graph(graph)(*arrays, rng_shift=shift)
        for got, expected in zip(outs, want):
            np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
    first, _, _ = run_on_host(graph, *arrays, rng_shift=0)
    moved, _, _ = run_on_host(graph, *arrays, rng_shift=8)
    assert not np.array_equal(first[2], moved[2])


def test_view_geometry_of_huge_tensors_allocates_nothing_large():
    """Strides and offsets of views and of single elements, on a shape whose
    elements would take 80 GB as an index array."""
    from janus.jit.cuda_codegen import _Lowering

    geometry = _Lowering.view_geometry
    big = (100_000, 100_000)
    assert geometry(big, lambda v: v[7, 9]) == ((), [], 700_009)
    assert geometry(big, lambda v: v[7, 9:]) == ((99_991,), [1], 700_009)
    assert geometry((3, 4, 5), lambda v: v[1, 2, 3]) == ((), [], 33)
    assert geometry((3, 4, 5), lambda v: v[1:, ::2, -1]) == ((2, 2), [20, 10], 24)
    assert geometry((3, 4, 5), lambda v: np.flip(v, (0, 1))) == ((3, 4, 5), [-20, -5, 1], 55)
    with pytest.raises(NoKernel, match="copies"):
        geometry((3, 4), lambda v: v[[0, 2]])
