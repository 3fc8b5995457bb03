"""The CUDA code generator, checked on the CPU: its kernels compiled as C++
(tests/jit/cuda_host.py) against the CPU runtime, for every case of
cuda_cases.py, plus what it refuses."""

import numpy as np
import pytest
from cuda_cases import CASES, recorded
from cuda_host import have_compiler, run_on_host

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


def test_a_node_without_a_kernel_is_named():
    graph, _ = janus.jit.record(lambda x: x.sort()[0], janus.ones(4))
    with pytest.raises(NoKernel, match="sort"):
        lower(graph)
