"""Programs whose independent branches run on the CPU thread pool
(csrc/runtime/cpu/thread_pool.h) give bit-identical results to the serial
schedule, on recorded programs with branches (an Inception-style block, a
training step), and the thread count is configurable."""

import numpy as np
import pytest

import janus
from janus import _C


def _inception_block():
    janus.manual_seed(0)
    nn = janus.nn
    b1 = nn.Conv2d(8, 4, 1)
    b2 = nn.Sequential(nn.Conv2d(8, 6, 1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1))
    b3 = nn.Sequential(nn.Conv2d(8, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 5, padding=2))
    b4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(8, 4, 1))

    def block(x):
        return janus.cat([b1(x), b2(x), b3(x), b4(x)], 1).relu().sum((2, 3))

    with janus.no_grad():
        graph, _ = janus.jit.record(block, janus.randn(2, 8, 10, 10))
    return graph


def _training_step():
    janus.manual_seed(0)
    model = janus.nn.Sequential(janus.nn.Linear(6, 16), janus.nn.Tanh(), janus.nn.Linear(16, 3))
    opt = janus.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = janus.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return janus.jit.recording(step, janus.randn(5, 6), janus.tensor([0, 2, 1, 1, 0])).graph


def _inputs(compiled, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for v in compiled.graph.inputs():
        if v.dtype == "i64":
            arrays.append(rng.integers(0, 3, tuple(v.shape)))
        else:
            arrays.append(rng.standard_normal(tuple(v.shape)).astype(np.float32))
    return arrays


@pytest.mark.parametrize("make", [_inception_block, _training_step], ids=["inception", "train"])
def test_parallel_results_are_bit_identical_to_serial(make):
    graph = make()
    serial = janus.jit.compile_graph(graph, threads=1)
    parallel = janus.jit.compile_graph(graph, threads=4)
    assert serial.program.workers == 1
    assert parallel.program.workers > 1  # these graphs have independent branches
    for seed in range(10):
        arrays = _inputs(serial, seed)
        for want, got in zip(serial(*arrays), parallel(*arrays)):
            assert want.tobytes() == got.tobytes()


def test_thread_count_setting():
    before = _C.cpu.get_threads()
    assert before >= 1
    graph = _inception_block()
    try:
        _C.cpu.set_threads(1)
        assert janus.jit.compile_graph(graph).program.workers == 1
        _C.cpu.set_threads(3)
        assert janus.jit.compile_graph(graph).program.workers == 3
        with pytest.raises(ValueError, match=">= 0"):
            _C.cpu.set_threads(-2)
    finally:
        _C.cpu.set_threads(0)
    assert _C.cpu.get_threads() == before


def test_blas_threads_are_restored_after_a_parallel_run():
    graph = _inception_block()
    compiled = janus.jit.compile_graph(graph, threads=2)
    before = _C.cpu.get_blas_threads()
    compiled(*_inputs(compiled, 0))
    assert _C.cpu.get_blas_threads() == before
