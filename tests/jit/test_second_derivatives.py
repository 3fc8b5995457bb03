"""Second derivatives through a compiled frame, differentially: the frame
returns a result autograd tracks, and the caller differentiates its gradient
again (`create_graph=True`). The compiled node then computes the result
again as eager ops (jit/rematerialize.py); every figure must match a run
with the hook off."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from tests.jit.differential import compiled_calls

import janus
import janus.nn as nn


def _run(fn, step, jit: bool, calls: int = 5):
    """Calls `step(f)` `calls` times, with `f` = `janus.jit(fn)` or `fn` run
    with the hook off; returns (the jitted function or None, the results).
    `step` itself runs in the interpreter: traced, it would inline `f`."""
    f = janus.jit(fn) if jit else fn
    step = janus.jit.skip(step)
    janus.manual_seed(7)
    with contextlib.nullcontext() if jit else janus._C.capture.disabled():
        out = [step(f) for _ in range(calls)]
    return (f if jit else None), out


def _agree(make):
    """Runs `step(f)` from a fresh `make()` = (fn, step) compiled and eagerly;
    asserts the results agree and returns the jitted function."""
    jf, jitted = _run(*make(), jit=True)
    _, eager = _run(*make(), jit=False)
    for got, want in zip(jitted, eager):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return jf


def test_a_gradient_penalty_trains_the_same_through_a_compiled_critic():
    """WGAN-GP's penalty: the gradient of the critic's output with respect to
    its input, made with create_graph, is part of the loss; its backward
    differentiates through the compiled critic a second time."""

    def make():
        janus.manual_seed(0)
        critic = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = janus.optim.SGD(critic.parameters(), lr=0.1)

        def score(x):
            return critic(x).sum()

        def step(f):
            x = janus.randn(6, 4, requires_grad=True)
            out = f(x)
            (g,) = janus.autograd.grad(out, x, create_graph=True)
            penalty = ((g.norm(dim=1) - 1) ** 2).mean()
            loss = out / 6 + 10 * penalty
            opt.zero_grad()
            loss.backward()
            opt.step()
            params = [p.detach().numpy().copy() for p in critic.parameters()]
            return [loss.detach().numpy(), *params]

        return score, step

    assert compiled_calls(_agree(make)) >= 3


def test_a_hessian_vector_product_through_a_compiled_frame():
    w = janus.randn(5, 5)

    def energy(x):
        return (x @ w).tanh().pow(2).sum() + (x**3).sum()

    def step(f):
        x = janus.randn(5, requires_grad=True)
        v = janus.randn(5)
        (g,) = janus.autograd.grad(f(x), x, create_graph=True)
        (hv,) = janus.autograd.grad((g * v).sum(), x)
        return [g.detach().numpy(), hv.numpy()]

    assert compiled_calls(_agree(lambda: (energy, step))) >= 3


def test_the_replay_draws_the_calls_random_numbers_and_applies_its_in_place_updates():
    """Dropout's mask in the replay is the compiled call's (the stream
    position shifts per call); a tensor made and updated in place inside the
    frame is replayed as the same writes."""

    def fn(x):
        h = janus.zeros(3, 4)
        h.add_(x)
        h.mul_(janus.tensor([1.0, 2.0, 3.0, 4.0]))
        return nn.functional.dropout(h.sin(), 0.5, training=True).pow(2).sum()

    def step(f):
        x = janus.randn(3, 4, requires_grad=True)
        (g,) = janus.autograd.grad(f(x), x, create_graph=True)
        (gg,) = janus.autograd.grad(g.sum(), x)
        return [g.detach().numpy(), gg.numpy()]

    assert compiled_calls(_agree(lambda: (fn, step))) >= 3


def test_an_input_changed_in_place_after_the_call_is_reported_as_eager_reports_it():
    w = janus.randn(4, requires_grad=True)

    def fn(x):
        return (x * w).sum()

    jf = janus.jit(fn)
    for _ in range(3):
        jf(janus.randn(4, requires_grad=True))
    x = janus.randn(4, requires_grad=True)
    out = jf(x)
    assert type(out.grad_fn).__name__ == "CompiledFrameBackward"
    with janus.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        janus.autograd.grad(out, x, create_graph=True)


def test_a_hook_on_the_input_runs_as_often_as_eagerly_under_create_graph():
    """The replayed gradient of the compiled node is taken on the engine's
    behalf: the hook on the frame's input runs when the engine reaches the
    input, not once more inside the node's rule."""

    def make():
        janus.manual_seed(3)
        w = janus.randn(3, 3)

        def energy(x):
            return (x @ w).tanh().pow(2).sum()

        def step(f):
            x = janus.randn(3, requires_grad=True)
            seen = []
            x.register_hook(lambda g: seen.append(g.detach().numpy().copy()) or g)
            (g,) = janus.autograd.grad(f(x), x, create_graph=True)
            g.sum().backward()
            return [g.detach().numpy(), x.grad.numpy(), len(seen), *seen]

        return energy, step

    assert compiled_calls(_agree(make)) >= 3
