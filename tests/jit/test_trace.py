"""janus.jit.trace: replays of a recorded training step give the eager
results (losses, parameters, gradients) step after step, commit nothing when
they fail, and re-record for new input signatures and seeds."""

import numpy as np
import pytest

import janus
import janus.nn.functional as F


def _mlp():
    janus.manual_seed(0)
    return janus.nn.Sequential(
        janus.nn.Linear(6, 16), janus.nn.Tanh(), janus.nn.Dropout(0.25), janus.nn.Linear(16, 3)
    )


def _lstm():
    janus.manual_seed(0)
    return janus.nn.ModuleDict(
        {
            "embed": janus.nn.Embedding(11, 8),
            "cell": janus.nn.LSTMCell(8, 12),
            "head": janus.nn.Linear(12, 11),
        }
    )


def _mlp_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _lstm_step(model, opt):
    def step(tokens):
        opt.zero_grad()
        h = c = janus.zeros(tokens.shape[1], 12)
        loss = 0.0
        for t in range(tokens.shape[0] - 1):
            h, c = model["cell"](model["embed"](tokens[t]), (h, c))
            loss = loss + F.cross_entropy(model["head"](h), tokens[t + 1])
        loss = loss / (tokens.shape[0] - 1)
        loss.backward()
        janus.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    return step


def _batches(kind, n):
    rng = np.random.default_rng(1)
    if kind == "mlp":
        return [
            (
                janus.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
                janus.tensor(rng.integers(0, 3, 5)),
            )
            for _ in range(n)
        ]
    return [(janus.tensor(rng.integers(0, 11, (6, 4))),) for _ in range(n)]


@pytest.mark.parametrize("kind", ["mlp", "lstm"])
def test_traced_training_matches_eager_over_steps(kind):
    make, make_step = (_mlp, _mlp_step) if kind == "mlp" else (_lstm, _lstm_step)
    runs = {}
    for mode in ("eager", "traced"):
        model = make()
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = make_step(model, opt)
        if mode == "traced":
            step = janus.jit.trace(step)
        janus.manual_seed(1)
        losses = [float(step(*batch)) for batch in _batches(kind, 5)]
        runs[mode] = (losses, model, step)
    (el, em, _), (tl, tm, traced) = runs["eager"], runs["traced"]
    np.testing.assert_allclose(tl, el, rtol=1e-5, atol=1e-6)
    for pe, pt in zip(em.parameters(), tm.parameters()):
        np.testing.assert_allclose(pt.detach().numpy(), pe.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pt.grad.numpy(), pe.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert len(traced._traces) == 1  # a warm-up call, a recording, three replays


def test_a_failing_replay_commits_nothing():
    w = janus.tensor([1.0, 2.0, 3.0])

    def update(idx):
        w.add_(janus.ones(3))
        return janus.nn.functional.embedding(idx, w.reshape(3, 1))

    traced = janus.jit.trace(update, warmup=0)
    traced(janus.tensor([0, 1]))
    before = w.numpy().copy()
    with pytest.raises(IndexError, match="index out of range"):
        traced(janus.tensor([0, 7]))
    np.testing.assert_array_equal(w.numpy(), before)
    traced(janus.tensor([2, 1]))
    np.testing.assert_array_equal(w.numpy(), before + 1)


def test_new_signatures_and_seeds_record_again():
    traced = janus.jit.trace(lambda x: janus.nn.functional.dropout(x * 2, 0.5, True), warmup=0)
    janus.manual_seed(3)
    a = traced(janus.ones(8))
    b = traced(janus.ones(8))
    janus.manual_seed(3)
    np.testing.assert_array_equal(traced(janus.ones(8)).numpy(), a.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())  # the stream advanced between calls
    traced(janus.ones(2, 3))
    assert len(traced._traces) == 2
    with pytest.raises(TypeError, match="not a Tensor"):
        traced([1.0])


def test_replays_read_each_calls_grad_outputs():
    """`autograd.grad` detaches `grad_outputs` (and the function detaches `x`):
    a detached tensor shares its input's array, and a replay must read the
    current call's values through it, not the recorded call's."""

    def input_grad(x, g):
        x = x.detach().requires_grad_()
        out = x * x + x.sin()
        (gx,) = janus.autograd.grad(out, x, grad_outputs=g)
        return gx

    traced = janus.jit.trace(input_grad, warmup=0)
    rng = np.random.default_rng(3)
    for _ in range(4):
        x, g = rng.standard_normal((2, 5)).astype(np.float32)
        expected = (2 * x + np.cos(x)) * g
        np.testing.assert_allclose(
            traced(janus.tensor(x), janus.tensor(g)).numpy(), expected, rtol=1e-5, atol=1e-6
        )
    assert len(traced._traces) == 1  # one recording, replayed three times
