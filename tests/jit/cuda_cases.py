"""Programs for the CUDA runtime's tests: each a function of tensors and its
inputs, recorded into a graph (`janus.jit.record`) and run by the generated
kernels (on the host in tests/jit/test_cuda_codegen.py, on a GPU in
tests/cuda/test_cuda_program.py) against the CPU runtime."""

from __future__ import annotations

import numpy as np

import janus
import janus.nn.functional as F
from janus.jit.record import recording

_rng = np.random.default_rng(0)


def _f(*shape):
    return janus.tensor(_rng.standard_normal(shape, dtype=np.float32))


def _i(high, *shape):
    return janus.tensor(_rng.integers(0, high, shape))


def elementwise_broadcast(x, y):
    z = (x * y + 1.5).tanh() - (y / 3).exp()
    return z.sigmoid() * x.clamp(-0.5, 0.5), (x > y).float() + x.relu().sqrt(), x.abs().neg()


def integer_arithmetic(a, b, small):
    """Python's // and % on ints: floored, the divisor's sign, 0 for a zero
    divisor, and the lowest int // -1 wrapping (it traps in C++)."""
    return a // b, a % b, small // 3, small % -3, (a % 7) * 2


def reductions(x):
    return (
        x.sum(),
        x.sum(0),
        x.mean((0, 2), keepdim=True),
        x.amax(1),
        x.norm(),
        (x > 0).all(2),
    )


def reductions_of_groups(x, y):
    """Reductions ending fused groups (the CPU fusion makes them; the CUDA
    lowering runs them after the group's map kernel)."""
    d = x * y - 0.5
    return (d * d).mean(), d.relu().sum(0), (d.abs() + 1.0).amax(-1, keepdim=True), d.tanh()


def softmax_and_loss(x, t):
    return F.softmax(x, 1), F.cross_entropy(x, t), F.cross_entropy(x, t, reduction="sum")


def layout(x, y):
    a = x.permute(2, 0, 1).reshape(4, -1)
    b = janus.cat([x, y], 1)
    c, d = janus.split(x, [1, 2], dim=1)
    e = x[1, 2, 3] * x[0, ..., 1]  # one element, and a view of one element
    return a, b, c.squeeze(1) + d.sum(1), x[1:, ::2, -1], y.expand(2, 4, 4) * 1, e


def many_way_cat_and_split(x, y, n):
    """One kernel each, finding an element's operand (or result) by a binary
    search over the positions: 7 operands with an empty one and an integer
    one, a stack of 5, a split into 5 with an empty part."""
    a = janus.cat([x[:, :1], y, x[:, 1:3], x[:, :0], y * 2, x, n], 1)
    b = janus.stack([x, x * 2, x + 1, -x, x * x], 2)
    return (a, b, *x.split([1, 0, 2, 1, 1], dim=1))


def gates_read_in_place(x, w, w2, c0):
    """An LSTM cell's gates: the split's results are read by the cell's fused
    group where they lie in the split's source, which must outlive the
    split node: `t`, made after it, may not take its memory."""
    gates = x @ w
    i, f, g, o = gates.chunk(4, 1)
    t = (x * 3).tanh() @ w2
    c = f.sigmoid() * c0 + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return h * t[:, :4], c


def bias_folds(x, h0, w, u, u2, b):
    """add(linear(h, U, b), r) with the add the linear's only reader (an LSTM
    step's gates, split next): the linear computes b + r + h @ U.T when r is
    made before it (by an ancestor: `a`), not otherwise (`c`: nothing orders
    r's product before it; on another stream it may not have run)."""
    r = x @ w
    a = F.linear(r[:, :6].relu(), u, b) + r
    i, f = a.chunk(2, 1)
    c = F.linear(h0, u2, b) + r
    g, o = c.chunk(2, 1)
    return i.sigmoid() * f.tanh(), g * o


def linear_algebra(x, w, b, v):
    vt = v.transpose(1, 2)  # products of it read v through the GEMM's transpose flag
    return (
        F.linear(x, w, b), x @ w.t(), janus.bmm(v, vt), F.linear(x, w), vt @ v, vt @ v[0],
    )  # fmt: skip


def einsums(a, b, c, col, row, seed):
    a, b = a.detach().requires_grad_(), b.detach().requires_grad_()
    batched = janus.einsum("bij,bjk->bik", a, b)
    chain = janus.einsum("ij,jk,kl->il", a[0], b[0], c)  # contracted left to right
    loss = (batched * batched).sum() + chain.sum()
    return (
        batched, chain, janus.einsum("ij,jk", a[1], b[1]), janus.einsum("bij->jb", a),
        janus.einsum("bij->j", a), janus.einsum("i,i->", c[0], c[1]),
        janus.einsum("ij,kj->kij", col, row),  # size-1 dims repeat
        *janus.autograd.grad(loss, [a, b], seed),
    )  # fmt: skip


def embedding_and_index_add(w, idx, src):
    e = F.embedding(idx, w)
    return e * 2, w.index_add(0, idx.reshape(-1), src)


def mlp_grads(x, t, w1, b1, w2, b2, seed):
    w1, b1, w2, b2 = (p.detach().requires_grad_() for p in (w1, b1, w2, b2))
    h = F.linear(x, w1, b1).relu()
    loss = F.cross_entropy(F.linear(h, w2, b2), t)
    return (loss, *janus.autograd.grad(loss, [w1, b1, w2, b2], seed))


def convolutions(x, w, w1, wg, wd, seed):
    x, w, w1, wg, wd = (p.detach().requires_grad_() for p in (x, w, w1, wg, wd))
    y = F.conv2d(x, w, stride=2, padding=1)  # im2col + GEMM
    z = F.conv2d(x, w1)  # 1x1: the image is its own cols matrix
    g = F.conv2d(x, wg, padding=(1, 0), groups=2)  # grouped: direct kernels
    d = F.conv2d(x, wd, padding=2, dilation=2, groups=4)  # depthwise, dilated
    loss = (y * y).sum() + z.tanh().sum() + (g * 0.5).sum() + d.sigmoid().sum()
    return (y, z, g, d, *janus.autograd.grad(loss, [x, w, w1, wg, wd], seed))


def pooling(x, seed):
    x = x.detach().requires_grad_()
    m = F.max_pool2d(x, 3, stride=2, padding=1)
    c = F.max_pool2d(x, 2, ceil_mode=True)
    a = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
    b = F.avg_pool2d(x, 2, padding=1)
    loss = (m * m).sum() + c.sum() + (a * 3).sum() + b.exp().sum()
    return (m, c, a, b, *janus.autograd.grad(loss, [x], seed))


def activations(x, seed):
    x = x.detach().requires_grad_()
    big = x * 30
    outs = (F.elu(x, 0.7), F.softplus(big, beta=0.5, threshold=5), F.gelu(x),
            F.gelu(x, approximate="tanh"), F.softplus(x))  # fmt: skip
    loss = sum((o * o).sum() for o in outs)
    tests = (x.log().isnan(), (x / 0).isinf(), (x / 0).isfinite())
    return (*outs, *tests, *janus.autograd.grad(loss, [x], seed))


def along_lines(x, labels):
    values, at = x.max(1)
    return (
        x.argmax(), x.argmin(0, keepdim=True), values, at, x.min(0)[1], x.cumsum(1),
        x.cumprod(0), x.var(1), x.var((0, 1), correction=0), x.logsumexp(1),
        janus.tril(x), x.flip(0, 1), F.one_hot(labels, 6),
    )  # fmt: skip


def random_draws(x):
    noisy = x + janus.randn(x.shape) * 0.1
    return (F.dropout(x, 0.3, training=True), noisy, janus.rand(5, dtype=janus.float64),
            janus.randn(3, dtype=janus.float64), janus.rand(7))  # fmt: skip


def basic_index_grads(x, seed):
    x = x.detach().requires_grad_()
    loss = (x[1] * 2).sum() + x[:, ::2, 1:].exp().sum() + x[..., None, -1].sum()
    return janus.autograd.grad(loss, [x], seed)


def gathers(x, idx, row_idx, src):
    return (
        x.gather(1, idx),
        x.index_select(0, row_idx),
        x.scatter_add(1, idx, src),
        x.scatter(1, idx, 2.5),
        F.pad(x, (1, 2, -1, 0), value=-3.0),
    )


def masks(x, mask, rows, seed):
    """Boolean masks select a data-dependent number of elements: the graph
    is made for this call's count (a run with another falls back)."""
    x = x.detach().requires_grad_()
    picked = x[mask]  # (its gradient: index_put of each element at its number)
    picked_rows = x[:, rows]  # a mask over one dim, after a slice
    y = x.detach() * 1
    y[mask] = y[mask] * 10  # a value per selected element
    loss = (picked * picked).sum() + picked_rows.exp().sum()
    return (picked, picked_rows, y, mask.nonzero(), (x > 0.5).nonzero(),
            *janus.autograd.grad(loss, [x], seed))  # fmt: skip


def fills(x, i):
    """Writes of a number (overwrite with a constant source): the CUDA
    lowering once copied the destination onto itself instead."""
    y = x * 1
    y.fill_(2.5)
    z = x * 1
    z[1] = 0.5
    w = x * 1
    w[i[0]] = -1.0  # through index_select and index_put
    k = i * 1
    k.zero_()
    return y, z, w, k


def sorting(x, ties, ints, seed):
    x = x.detach().requires_grad_()
    values, at = x.sort(1)
    down, down_at = ties.sort(0, descending=True)  # NaN first, equal values in index order
    top, top_at = x.topk(3, dim=0)
    low_values, low_at = ties.topk(2, largest=False)
    loss = (values * values).sum() + top.sum()
    return (
        values, at, down, down_at, top, top_at, low_values, low_at, ints.sort()[0],
        ints.argsort(0, descending=True), *janus.autograd.grad(loss, [x], seed),
    )  # fmt: skip


def uniques(ties, ints, flags):
    """Distinct values in order (NaNs one value), each element's number
    among them, and their counts."""
    values, inverse = ties.unique(return_inverse=True)
    numbers, at, counts = ints.unique(return_inverse=True, return_counts=True)
    truths, truth_counts = flags.unique(return_counts=True)
    return values, inverse, numbers, at, counts, truths, truth_counts, ints.unique()


def advanced_indexing(x, rows, cols, middle, mask, v, w, seed):
    x = x.detach().requires_grad_()
    behind = w[:, rows[0] % 3, :, cols]  # apart, after a basic dim: B still in front
    picked = x[rows]  # (its gradient: index_put with accumulate; rows repeat)
    crossed = x[rows[:2], :, cols]  # apart: B in front
    side = x[1:, :, cols]  # adjacent, after slices
    both = x[rows[0][:, None], middle[None, :]]  # index tensors that broadcast
    y = x.detach() * 1
    y[rows[1]] = v  # index_put of a row per index
    y[mask] = -1.0  # a boolean mask, a number
    y[0, :, cols[:2]] += 10.0  # an int apart from the tensor
    z = x.detach() * 1
    z[:, 1:3] = 0.0  # a basic key
    z[mask] = v[0, 0, 0]  # a mask, a 0-d tensor
    loss = (picked * picked).sum() + crossed.sum() + (side * 2).sum() + both.exp().sum()
    return (picked, crossed, side, both, behind, y, z, *janus.autograd.grad(loss, [x], seed))


CASES = [
    (elementwise_broadcast, lambda: (_f(3, 4), _f(4))),
    (
        integer_arithmetic,
        lambda: (
            janus.tensor([7, -7, 7, -7, 0, 5, -(2**63), -(2**63), 9]),
            janus.tensor([2, 2, -2, -2, 3, 0, -1, 1, -1]),
            janus.tensor([-5, 4, 0, -128], dtype=janus.int32),
        ),
    ),
    (reductions, lambda: (_f(3, 5, 7),)),
    (reductions_of_groups, lambda: (_f(6, 5), _f(5))),
    (softmax_and_loss, lambda: (_f(6, 5), _i(5, 6))),
    (layout, lambda: (_f(2, 3, 4), _f(2, 1, 4))),
    (linear_algebra, lambda: (_f(5, 6), _f(7, 6), _f(7), _f(3, 4, 6))),
    (einsums, lambda: (_f(2, 3, 4), _f(2, 4, 5), _f(5, 5), _f(3, 1), _f(2, 6), janus.ones(()))),
    (embedding_and_index_add, lambda: (_f(9, 4), _i(9, 2, 3), _f(6, 4))),
    (mlp_grads, lambda: (_f(8, 6), _i(3, 8), _f(5, 6), _f(5), _f(3, 5), _f(3), janus.ones(()))),
    (
        convolutions,
        lambda: (
            _f(3, 4, 9, 8),
            _f(5, 4, 3, 3),
            _f(6, 4, 1, 1),
            _f(6, 2, 3, 2),
            _f(4, 1, 3, 3),
            janus.ones(()),
        ),
    ),  # fmt: skip
    (pooling, lambda: (_f(2, 3, 9, 7), janus.ones(()))),
    (activations, lambda: (_f(4, 7), janus.ones(()))),
    (along_lines, lambda: (_f(5, 6), _i(6, 7))),
    (random_draws, lambda: (_f(6, 5),)),
    (basic_index_grads, lambda: (_f(3, 5, 4), janus.ones(()))),
    (gathers, lambda: (_f(4, 6), _i(6, 4, 3), _i(4, 5), _f(4, 3))),
    (
        advanced_indexing,
        lambda: (
            _f(4, 3, 5),
            janus.tensor([[3, -1, 0], [1, 3, 2]]),
            janus.tensor([4, 0, -2]),
            janus.tensor([2, -3]),
            janus.tensor(_rng.random((4, 3, 5)) > 0.5),
            _f(1, 3, 5),
            _f(2, 3, 4, 5),
            janus.ones(()),
        ),
    ),
    (fills, lambda: (_f(3, 4), janus.tensor([2, 0]))),
    (
        masks,
        lambda: (
            _f(3, 4),
            janus.tensor(_rng.random((3, 4)) > 0.4),
            janus.tensor([True, False, True, True]),
            janus.ones(()),
        ),
    ),
    (
        sorting,
        lambda: (
            _f(4, 6),
            janus.tensor(
                [[1.0, np.nan, 2.0], [1.0, 1.0, -0.0], [np.nan, 0.0, 2.0], [-1.0, np.nan, 0.0]]
            ),
            _i(3, 5, 4),
            janus.ones(()),
        ),
    ),
    (
        uniques,
        lambda: (
            janus.tensor([[1.0, np.nan, 2.0], [1.0, -0.0, 0.0], [np.nan, 2.0, 7.0]]),
            _i(4, 5, 3),
            janus.tensor([True, False, True, True]),
        ),
    ),
    # (Last, so that CASES[4] stays the linear algebra.)
    (many_way_cat_and_split, lambda: (_f(3, 5, 4), _f(3, 2, 4), _i(9, 3, 1, 4))),
    (gates_read_in_place, lambda: (_f(6, 5), _f(5, 16), _f(5, 16), _f(6, 4))),
    (bias_folds, lambda: (_f(4, 5), _f(4, 6), _f(5, 12), _f(12, 6), _f(12, 6), _f(12))),
]


def recorded(case):
    fn, make = case
    # The graph's inputs: the arguments, then tensors the function captured.
    r = recording(fn, *make())
    return r.graph, [np.asarray(a) for a in r.input_arrays]
