"""The CUDA runtime on a GPU: generated kernels and cuBLAS captured into a
CUDA graph, against the CPU runtime; replay with moved inputs; several
streams against one; a failed assert commits nothing; a compiled training
step against eager CUDA.

On a GPU machine these run on the GPU; elsewhere on the emulated device of
tests/fake_cuda.py (conftest.py), which checks janus's side only.
"""

import os
import sys

import numpy as np
import pytest

import janus
from fake_cuda import USABLE
from harness import assert_trains_alike

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "jit"))
from cuda_cases import CASES, recorded  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not USABLE, reason="needs a CUDA GPU (cupy), or g++ to emulate one"),
]


def _program(graph, **kw):
    from janus.jit.cuda_program import CudaProgram

    return CudaProgram(graph, **kw)


@pytest.mark.parametrize("case", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_program_matches_the_cpu_runtime(case):
    import cupy as cp

    graph, arrays = recorded(case)
    expected = janus.jit.compile_graph(graph)(*arrays)
    program = _program(graph)
    for _ in range(3):  # capture, then replays
        outs = program.call([cp.asarray(a) for a in arrays])
        for got, want in zip(outs, expected):
            np.testing.assert_allclose(cp.asnumpy(got), want, rtol=1e-4, atol=1e-5)
    assert program.captures == 2 and program.replays == 3  # the fresh arrays get staged once


def test_moved_inputs_are_staged_once_and_params_stay_in_place():
    import cupy as cp

    graph, arrays = recorded(CASES[4])  # linear algebra
    program = _program(graph)
    held = [cp.asarray(a) for a in arrays]
    for step in range(4):
        x = cp.asarray(arrays[0] + step)  # a new batch each call, weights in place
        outs = program.call([x] + held[1:])
        want = janus.jit.compile_graph(graph)(arrays[0] + step, *arrays[1:])
        np.testing.assert_allclose(cp.asnumpy(outs[0]), want[0], rtol=1e-4, atol=1e-5)
    assert program.captures == 2 and list(program.staged_inputs) == [0]


def test_inputs_as_the_graph_reads_them_are_passed_on_as_they_are():
    import cupy as cp

    graph, arrays = recorded(CASES[4])  # linear algebra
    program = _program(graph)
    held = [cp.asarray(a) for a in arrays]
    program.call(held)
    # (No copy or reshape per input per call: each is a cupy call of host time.)
    assert all(program.direct[k] is a for k, a in enumerate(held))
    # A transposed layout or another dtype is made what the graph reads.
    x = cp.asfortranarray(cp.asarray(arrays[0], dtype=np.float64))
    assert not x.flags.c_contiguous
    outs = program.call([x] + held[1:])
    want = janus.jit.compile_graph(graph)(*arrays)
    np.testing.assert_allclose(cp.asnumpy(outs[0]), want[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("streams", [True, False])
def test_a_reshape_of_a_result_launches_nothing_and_shares_its_buffer(streams):
    import cupy as cp

    x = janus.tensor(np.random.default_rng(3).standard_normal((6, 8), dtype=np.float32))

    def fn(x):
        a = x.exp()
        r = a.reshape(4, 12)  # shares a's buffer, which r keeps alive
        b = a.sin() + 1  # a is read again after the reshape
        return (r * 2).sum(0), b.reshape(48), x.reshape(8, 6) * 1

    graph, _ = janus.jit.record(fn, x)
    program = _program(graph, streams=streams)
    nodes = program.graph.node_list()
    aliased = [
        (at, node)
        for at, node in enumerate(nodes)
        if node[0] == "reshape" and not program.lowered.steps[at]
    ]
    assert len(aliased) == 1  # (b's reshape is an output; x's, of an input: copies)
    at, (_, (source,), _, ((out, _, _),), _) = aliased[0]
    assert program.offsets[out] == program.offsets[source]
    want = janus.jit.compile_graph(graph)(x.numpy())
    for _ in range(2):
        for got, expected in zip(program.call([cp.asarray(x.numpy())]), want):
            np.testing.assert_allclose(cp.asnumpy(got), expected, rtol=1e-5)


@pytest.mark.parametrize("streams", [True, False])
def test_a_split_read_in_place_keeps_its_source_alive(streams):
    """The gates' split launches nothing; their source's memory is not taken
    by `t`, made after the split and before the gates are read (on one
    stream, the plan would otherwise hand it over)."""
    import cupy as cp

    graph, arrays = recorded(next(c for c in CASES if c[0].__name__ == "gates_read_in_place"))
    program = _program(graph, streams=streams)
    assert any(op == "split" for op, *_ in program.graph.node_list())
    assert not any(op == "split" and steps for (op, *_), steps in
                   zip(program.graph.node_list(), program.lowered.steps))  # fmt: skip
    want = janus.jit.compile_graph(graph)(*arrays)
    for got, expected in zip(program.call([cp.asarray(a) for a in arrays]), want):
        np.testing.assert_allclose(cp.asnumpy(got), expected, rtol=1e-5, atol=1e-6)


def test_several_streams_give_the_single_stream_results():
    import cupy as cp

    rng = np.random.default_rng(1)
    x = janus.tensor(rng.standard_normal((64, 128), dtype=np.float32))
    ws = [janus.tensor(rng.standard_normal((128, 128), dtype=np.float32)) for _ in range(4)]

    def branches(x, *ws):
        return sum(((x @ w).tanh() @ w).relu().sum(1) for w in ws)

    graph, _ = janus.jit.record(branches, x, *ws)
    arrays = [cp.asarray(t.numpy()) for t in (x, *ws)]
    multi, single = _program(graph), _program(graph, streams=False)
    assert multi.n_streams >= 4 and single.n_streams == 1
    assert len(set(multi.workspace_slot.values())) >= 4  # (the branches' first GEMMs)
    assert set(single.workspace_slot.values()) == {0}
    _assert_shared_workspaces_are_ordered(multi)
    a, b = multi.call(arrays)[0], single.call(arrays)[0]
    np.testing.assert_array_equal(cp.asnumpy(a), cp.asnumpy(b))


def test_programs_fork_their_captures_onto_the_same_side_streams():
    import cupy as cp

    rng = np.random.default_rng(2)
    ws = [janus.tensor(rng.standard_normal((32, 32), dtype=np.float32)) for _ in range(4)]

    def wide(x, *ws):
        return sum((x @ w).tanh().sum(1) for w in ws)

    def wider(x, *ws):
        return sum((x @ w).relu().sum(1) + (x * w).sum(0) for w in ws)

    x = janus.tensor(rng.standard_normal((32, 32), dtype=np.float32))
    programs = [_program(janus.jit.record(f, x, *ws)[0]) for f in (wide, wider)]
    alone = [_program(p.graph, passes=(), streams=False) for p in programs]
    a, b = programs
    assert a.n_streams >= 4 and b.n_streams >= 4
    shared = min(a.n_streams, b.n_streams)
    assert a.streams[1:shared] == b.streams[1:shared] and a.streams[0] is not b.streams[0]
    held = [cp.asarray(t.numpy()) for t in ws]
    for step in range(3):  # captures interleaved: each new batch moves, recapturing once
        batch = cp.asarray(x.numpy() + step)
        for program, single in zip(programs, alone):
            got, want = program.call([batch] + held)[0], single.call([batch] + held)[0]
            np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(want), rtol=1e-5)
    assert a.captures == b.captures == 2


def _assert_shared_workspaces_are_ordered(program):
    """No two GEMM nodes that may run at once share a cuBLAS workspace: two
    that share one are ordered by data edges and each stream's own order.
    (The emulated cuBLAS runs one GEMM at a time, so a shared workspace
    shows in no result.)"""
    before, producer, last_on = [], {}, {}
    for at, (_, operands, _, outs, _) in enumerate(program.graph.node_list()):
        preds = {producer[n] for n in operands if isinstance(n, str) and n in producer}
        if program.node_stream[at] in last_on:
            preds.add(last_on[program.node_stream[at]])
        bits = 0
        for j in preds:
            bits |= before[j] | (1 << j)
        before.append(bits)
        last_on[program.node_stream[at]] = at
        producer.update((name, at) for name, _, _ in outs)
    slots = sorted(program.workspace_slot.items())
    for i, slot in slots:
        for j, other in slots:
            if j < i and other == slot:
                assert (before[i] >> j) & 1, f"nodes {j} and {i} may run at once"


def test_only_gemms_that_may_run_at_once_get_workspaces_of_their_own():
    """cuBLAS workspaces (8 MiB each) go to GEMMs, and two GEMMs share one
    unless they may run at once (every stream had one: an LSTM step's
    program took 888 MiB of workspace for 19 MiB of values). Here one
    GEMM beside elementwise branches needs one workspace; four concurrent
    branches of GEMMs need several, and give the one-stream results."""
    import cupy as cp

    from janus.jit.cuda_program import _WORKSPACE

    rng = np.random.default_rng(2)
    x = janus.tensor(rng.standard_normal((16, 32), dtype=np.float32))
    w = janus.tensor(rng.standard_normal((32, 32), dtype=np.float32))

    def branches(x, w):
        return (x @ w).sum() + x.tanh().sum() + x.exp().mean() + x.sin().amax()

    graph, _ = janus.jit.record(branches, x, w)
    arrays = [cp.asarray(t.numpy()) for t in (x, w)]
    multi, single = _program(graph), _program(graph, streams=False)
    assert multi.n_streams >= 3 and set(multi.workspace_slot.values()) == {0}
    assert multi.arena_bytes == multi.workspace_offset + _WORKSPACE
    np.testing.assert_allclose(
        cp.asnumpy(multi.call(arrays)[0]), cp.asnumpy(single.call(arrays)[0]), rtol=1e-6
    )


def test_a_failed_assert_leaves_the_targets_unchanged():
    import cupy as cp

    from janus.jit.program import AssertionFailed

    g = janus._C.ir.Graph()
    p = g.add_input("p", "f32", [4], "cuda")
    x = g.add_input("x", "f32", [4], "cuda")
    s = g.add_node("sum", [x], {"dims": None, "keepdim": False}, [("f32", [], "cuda")])[0]
    ok = g.add_node("gt", [s, 0.0], {}, [("bool", [], "cuda")])[0]
    g.add_node("assert", [ok], {"id": 3, "message": "sum(x) > 0"}, [])
    q = g.add_node("add", [p, x], {}, [("f32", [4], "cuda")])[0]
    g.set_outputs([q])
    program = _program(g, staged_outputs=[0])
    param = cp.zeros(4, cp.float32)
    program.call([param, cp.ones(4, cp.float32)], into={0: param})
    np.testing.assert_array_equal(cp.asnumpy(param), [1, 1, 1, 1])
    with pytest.raises(AssertionFailed, match="sum"):
        program.call([param, -cp.ones(4, cp.float32)], into={0: param})
    np.testing.assert_array_equal(cp.asnumpy(param), [1, 1, 1, 1])
    program.call([param, cp.ones(4, cp.float32)], into={0: param})
    np.testing.assert_array_equal(cp.asnumpy(param), [2, 2, 2, 2])


def test_a_target_at_a_new_address_is_patched_not_captured_again():
    """A buffer updated in place that the caller makes anew each call: the
    commit reads its address from a slot the call patches, so the graph is
    captured once (each call captured it again). A failed assert leaves
    the new buffer unchanged too."""
    import cupy as cp

    from janus.jit.program import AssertionFailed

    g = janus._C.ir.Graph()
    x = g.add_input("x", "f32", [4], "cuda")
    s = g.add_node("sum", [x], {"dims": None, "keepdim": False}, [("f32", [], "cuda")])[0]
    ok = g.add_node("gt", [s, 0.0], {}, [("bool", [], "cuda")])[0]
    g.add_node("assert", [ok], {"id": 3, "message": "sum(x) > 0"}, [])
    q = g.add_node("mul", [x, 2.0], {}, [("f32", [4], "cuda")])[0]
    g.set_outputs([q])
    program = _program(g, staged_outputs=[0])
    x = cp.arange(4, dtype=cp.float32) + 1
    buffers = [cp.zeros(4, cp.float32) for _ in range(4)]
    for k, buffer in enumerate(buffers):
        x += k and 1  # (in place: the input stays where it was)
        program.call([x], into={0: buffer})
    for k, buffer in enumerate(buffers):
        np.testing.assert_array_equal(cp.asnumpy(buffer), 2 * (np.arange(4) + 1 + k))
    assert program.captures == 1 and program.replays == 4
    fresh = cp.full(4, 7.0, cp.float32)
    x *= -1
    with pytest.raises(AssertionFailed, match="sum"):
        program.call([x], into={0: fresh})
    np.testing.assert_array_equal(cp.asnumpy(fresh), [7, 7, 7, 7])
    np.testing.assert_array_equal(cp.asnumpy(buffers[-1]), 2 * (np.arange(4) + 4))


def _mlp_step(device, compiled):
    janus.manual_seed(0)
    model = janus.nn.Sequential(
        janus.nn.Linear(32, 64), janus.nn.ReLU(), janus.nn.Linear(64, 10)
    ).to(device)
    opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)

    def step(x, y):
        opt.zero_grad()
        loss = janus.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    losses = []
    for _ in range(6):
        x = janus.tensor(rng.standard_normal((16, 32), dtype=np.float32)).to(device)
        y = janus.tensor(rng.integers(0, 10, 16)).to(device)
        losses.append(float(fn(x, y)))
    return losses, [p.detach().cpu().numpy() for p in model.parameters()]


def test_a_compiled_training_step_on_cuda_trains_like_eager(made_programs):
    assert_trains_alike(lambda compiled: _mlp_step("cuda", compiled), 1e-4, 1e-4, 1e-5)
    assert sum(p.replays for p in made_programs) >= 3  # the step ran as a CUDA program


def _lstm_losses(compiled, steps=8):
    janus.manual_seed(0)
    embed, cell, head = (
        janus.nn.Embedding(30, 64),
        janus.nn.LSTMCell(64, 64),
        janus.nn.Linear(64, 30),
    )
    params = [p for m in (embed, cell, head) for p in m.parameters()]
    for m in (embed, cell, head):
        m.to("cuda")
    opt = janus.optim.SGD(params, lr=0.5)
    rng = np.random.default_rng(0)
    x = janus.tensor(rng.integers(0, 30, (6, 4))).to("cuda")
    y = janus.tensor(rng.integers(0, 30, (6, 4))).to("cuda")

    def step(x, y):
        opt.zero_grad()
        h = janus.zeros(4, 64, device="cuda")
        c = janus.zeros(4, 64, device="cuda")
        logits = []
        for t in range(x.shape[0]):
            h, c = cell(embed(x[t]), (h, c))
            logits.append(head(h))
        loss = janus.nn.functional.cross_entropy(janus.stack(logits).reshape(-1, 30), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    return np.array([float(fn(x, y)) for _ in range(steps)])


def test_a_multi_stream_lstm_step_trains_like_eager(made_programs):
    """GEMMs on concurrent streams once shared cuBLAS's workspace: the
    losses drifted from the third step on."""
    eager = _lstm_losses(False)
    compiled = _lstm_losses(True)
    assert made_programs and max(p.n_streams for p in made_programs) > 1
    for program in made_programs:
        _assert_shared_workspaces_are_ordered(program)
    np.testing.assert_allclose(compiled, eager, rtol=2e-6)


def _cnn_losses(compiled, steps=5):
    """A small branchy CNN (convolutions, pooling, concatenation) trained on
    the GPU: every op of its step has a CUDA kernel."""
    janus.manual_seed(0)
    nn = janus.nn
    stem = nn.Conv2d(3, 8, 3, padding=1)
    left = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=2))
    right = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(8, 8, 1))
    head = nn.Linear(16, 5)
    modules = (stem, left, right, head)
    for m in modules:
        m.to("cuda")
    opt = janus.optim.SGD([p for m in modules for p in m.parameters()], lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = janus.tensor(rng.standard_normal((2, 3, 12, 12), dtype=np.float32)).to("cuda")
    y = janus.tensor(rng.integers(0, 5, 2)).to("cuda")

    def step(x, y):
        opt.zero_grad()
        h = janus.nn.functional.avg_pool2d(stem(x).relu(), 2)
        h = janus.cat([left(h), right(h)], 1).relu()
        loss = janus.nn.functional.cross_entropy(head(h.mean((2, 3))), y)
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    losses = np.array([float(fn(x, y)) for _ in range(steps)])
    return losses, [p.detach().cpu().numpy() for m in modules for p in m.parameters()]


def test_a_compiled_cnn_step_on_cuda_trains_like_eager(made_programs):
    assert_trains_alike(_cnn_losses, 1e-4, 1e-3, 1e-5)
    assert sum(p.replays for p in made_programs) >= 3  # the step ran as a CUDA program


def test_an_index_out_of_range_falls_back_to_the_eager_error():
    import cupy as cp

    table = janus.nn.Embedding(10, 4).to("cuda")
    opt = janus.optim.SGD(table.parameters(), lr=0.1)

    @janus.jit
    def step(i):
        opt.zero_grad()
        loss = table(i).sum()
        loss.backward()
        opt.step()
        return loss

    good = janus.tensor([1, 2, 3]).to("cuda")
    for _ in range(4):
        step(good)
    before = cp.asnumpy(table.weight.detach()._data).copy()
    with pytest.raises(IndexError):
        step(janus.tensor([1, 12, 3]).to("cuda"))
    np.testing.assert_array_equal(cp.asnumpy(table.weight.detach()._data), before)


@pytest.mark.real_gpu
def test_replay_and_kernel_times_are_measured():
    import cupy as cp

    graph, arrays = recorded(CASES[4])
    program = _program(graph)
    program.call([cp.asarray(a) for a in arrays])
    times = program.kernel_ms(repeat=3)
    assert len(times) == len(program.lowered.steps) and all(t > 0 for t in times)
    assert program.replay_ms(repeat=3) > 0


def _split_step_losses(compiled, steps=5):
    """A frame that returns the loss; the caller runs backward and the
    optimizer: the frame's tracked result gets a compiled backward."""
    janus.manual_seed(0)
    model = janus.nn.Sequential(janus.nn.Linear(12, 32), janus.nn.Tanh(), janus.nn.Linear(32, 4))
    model.to("cuda")
    opt = janus.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x = janus.tensor(rng.standard_normal((8, 12), dtype=np.float32)).to("cuda")
    y = janus.tensor(rng.integers(0, 4, 8)).to("cuda")

    def forward(x, y):
        return janus.nn.functional.cross_entropy(model(x), y)

    fn = janus.jit(forward) if compiled else forward
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = fn(x, y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return np.array(losses), [p.detach().cpu().numpy() for p in model.parameters()]


def test_a_frame_returning_a_loss_gets_a_compiled_backward_on_cuda(made_programs):
    assert_trains_alike(_split_step_losses, 1e-5, 1e-4, 1e-6)
    # The forward and its backward, both CUDA programs, both replayed.
    assert len(made_programs) >= 2 and all(p.replays >= 2 for p in made_programs[:2])


def _dropout_losses(compiled, steps=5):
    janus.manual_seed(0)
    model = janus.nn.Sequential(
        janus.nn.Linear(16, 32), janus.nn.ReLU(), janus.nn.Dropout(0.3), janus.nn.Linear(32, 3)
    ).to("cuda")
    opt = janus.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x = janus.tensor(rng.standard_normal((8, 16), dtype=np.float32)).to("cuda")
    y = janus.tensor(rng.integers(0, 3, 8)).to("cuda")

    def step(x, y):
        opt.zero_grad()
        loss = janus.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    return np.array([float(fn(x, y)) for _ in range(steps)])


def test_a_cuda_frame_with_dropout_compiles_and_draws_eagers_numbers(made_programs):
    """A CUDA frame draws from its device's generator: each call shifts the
    graph's draws by how far that generator has moved, and moves it on, as
    eager's draws would. (Following the CPU generator instead, the losses
    once differed from eager's by up to 14%; such frames then ran eagerly.)"""
    eager = _dropout_losses(False)
    after_eager = janus.random.cuda_generator(0)._offset
    compiled = _dropout_losses(True)
    assert any(p.lowered.uses_rng and p.replays >= 3 for p in made_programs)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert janus.random.cuda_generator(0)._offset == after_eager  # the stream moved on alike
