"""Learning-rate schedules and other numbers that change from call to call,
differentially: a scheduler stepped inside or outside the compiled step,
and hyperparameters that are data of each call."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from tests.jit.differential import assert_same, compiled_calls, run_both, snapshot, state_of

import janus
import janus.nn as nn


def _batch(seed=0):
    g = np.random.default_rng(seed)
    return janus.tensor(g.standard_normal((6, 4), np.float32)), janus.tensor(
        g.standard_normal((6, 2), np.float32)
    )


def _observed(model, opt, sched=None):
    def observed():
        seen = {"model": model, "opt": opt, "lrs": [g["lr"] for g in opt.param_groups]}
        if sched is not None:
            seen["epoch"] = sched.last_epoch
        return seen

    return observed


def test_a_scheduler_stepped_inside_the_step_runs_every_call():
    """`sched.step()` is janus code that keeps Python state (its epoch
    count). It used to run opaquely during the trace, and compiled calls
    skipped it: StepLR never decayed. Now it is a break; the call runs in
    Python after the compiled part, every call."""
    x, y = _batch()

    def make():
        model = nn.Linear(4, 2)
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = janus.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
            return loss

        return step, _observed(model, opt, sched)

    jf = run_both(make, [(x, y)] * 12)
    assert compiled_calls(jf) >= 6
    kinds = {b.kind for t in jf.report.compiles for b in t.breaks}
    assert "unsupported-call" in kinds and jf.report.compiles[-1].split is not None


def _train(make, steps: int, compiled: bool):
    """Runs `steps` training steps of a fresh program with its scheduler
    stepped between them (outside the step); returns what a user sees and
    the JitFunction."""
    janus.manual_seed(7)
    step, sched, observed = make()
    jf = janus.jit(step) if compiled else step
    seen = []
    with contextlib.nullcontext() if compiled else janus._C.capture.disabled():
        for k in range(steps):
            seen.append(snapshot(jf(*_batch(k % 3))))
            sched.step()
            seen.append(state_of(observed()))
    return seen, jf


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"])
def test_a_learning_rate_a_schedule_changes_is_a_graph_input(optimizer):
    """An lr that changes every step used to recompile every call (the
    groups' numbers were guarded equal) until the budget ran out. After three
    values it is data: a float64 graph input each compiled call reads."""

    def make():
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
        kwargs = {"momentum": 0.9} if optimizer in ("SGD", "RMSprop") else {}
        opt = getattr(janus.optim, optimizer)(model.parameters(), lr=0.05, **kwargs)
        sched = janus.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, sched, _observed(model, opt)

    eager, _ = _train(make, 10, compiled=False)
    jit, jf = _train(make, 10, compiled=True)
    for k, (a, b) in enumerate(zip(eager, jit)):
        assert_same(a, b, 1e-4, 1e-5, f"step {k // 2} {'state' if k % 2 else 'loss'}")
    assert len(jf.report.compiles) <= 3, jf.report
    assert compiled_calls(jf) >= 7
    graph = jf.entries[0][1].graph
    assert "f64[]" in str(graph).splitlines()[0]  # the lr input


def test_numbers_that_change_are_tensor_operands_not_constants():
    """`x * scale`, `scale - x`, comparisons, division by it, in-place
    `y *= scale`, `y.mul(scale)` and a hand-written SGD update `p.add_(g,
    alpha=-lr)`: each call's values, from one graph."""
    x = _batch()[0]

    def make():
        w = nn.Parameter(janus.ones(4, 3) * 0.1)

        def step(x, scale, lr, offset):
            y = (x @ w) * scale
            y = 2 * scale - y
            y *= scale / 2
            y = y.mul(scale) + (y > scale).float() + offset
            loss = (y / scale).pow(2).mean()
            loss.backward()
            with janus.no_grad():
                w.add_(w.grad, alpha=-lr)
                w.grad = None
            return loss, y.sum(dim=0)

        return step, lambda: {"w": w}

    calls = [(x, 0.5 + k / 4, 0.01 * (k + 1), k) for k in range(8)]
    jf = run_both(make, calls, rtol=1e-5)
    assert len(jf.report.compiles) <= 3 and compiled_calls(jf) >= 5, jf.report
    inputs = str(jf.entries[0][1].graph).splitlines()[0]
    assert inputs.count("f32[]") >= 3, inputs


def test_an_int_number_input_keeps_int_arithmetic_and_its_type_is_guarded():
    """`t + offset` on an int tensor: an int64 input. A float offset later
    must not be cut to an int by that input: its type is guarded."""
    t = janus.arange(6)

    def make():
        def shifted(t, offset):
            return t + offset, (t * offset).sum()

        return shifted, dict

    calls = [(t, k) for k in range(5)] + [(t, 2.5), (t, 7)]
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 2
    inputs = [str(entry.graph).splitlines()[0] for _, entry in jf.entries]
    assert any("i64[]" in line for line in inputs) and any("f32[]" in line for line in inputs)


def test_a_number_too_large_for_its_input_runs_the_frame_as_usual():
    """An int beyond int64 cannot become the input: the compiled call falls
    back, and the frame runs as usual, so it raises where eager raises,
    after the effects before that point (a compiled call that let the error
    out while reading its inputs would raise before them)."""
    t = janus.arange(3)

    def shifted(t, offset, seen):
        seen.append(offset)
        return t + offset

    jf = janus.jit(shifted)
    for k in range(5):
        jf(t, k, [])
    assert compiled_calls(jf) >= 1
    eager, compiled = [], []
    with pytest.raises(OverflowError):
        shifted(t, 2**70, eager)
    with pytest.raises(OverflowError):
        jf(t, 2**70, compiled)
    assert compiled == eager == [2**70]


def test_a_number_updated_by_a_tensor_is_rebound_not_the_input_changed():
    """`acc += x` with `acc` a changing number: Python rebinds `acc` to a
    new tensor (a number has no in-place add); the number input stays as
    it was, so the next call's value is read afresh."""
    x = janus.arange(4.0)

    def make():
        def f(x, acc):
            acc += x
            acc *= 2
            return acc

        return f, dict

    jf = run_both(make, [(x, 0.5 * k) for k in range(7)])
    assert compiled_calls(jf) >= 3


def test_a_schedule_computed_inside_the_step_sets_the_lr_that_step_uses():
    """The step sets the groups' lr from its step number, then steps: the
    update must use the lr this call computed (the stored value), never the
    one the group held on entry (the previous call's)."""
    x, y = _batch()

    def make():
        model = nn.Linear(4, 2)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y, k):
            lr = 0.1 * min(1.0, (k + 1) / 4)  # warm-up
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, _observed(model, opt)

    jf = run_both(make, [(x, y, k) for k in range(10)])
    assert compiled_calls(jf) >= 4, jf.report
    # explain() names the input: the lr computed from the step number.
    assert "min(1.0, truediv(add(L['k'], 1), 4))" in str(jf.report)


def test_python_that_may_raise_on_changing_numbers_is_computed_before_the_graph():
    """A cosine schedule (`math.cos`) and an exponential decay (`**`) on the
    step number: operations that may raise, so a compiled call computes them
    before its graph, from that call's numbers, and uses the results as
    number inputs and in what it returns."""
    x, y = _batch()

    def make():
        model = nn.Linear(4, 2)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y, k):
            cosine = 0.5 * (1 + math.cos(math.pi * k / 10))
            lr = 0.1 * cosine * 0.9**k
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean() * int(1 + k / 4)
            loss.backward()
            opt.step()
            return loss, lr, f"{math.sqrt(lr):.6f}"

        return step, _observed(model, opt)

    jf = run_both(make, [(x, y, k) for k in range(10)])
    last = jf.report.compiles[-1]
    assert not last.breaks and last.split is None, jf.report  # one graph, no break
    assert compiled_calls(jf) >= 5, jf.report


def test_python_on_changing_numbers_that_raises_runs_the_call_as_usual():
    """`math.log(scale)` of a negative scale: the compiled call finds it
    before running anything and falls back; the frame raises where eager
    does, after the effects eager made before it."""

    @janus.jit.skip  # (a driver: the hook must not trace through the calls it makes)
    def run(compiled: bool):
        seen = []

        def f(x, scale):
            seen.append(scale)
            return x * math.log(scale)

        fn = janus.jit(f) if compiled else f
        out = [fn(janus.ones(2), s).tolist() for s in (1.0, 2.0, 3.0, 4.0, 5.0)]
        with pytest.raises(ValueError, match="math domain error"):
            fn(janus.ones(2), -1.0)
        out.append(fn(janus.ones(2), 6.0).tolist())
        return out, seen, fn

    with janus._C.capture.disabled():  # (the reference: no frame of it compiled)
        eager, seen_eager, _ = run(False)
    jit, seen_jit, jf = run(True)
    assert seen_eager == seen_jit and len(seen_jit) == 7
    np.testing.assert_allclose(np.array(eager), np.array(jit), rtol=1e-6)
    last = jf.report.compiles[-1]
    assert not last.breaks and last.split is None and compiled_calls(jf) >= 3, jf.report


def test_two_computations_of_a_changing_number_that_share_a_name_stay_apart():
    """`k ** 2` and `math.pow(k, 2)` on a data number: both `pow`, but an int
    and a float. Each call must return each as eager computes it."""

    def make():
        def f(x, k):
            return x * k, k**2, math.pow(k, 2)

        return f, dict

    jf = run_both(make, [(janus.ones(2), k) for k in range(6)])
    assert compiled_calls(jf) >= 2


def test_a_tensor_of_changing_numbers_is_a_graph_input():
    """`janus.tensor([word])` of a number that changes from call to call (a
    token id from a Python data structure) is a graph input each compiled
    call makes: one graph for every value, where it was a graph break.
    Nested lists, floats mixed in and an explicit dtype keep eager's dtype
    and shape; the tensor may be changed in place like any new tensor."""

    class Token:
        def __init__(self, word):
            self.word = word

    def make():
        emb = nn.Embedding(10, 3)
        opt = janus.optim.SGD(emb.parameters(), lr=0.1)

        def step(token, scale):
            opt.zero_grad()
            x = emb(janus.tensor([token.word]))
            weights = janus.tensor([[token.word, 2], [scale, 1]])
            exact = janus.tensor([scale], dtype=janus.float64)
            weights.mul_(0.5)
            loss = x.sum() * weights.sum() + exact.float().sum()
            loss.backward()
            opt.step()
            return loss, weights, exact

        return step, lambda: {"emb": emb}

    calls = [(Token(k % 7), 0.25 * k) for k in range(12)]
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 7
    last = jf.report.compiles[-1]
    assert last.split is None and not last.breaks
    inputs = str(jf.report)
    assert "tensor([L['token'].word], dtype=int64)" in inputs
    assert "tensor([[L['token'].word, 2], [L['scale'], 1]], dtype=float32)" in inputs


def test_a_tensor_of_numbers_read_from_tensor_data_is_still_a_break():
    """`tensor([loss.item()])` depends on the call's own data: no graph input
    can hold it, and the frame splits there as before."""

    def make():
        w = janus.ones(3, requires_grad=True)

        def step(x):
            loss = (w * x).sum()
            loss.backward()
            return janus.tensor([loss.item(), 1.0]) * 2

        return step, lambda: {"w": w}

    jf = run_both(make, [(janus.full((3,), float(k)),) for k in range(6)])
    assert any(b.kind == "data-dependent" for t in jf.report.compiles for b in t.breaks)


def test_an_index_a_kernel_refuses_raises_eagers_error_at_the_users_line():
    """A compiled call whose data a kernel refuses (an embedding index out of
    range) runs as usual instead: eager's IndexError from the user's line,
    and nothing of the call committed. (It used to raise the program's
    error, naming an IR node, from the caller's line.)"""
    emb = nn.Embedding(10, 3)

    def step(words):
        x = emb(words)
        x.sum().backward()

    jf = janus.jit(step)
    for k in range(6):
        jf(janus.tensor([k]))
    assert compiled_calls(jf) >= 2
    grad = emb.weight.grad.clone()
    with pytest.raises(IndexError, match="embedding") as info:
        jf(janus.tensor([12]))
    lines = [str(entry.statement).strip() for entry in info.traceback]
    assert "x = emb(words)" in lines
    assert bool((emb.weight.grad == grad).all())
    jf(janus.tensor([3]))  # and the next call compiles as before
    assert compiled_calls(jf) >= 3
