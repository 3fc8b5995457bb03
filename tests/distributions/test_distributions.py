"""Distributions against PyTorch: log_prob, entropy and their gradients; sampling statistics."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(8)
LOGITS = rng.standard_normal((3, 5)).astype(np.float32)
PROBS = (rng.random((3, 5)) + 0.1).astype(np.float32)
LOC, SCALE = rng.standard_normal(4).astype(np.float32), (rng.random(4) + 0.5).astype(np.float32)
VALUES = rng.standard_normal(4).astype(np.float32)
BPROBS = (rng.random(4) * 0.8 + 0.1).astype(np.float32)
BVALUES = np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)


def categorical_logits(L, p):
    d = L.distributions.Categorical(logits=p)
    return d.log_prob(L.tensor([0, 4, 2])), d.entropy(), d.probs, d.logits


def categorical_probs(L, p):
    d = L.distributions.Categorical(probs=p)
    return d.log_prob(L.tensor([[1, 3, 0]]).t()), d.entropy(), d.probs


def normal(L, p):
    d = L.distributions.Normal(p, L.tensor(SCALE))
    return d.log_prob(L.tensor(VALUES)), d.entropy(), d.mean, d.stddev


def normal_scale(L, p):
    d = L.distributions.Normal(L.tensor(LOC), p)
    return d.log_prob(L.tensor(VALUES)), d.entropy()


def bernoulli_probs(L, p):
    d = L.distributions.Bernoulli(probs=p)
    return d.log_prob(L.tensor(BVALUES)), d.entropy(), d.mean


def bernoulli_logits(L, p):
    d = L.distributions.Bernoulli(logits=p)
    return d.log_prob(L.tensor(BVALUES)), d.entropy(), d.probs


CASES = {
    "categorical_logits": (categorical_logits, LOGITS),
    "categorical_probs": (categorical_probs, PROBS),
    "normal": (normal, LOC),
    "normal_scale_grad": (normal_scale, SCALE),
    "bernoulli_probs": (bernoulli_probs, BPROBS),
    "bernoulli_logits": (bernoulli_logits, LOGITS[0, :4]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pytorch(name):
    torch = torch_or_skip()
    fn, param = CASES[name]
    results = []
    for L in (janus, torch):
        p = L.tensor(param, requires_grad=True)
        outs = fn(L, p)
        sum(o.sum() * (i + 1) for i, o in enumerate(outs)).backward()
        results.append(([o.detach() for o in outs], p.grad))
    (jo, jg), (to, tg) = results
    for k, (a, b) in enumerate(zip(jo, to)):
        assert_close(a, b, rtol=1e-5, atol=1e-6, what=f"output {k}")
    assert_close(jg, tg, rtol=1e-4, atol=1e-6, what="gradient")


def test_sampling_statistics_and_shapes():
    janus.manual_seed(0)
    cat = janus.distributions.Categorical(probs=janus.tensor([0.2, 0.3, 0.5]))
    draws = cat.sample((20000,))
    assert draws.shape == (20000,) and draws.dtype is janus.int64
    freq = np.bincount(draws.numpy(), minlength=3) / 20000
    np.testing.assert_allclose(freq, [0.2, 0.3, 0.5], atol=0.015)
    batched = janus.distributions.Categorical(logits=janus.zeros(4, 6))
    assert batched.sample().shape == (4,) and batched.sample((2, 3)).shape == (2, 3, 4)
    normal = janus.distributions.Normal(janus.tensor([1.0, -2.0]), janus.tensor([0.5, 2.0]))
    z = normal.sample((20000,))
    np.testing.assert_allclose(z.mean(0).numpy(), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(0).numpy(), [0.5, 2.0], rtol=0.03)
    bern = janus.distributions.Bernoulli(probs=janus.tensor([0.1, 0.9]))
    np.testing.assert_allclose(bern.sample((20000,)).mean(0).numpy(), [0.1, 0.9], atol=0.015)


def test_rsample_carries_gradients_and_sample_does_not():
    loc = janus.tensor([0.0, 1.0], requires_grad=True)
    d = janus.distributions.Normal(loc, 1.0)
    assert d.rsample().requires_grad and not d.sample().requires_grad
    d.rsample((3,)).sum().backward()
    assert loc.grad.tolist() == [3.0, 3.0]


def test_policy_gradient_step_as_rl_scripts_write_it():
    torch = torch_or_skip()
    weights = rng.standard_normal((4, 2)).astype(np.float32)
    obs = rng.standard_normal((5, 4)).astype(np.float32)
    actions = np.array([0, 1, 1, 0, 1])
    returns = rng.standard_normal(5).astype(np.float32)
    grads = []
    for L in (janus, torch):
        w = L.tensor(weights, requires_grad=True)
        dist = L.distributions.Categorical(logits=L.tensor(obs) @ w)
        loss = (
            -(dist.log_prob(L.tensor(actions)) * L.tensor(returns)).mean()
            - 0.01 * dist.entropy().mean()
        )
        loss.backward()
        grads.append(w.grad)
    assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="not both"):
        janus.distributions.Categorical(probs=janus.ones(2), logits=janus.ones(2))
