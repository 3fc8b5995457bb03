"""Python values computed from tensor data inside a compiled frame, and the
text it prints: `total += loss.item()`, f-strings and `round` of such
numbers are host values that a compiled call computes again after its graph
(jit/values.py `HostOp`); `print` of numbers and text is an effect it
commits after the graph, in program order. Each test runs the program
eagerly and compiled and compares everything a user can see."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn
import janus.nn.functional as F


def _epoch_program(make_log):
    """An epoch over fixed batches: a training step per batch, inline in the
    loop, with `make_log(i, loss, total)` called for its printing."""

    def make():
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        g = np.random.default_rng(0)
        batches = [
            (janus.tensor(g.standard_normal((5, 4), np.float32)), janus.tensor(g.integers(0, 3, 5)))
            for _ in range(3)
        ]

        def epoch(k):
            total = 0.0
            for i, (x, y) in enumerate(batches):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                total += loss.item()
                make_log(i, loss, total)
            mean = total / len(batches)
            print(f"epoch {k}: mean loss {mean:.5f}", "done", sep=" | ")
            return round(mean, 6)

        return epoch, lambda: {"model": model, "opt": opt}

    return make


def test_an_epoch_that_prints_and_sums_its_losses_compiles_whole(capsys):
    """Before, `total += loss.item()` and the print inside the loop were graph
    breaks in a loop: the epoch ran eagerly. Now it is one graph per call."""

    def log(i, loss, total):
        print(f"  batch {i}: loss {loss.item():.5f}, running {total:.5f}")

    jf = run_both(_epoch_program(log), [(k,) for k in range(5)], rtol=1e-4)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 40 and out[:20] == out[20:]  # eager, then compiled: the same lines
    assert compiled_calls(jf) >= 2
    # Only the first step breaks (it creates the optimizer's state).
    assert [b.kind for t in jf.report.compiles for b in t.breaks] == ["effect"], jf.explain()


def test_host_values_stored_on_objects_are_computed_after_the_graph():
    """An exponential moving average of the loss kept on an object: the stored
    value is computed from each call's loss and the value the attribute held
    on entry, never the first call's."""

    class Tracker:
        def __init__(self):
            self.ema = 0.0
            self.best = float("inf")
            self.text = ""

    def make():
        model = nn.Linear(3, 1)
        tracker = Tracker()

        def step(x):
            loss = model(x).pow(2).mean()
            tracker.ema = 0.9 * tracker.ema + 0.1 * loss.item()
            tracker.best = min(tracker.best, -abs(loss.item()))
            tracker.ema = tracker.ema * 0.5 + 0.01  # reads the value just stored
            tracker.text = "%.4f" % tracker.ema + str(int((x > 0).sum().item()))  # noqa: UP031
            return loss.detach()

        return step, lambda: {"ema": tracker.ema, "best": tracker.best, "text": tracker.text}

    calls = [(janus.randn(4, 3),) for _ in range(10)]
    jf = run_both(make, calls)
    # Each attribute is guarded until it has held `config.number_values`
    # values, then read as data on entry: no more recompiles.
    assert len(jf.report.compiles) <= 4 and compiled_calls(jf) >= 6, jf.explain()
    assert not [b for t in jf.report.compiles for b in t.breaks], jf.explain()


def test_numbers_read_from_tensor_data_are_graph_operands():
    """`x * loss.item()` and Python's float arithmetic on such numbers (with
    constants and with a number read as data on entry) are computed by the
    graph, as Python computes them: the same bits as eager, and no break."""

    def make():
        state = {"ema": 0.5}

        def fn(x, k):
            top = x.amax()  # (a max: the same bits however it is computed)
            scale = top.item()
            state["ema"] = 0.9 * state["ema"] + 0.1 * scale  # a changing number
            y = x * scale + state["ema"] * x - x / (2.0 * scale + 1.0)
            n = (x > 0).sum().item()  # an int
            z = x * n + x * float(top) + -scale * x + (x > -abs(scale))
            return y, z * (k * top.item()), scale

        return fn, lambda: dict(state)

    janus.manual_seed(3)
    jf = run_both(make, [(janus.randn(4, 3), k % 3) for k in range(9)], rtol=0, atol=0)
    assert compiled_calls(jf) >= 4, jf.explain()
    assert not [b for t in jf.report.compiles for b in t.breaks], jf.explain()


def test_int_arithmetic_on_a_number_read_stays_a_break():
    """Python's ints never overflow, int64 tensors do: `x * (n * 3)` with `n`
    read from tensor data is baked (a break), and still gives eager's values."""

    def make():
        def fn(x):
            n = (x > 0).sum().item()
            return x * (n * 3)

        return fn, dict

    janus.manual_seed(4)
    jf = run_both(make, [(janus.randn(5),) for _ in range(5)], rtol=0, atol=0)
    assert "data-dependent" in {b.kind for t in jf.report.compiles for b in t.breaks}


def test_a_number_read_before_an_in_place_update_keeps_the_value_read():
    """A compiled call reads `loss.item()` after its graph; it read the
    tensor's final value, so an in-place update after the read leaked into
    the number (6.0 came back as 7.0)."""

    def make():
        def fn(x):
            loss = (x * 2).sum()
            before = loss.item()
            loss.add_(1)
            return before, loss.item(), x * before

        return fn, dict

    jf = run_both(make, [(janus.full((3,), float(k)),) for k in range(5)], rtol=0, atol=0)
    assert compiled_calls(jf) >= 3


def test_a_decision_on_a_computed_host_value_splits_there():
    def make():
        w = janus.randn(3)
        log = []

        def fn(x):
            s = (x * w).sum()
            ratio = s.item() / 2 + 1
            if ratio > 1:  # a decision on data: the split point
                log.append("up")
            return s * 2

        return fn, lambda: {"log": list(log)}

    signs = [1, -1, 1, 1, -1, 1, -1]
    jf = run_both(make, [(janus.full((3,), float(s)),) for s in signs])
    # `ratio` and `ratio > 1` are host values; the branch on it is the split.
    splits = [t.split.instruction.op for t in jf.report.compiles if t.split is not None]
    assert splits and splits[0].startswith("POP_JUMP"), jf.explain()
    assert compiled_calls(jf) >= 3, jf.explain()


@pytest.mark.parametrize(
    "printing",
    [
        lambda t: print(t),  # a tensor: its text shows autograd state
        lambda t: print(t.item(), file=sys.stdout),  # to a file
    ],
    ids=["tensor", "file"],
)
def test_prints_that_cannot_wait_for_the_graph_are_breaks(printing, capsys):
    def make():
        def fn(x):
            y = x * 2
            printing(y.sum())
            return y + 1

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(2),)] * 4)
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == out[4:]
    kinds = {b.kind for t in jf.report.compiles for b in t.breaks}
    assert "unsupported-call" in kinds


def test_prints_and_other_effects_keep_their_order(capsys):
    def make():
        seen = []

        def fn(x, tag):
            print("before", tag)
            seen.append(x.sum().item())
            print("after", x.max().item())
            return x * 3

        return fn, lambda: {"seen": list(seen)}

    run_both(make, [(janus.arange(3.0) + k, "t") for k in range(5)])
    out = capsys.readouterr().out.splitlines()
    assert out[:10] == out[10:]
    assert out[2:4] == ["before t", "after 3.0"]


def test_a_division_by_a_host_value_raises_where_eager_does():
    """`a / b.item()` could raise on a later call (b = 0): a compiled call
    computes host values after its graph has updated the parameters, too late
    to raise where eager does. So such a division is baked (a break), and the
    program sees ZeroDivisionError with the parameters eager leaves."""

    def run(jit: bool):
        janus.manual_seed(0)
        model = nn.Linear(2, 1)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(x, d):
            loss = model(x).pow(2).mean()
            ratio = loss.item() / d.sum().item()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return ratio

        f = janus.jit(step) if jit else janus.jit.skip(step)
        seen = []
        for k in range(6):
            try:
                seen.append(f(janus.ones(3, 2) * k, janus.tensor([float(k != 4)])))
            except ZeroDivisionError:
                seen.append("ZeroDivisionError")
        return seen, [p.detach().numpy().copy() for p in model.parameters()]

    (got, params), (want, eager_params) = run(True), run(False)
    assert got[4] == want[4] == "ZeroDivisionError"
    np.testing.assert_allclose(got[:4] + got[5:], want[:4] + want[5:], rtol=1e-5)
    for p, q in zip(params, eager_params):
        np.testing.assert_allclose(p, q, rtol=1e-5)


def test_max_and_min_of_numbers_read_are_graph_operands():
    """`max(0.0, loss.item())` used as a tensor operand: the graph keeps a
    value unless the next is greater, as Python's max does (nan included);
    it was a break. Hypothesis found it on 3.12."""

    def make():
        def fn(x, y):
            total = max(0.0, x.sum().item()) - 1
            low = min(x.max().item(), y.min().item(), 0.25)
            return (x * ((x + x).relu().sum().item() * 0.5 - total) / 4).tanh() + low, total

        return fn, dict

    janus.manual_seed(0)
    calls = [(janus.randn(3) * (k - 2), janus.randn(3)) for k in range(6)]
    calls.append((janus.tensor([float("nan"), 1.0, 2.0]), janus.ones(3)))
    calls.append((janus.ones(3), janus.tensor([2.0, float("nan"), 1.0])))
    jf = run_both(make, calls)
    assert not any(t.breaks for t in jf.report.compiles)
    assert compiled_calls(jf) >= 5
