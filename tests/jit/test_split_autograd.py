"""Splits around autograd (src/janus/jit/split.py, backward.py): a frame
that breaks between its forward and `loss.backward()` hands the loss to
Python with a compiled backward node, and the rest resumes compiled around
the backward call. Gradient hooks must run as often, and on the gradients,
they do eagerly. Each test runs the program eagerly and compiled and
compares everything a user can see."""

import contextlib
import os
import sys

import numpy as np
from differential import compiled_calls, resume_hits, run_both

import janus
from janus import _C, nn

capture = _C.capture


def test_break_between_forward_and_backward_splits_and_trains_the_same(hook_on, capsys):
    """Output of `loss.item()` between forward and backward: the forward runs as a
    graph whose loss carries a compiled backward node, the write in Python,
    and the rest (zero_grad, backward through that node, the update) resumes
    compiled around the backward call."""

    def make():
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            loss = ((model(x) - y) ** 2).mean()
            print("loss", loss.item(), file=sys.stdout)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.detach()

        return step, lambda: {"model": model, "opt": opt}

    janus.manual_seed(5)
    calls = [(janus.randn(5, 4), janus.randn(5, 1)) for _ in range(8)]
    jf = run_both(make, calls)
    printed = [float(line.split()[1]) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(printed[:8], printed[8:], rtol=1e-5)
    assert compiled_calls(jf) >= 6
    [entry] = [e for _, e in jf.entries]
    assert entry.backward is not None  # the loss leaves the graph tracked
    assert resume_hits(jf) > 0


def test_a_resumed_step_reads_the_gradients_of_each_call(hook_on):
    """A break after backward: the resumed frame's optimizer step reads
    gradients that its own graph did not make (new tensors on every call);
    it must read them through the parameters, not keep the first ones."""

    def make():
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            print(loss.item(), file=sys.stdout)
            opt.step()
            return loss.detach()

        return step, lambda: {"model": model, "opt": opt}

    janus.manual_seed(6)
    jf = run_both(make, [(janus.randn(5, 4), janus.randn(5, 1)) for _ in range(8)])
    assert compiled_calls(jf) >= 6
    assert resume_hits(jf) >= 4


def test_retain_grad_before_a_split_backward_keeps_one_gradient(hook_on):
    """`retain_grad()` runs in Python (a break); the rest of the frame
    computes the loss as a graph whose tracked result carries a compiled
    backward. Compiling that backward must not run the retained-gradient
    hook (it did, once, with the placeholder gradient: y.grad came out 2)."""

    def make():
        w = janus.ones(3, requires_grad=True)

        def step(x):
            y = w * x
            y.retain_grad()
            y.sum().backward()
            return y.grad

        return step, lambda: {"w.grad": w.grad}

    jf = run_both(make, [(janus.ones(3) * k,) for k in range(1, 8)])
    assert resume_hits(jf) > 0


def test_a_gradient_hook_on_a_parameter_runs_once_per_backward(hook_on):
    """A hook registered outside the frame, on a parameter the frame's
    compiled forward reads: it runs when the engine reaches the parameter
    from the frame's backward node, once per call, on the real gradient, and
    what it returns is what accumulates."""

    def make():
        model = nn.Linear(4, 2)
        seen = []
        model.weight.register_hook(lambda g: seen.append(g.sum().item()) or g * 2)

        def step(x):
            loss = model(x).pow(2).mean()
            print("loss", loss.item())
            loss.backward()
            return loss.detach()

        return step, lambda: {"model": model, "seen": list(seen)}

    janus.manual_seed(2)
    jf = run_both(make, [(janus.randn(5, 4),) for _ in range(6)])
    [entry] = [e for _, e in jf.entries]
    assert entry.backward is not None and entry.calls >= 3


def test_a_backward_that_reaches_a_hook_runs_in_python_each_call(hook_on):
    """A hook registered on a parameter between calls, then removed: while it
    is there, the compiled step splits at `backward()` (a hook is Python the
    engine calls) and the hook sees every call's gradient; a guard on the
    parameter's hooks sends the call there. After `remove()` the hookless
    graph runs again."""

    def run(jit: bool):
        janus.manual_seed(4)
        model = nn.Linear(4, 2)
        seen = []

        def step(x):
            loss = model(x).pow(2).mean()
            loss.backward()
            return loss.detach()

        f = janus.jit(step) if jit else step
        with contextlib.nullcontext() if jit else capture.disabled():
            for k in range(12):
                if k == 4:
                    handle = model.weight.register_hook(
                        lambda g: seen.append(g.sum().item()) or g * 2
                    )
                if k == 8:
                    handle.remove()
                f(janus.randn(3, 4))
        return f, seen, model.weight.grad.numpy(), model.bias.grad.numpy()

    jf, *jitted = run(jit=True)
    _, *eager = run(jit=False)
    assert len(jitted[0]) == len(eager[0]) == 4
    for got, want in zip(jitted, eager):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert compiled_calls(jf) >= 8
    breaks = [b for t in jf.report.compiles for b in t.breaks]
    assert any("gradient hooks" in b.explanation for b in breaks)


def test_zero_grad_before_a_split_resets_gradients_the_translated_call_had_none_of(hook_on):
    """A second model trained by the same code splits at once (the break
    point is known), on a call whose gradients are still None: zero_grad
    changes nothing then, but must be committed by every later call, where
    gradients are there. (They summed over the steps.)"""

    def make():
        model = nn.Linear(3, 2)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)
        log = []

        def step(x):
            opt.zero_grad()
            log.append(print_to_nowhere(x.shape))  # a break right after zero_grad
            loss = model(x).pow(2).sum()
            loss.backward()
            opt.step()
            return loss

        return step, lambda: {"model": model, "log": list(log)}

    calls = [(janus.full((3,), 0.5 * k),) for k in range(5)]
    run_both(make, calls)  # the first model: the translations learn the split
    jf = run_both(make, calls)
    assert jf.report.compiles[0].split is not None and compiled_calls(jf) >= 3


def print_to_nowhere(*values):
    with open(os.devnull, "w") as nowhere:  # (a call with no graph form: a break)
        print(*values, file=nowhere)
    return len(values)
