"""Programs for the CUDA runtime's tests: each a function of tensors and its
inputs, recorded into a graph (`janus.jit.record`) and run by the generated
kernels (on the host in tests/jit/test_cuda_codegen.py, on a GPU in
tests/cuda/test_cuda_program.py) against the CPU runtime."""

from __future__ import annotations

import numpy as np

import janus
import janus.nn.functional as F

_rng = np.random.default_rng(0)


def _f(*shape):
    return janus.tensor(_rng.standard_normal(shape, dtype=np.float32))


def _i(high, *shape):
    return janus.tensor(_rng.integers(0, high, shape))


def elementwise_broadcast(x, y):
    z = (x * y + 1.5).tanh() - (y / 3).exp()
    return z.sigmoid() * x.clamp(-0.5, 0.5), (x > y).float() + x.relu().sqrt(), x.abs().neg()


def reductions(x):
    return (
        x.sum(),
        x.sum(0),
        x.mean((0, 2), keepdim=True),
        x.amax(1),
        x.norm(),
        (x > 0).all(2),
    )


def softmax_and_loss(x, t):
    return F.softmax(x, 1), F.cross_entropy(x, t), F.cross_entropy(x, t, reduction="sum")


def layout(x, y):
    a = x.permute(2, 0, 1).reshape(4, -1)
    b = janus.cat([x, y], 1)
    c, d = janus.split(x, [1, 2], dim=1)
    return a, b, c.squeeze(1) + d.sum(1), x[1:, ::2, -1], y.expand(2, 4, 4) * 1


def linear_algebra(x, w, b, v):
    return F.linear(x, w, b), x @ w.t(), janus.bmm(v, v.transpose(1, 2)), F.linear(x, w)


def embedding_and_index_add(w, idx, src):
    e = F.embedding(idx, w)
    return e * 2, w.index_add(0, idx.reshape(-1), src)


def mlp_grads(x, t, w1, b1, w2, b2, seed):
    w1, b1, w2, b2 = (p.detach().requires_grad_() for p in (w1, b1, w2, b2))
    h = F.linear(x, w1, b1).relu()
    loss = F.cross_entropy(F.linear(h, w2, b2), t)
    return (loss, *janus.autograd.grad(loss, [w1, b1, w2, b2], seed))


CASES = [
    (elementwise_broadcast, lambda: (_f(3, 4), _f(4))),
    (reductions, lambda: (_f(3, 5, 7),)),
    (softmax_and_loss, lambda: (_f(6, 5), _i(5, 6))),
    (layout, lambda: (_f(2, 3, 4), _f(2, 1, 4))),
    (linear_algebra, lambda: (_f(5, 6), _f(7, 6), _f(7), _f(3, 4, 6))),
    (embedding_and_index_add, lambda: (_f(9, 4), _i(9, 2, 3), _f(6, 4))),
    (mlp_grads, lambda: (_f(8, 6), _i(3, 8), _f(5, 6), _f(5), _f(3, 5), _f(3), janus.ones(()))),
]


def recorded(case):
    fn, make = case
    args = make()
    graph, _ = janus.jit.record(fn, *args)
    return graph, [a.numpy() for a in args]
