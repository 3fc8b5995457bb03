"""Second derivatives: gradient rules are written with ops, so they differentiate
again. Checked against PyTorch (and against finite differences without it)."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(3)


def a(*shape, low=None):
    if low is not None:
        return rng.random(shape) + low
    return rng.standard_normal(shape)


WEIGHTS = a(2, 5)

CASES = {
    "tanh_sigmoid_exp": (lambda L, x: (x.tanh() * x.sigmoid() + x.exp()).sum(), [a(3, 4)]),
    "mul_div_pow": (lambda L, x, y: ((x * y) / (y * y + 1) + x**3).sum(), [a(3), a(3)]),
    "log_sqrt": (lambda L, x: (x.log() * x.sqrt()).sum(), [a(4, low=0.5)]),
    "matmul": (lambda L, x, w: ((x @ w).tanh()).sum(), [a(2, 3), a(3, 4)]),
    "softmax": (lambda L, x: (L.softmax(x, 1) ** 2).sum(), [a(2, 5)]),
    "log_softmax": (lambda L, x: (L.log_softmax(x, 1) * L.tensor(WEIGHTS)).sum(), [a(2, 5)]),
    "reductions": (
        lambda L, x: (x.mean(1) ** 2).sum() + x.var() + (x.amax(0) ** 2).sum(),
        [a(3, 4)],
    ),
    "shape_and_index": (
        lambda L, x: ((x.t()[1:, ::2] ** 2).reshape(-1) * L.arange(2)).sum(),
        [a(2, 3)],
    ),
    "gather_where": (
        lambda L, x: (L.where(x > 0, x, x * x).gather(1, L.tensor([[1], [0]])) ** 3).sum(),
        [a(2, 3)],
    ),
    "conv2d": (
        lambda L, x, w: (L.nn.functional.conv2d(x, w, padding=1, stride=2) ** 2).sum(),
        [a(1, 2, 5, 5), a(3, 2, 3, 3)],
    ),
    "nll_loss": (
        lambda L, x: L.nn.functional.nll_loss(L.log_softmax(x * x, 1), L.tensor([1, 0, 2])),
        [a(3, 4)],
    ),
    "avg_pool": (lambda L, x: (L.nn.functional.avg_pool2d(x * x, 2) ** 2).sum(), [a(1, 1, 4, 4)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hessian_vector_products_match_pytorch(name):
    torch = torch_or_skip()
    fn, arrays = CASES[name]
    v = [rng.standard_normal(x.shape) for x in arrays]
    results = []
    for L in (janus, torch):
        xs = [L.tensor(x, requires_grad=True) for x in arrays]
        grads = L.autograd.grad(fn(L, *xs), xs, create_graph=True)
        total = sum((g * L.tensor(w)).sum() for g, w in zip(grads, v))
        second = L.autograd.grad(total, xs, allow_unused=True)
        results.append(([g.detach() for g in grads], second))
    (jg, js), (tg, ts) = results
    for j, t in zip(jg, tg):
        assert_close(j, t, rtol=1e-6, atol=1e-8, what="first derivative")
    for j, t in zip(js, ts):
        if t is None:
            assert j is None or not np.any(np.asarray(j))
        else:
            assert_close(j, t, rtol=1e-6, atol=1e-8, what="second derivative")
