"""The table of op test cases: each calls the same code on janus and on PyTorch.

`fn(L, *args, **kwargs)` gets the library (janus or torch) and tensors made
from the sample's numpy arrays; float arrays require grad when `grad` is set.
Every declared op must be reached by some case (tests/ops/test_op_table.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_rng = np.random.default_rng(1234)


def r(*shape, dtype=np.float32, low=None):
    """Random normal floats (or uniform in [low, low+1) when `low` is given)."""
    if low is not None:
        return (_rng.random(shape) + low).astype(dtype)
    return _rng.standard_normal(shape).astype(dtype)


def ints(*shape, high=5, low=0):
    return _rng.integers(low, high, size=shape).astype(np.int64)


def bools(*shape):
    return _rng.random(shape) > 0.5


@dataclass
class Case:
    name: str
    fn: object
    samples: list
    grad: bool = True
    rtol: float = 1e-5
    atol: float = 1e-6
    numeric: bool = True  # also check gradients by finite differences
    tags: set = field(default_factory=set)


def F(L):
    return L.nn.functional


def s(*args, **kwargs):
    return (args, kwargs)


CASES: list[Case] = []


def case(name, fn, samples, **opts):
    CASES.append(Case(name, fn, samples, **opts))


# ----- elementwise binary -----
case(
    "add",
    lambda L, a, b, **k: L.add(a, b, **k),
    [s(r(3, 4), r(3, 4)), s(r(2, 3, 4), r(4)), s(r(3, 1), r(1, 4), alpha=2.5), s(r(3), 2.0)],
)
case("add_int_float", lambda L, a, b: a + b, [s(ints(3, 4), r(4))], grad=False)
case("add_int_scalar_promotes", lambda L, a: a + 1.5, [s(ints(3))], grad=False)
case("sub", lambda L, a, b: a - b, [s(r(3, 4), r(4)), s(r(3), 1)])
case("rsub", lambda L, a: 2.0 - a, [s(r(3, 4))])
case("mul", lambda L, a, b: a * b, [s(r(3, 4), r(3, 1)), s(r(5), 3.0)])
case("div", lambda L, a, b: a / b, [s(r(3, 4), r(4, low=0.5)), s(r(3), 2.0)])
case("rdiv", lambda L, a: 2.0 / a, [s(r(3, 4, low=0.5))])
case("div_ints", lambda L, a, b: a / b, [s(ints(4, low=1), ints(4, low=1))], grad=False)
case(
    "floor_divide",
    lambda L, a, b: a // b,
    [s(ints(6, low=-5, high=5), ints(6, low=1)), s(r(5), r(5, low=0.5))],
    grad=False,
)
case("remainder", lambda L, a, b: a % b, [s(r(6), r(6, low=0.5)), s(r(6), 0.7)])
case("remainder_ints", lambda L, a, b: a % b, [s(ints(6, low=-5), ints(6, low=1))], grad=False)
case("pow_scalar", lambda L, a, e: a**e, [s(r(3, 4), 2), s(r(3, low=0.5), 0.5), s(r(3), 0)])
case("pow_tensor", lambda L, a, b: L.pow(a, b), [s(r(3, 4, low=0.5), r(3, 4))])
case("rpow", lambda L, a: 2.0**a, [s(r(5))])
case("maximum", lambda L, a, b: L.maximum(a, b), [s(r(3, 4), r(4))])
case("minimum", lambda L, a, b: L.minimum(a, b), [s(r(3, 4), r(3, 4))])
case("max_binary", lambda L, a, b: L.max(a, b), [s(r(3), r(3))])
for _cmp in ("eq", "ne", "lt", "le", "gt", "ge"):
    case(
        _cmp,
        lambda L, a, b, _c=_cmp: getattr(L, _c)(a, b),
        [s(r(3, 4), r(4)), s(ints(5), 2), s(ints(5), r(5))],
        grad=False,
    )
for _lg in ("logical_and", "logical_or", "logical_xor"):
    case(_lg, lambda L, a, b, _c=_lg: getattr(L, _c)(a, b), [s(bools(4), bools(4))], grad=False)
case("logical_not", lambda L, a: L.logical_not(a), [s(bools(4))], grad=False)
case(
    "bool_operators", lambda L, a, b: (a & b, a | b, a ^ b, ~a), [s(bools(5), bools(5))], grad=False
)
case(
    "bitwise",
    lambda L, a, b: (a & b, a | b, a ^ b, ~a, L.bitwise_not(a)),
    [s(ints(5, high=16), ints(5, high=16))],
    grad=False,
)
case(
    "where",
    lambda L, c, a, b: L.where(c, a, b),
    [s(bools(3, 4), r(3, 4), r(4)), s(bools(3), r(3), 0.0)],
)
case("where_scalar_first", lambda L, c, b: L.where(c, 1.0, b), [s(bools(3), r(3))])

# ----- unary -----
_UNARY = {
    "neg": r(3, 4),
    "abs": r(3, 4),
    "exp": r(3, 4),
    "exp2": r(5),
    "expm1": r(5),
    "log": r(3, 4, low=0.5),
    "log2": r(5, low=0.5),
    "log10": r(5, low=0.5),
    "log1p": r(5, low=0.1),
    "sqrt": r(3, 4, low=0.5),
    "rsqrt": r(5, low=0.5),
    "reciprocal": r(5, low=0.5),
    "sin": r(5),
    "cos": r(5),
    "tan": r(5, low=-0.5),
    "asin": r(5, low=-0.5) * 0.9,
    "acos": r(5, low=-0.5) * 0.9,
    "atan": r(5),
    "sinh": r(5),
    "cosh": r(5),
    "tanh": r(3, 4),
    "sigmoid": r(3, 4) * 4,
    "erf": r(3, 4),
    "relu": r(3, 4),
    "square": r(5),
}
for _name, _x in _UNARY.items():
    case(_name, lambda L, a, _n=_name: getattr(L, _n)(a), [s(_x)])
case("sign", lambda L, a: L.sign(a), [s(r(5))])
for _name in ("floor", "ceil", "trunc", "round"):
    case(_name, lambda L, a, _n=_name: getattr(L, _n)(a), [s(r(6) * 3)])
case("round_int", lambda L, a: L.round(a), [s(ints(4))], grad=False)
case(
    "unary_on_ints_promotes",
    lambda L, a: (L.exp(a), L.sqrt(a), L.sigmoid(a)),
    [s(ints(4))],
    grad=False,
)
case("leaky_relu", lambda L, a: F(L).leaky_relu(a, 0.2), [s(r(3, 4))])
case("elu", lambda L, a: F(L).elu(a, 1.5), [s(r(3, 4))])
case("softplus", lambda L, a: F(L).softplus(a, beta=2.0, threshold=3.0), [s(r(3, 4) * 3)])
case(
    "gelu",
    lambda L, a: (F(L).gelu(a), F(L).gelu(a, approximate="tanh")),
    [s(r(3, 4) * 2)],
    rtol=1e-4,
    atol=1e-6,
)
case("silu", lambda L, a: F(L).silu(a), [s(r(3, 4))])
case(
    "clamp",
    lambda L, a, **k: L.clamp(a, **k),
    [s(r(3, 4), min=-0.5, max=0.5), s(r(5), min=0.0), s(r(5), max=0.1)],
)
case("clamp_tensor", lambda L, a, lo, hi: L.clamp(a, lo, hi), [s(r(5), r(5) - 1, r(5) + 1)])

# ----- reductions -----
case(
    "sum",
    lambda L, a, **k: L.sum(a, **k),
    [s(r(3, 4)), s(r(3, 4, 5), dim=1), s(r(3, 4, 5), dim=(0, 2), keepdim=True), s(r(3), dim=-1)],
)
case(
    "sum_ints_bools",
    lambda L, a, b: (a.sum(), b.sum(), a.sum(0)),
    [s(ints(3, 4), bools(5))],
    grad=False,
)
case("mean", lambda L, a, **k: L.mean(a, **k), [s(r(3, 4)), s(r(3, 4, 5), dim=(1,), keepdim=True)])
case("prod", lambda L, a, **k: L.prod(a, **k), [s(r(3, 4)), s(r(3, 4), dim=1)])
case(
    "prod_with_zero",
    lambda L, a: L.prod(a, 1),
    [s(np.array([[0.0, 2.0, 3.0], [1.0, 0.0, 0.0], [1.5, 2.0, -1.0]], dtype=np.float32))],
)
case("amax_amin", lambda L, a: (L.amax(a, 1), L.amin(a, (0, 1))), [s(r(3, 4, 2))])
case("max_min_full", lambda L, a: (a.max(), a.min()), [s(r(3, 4))])
case(
    "max_dim", lambda L, a, **k: L.max(a, **k), [s(r(3, 4), dim=1), s(r(3, 4), dim=0, keepdim=True)]
)
case("min_dim", lambda L, a: tuple(L.min(a, dim=-1)), [s(r(3, 4))])
case(
    "argmax_argmin",
    lambda L, a: (L.argmax(a), L.argmax(a, 1), L.argmin(a, 0, keepdim=True)),
    [s(r(3, 4))],
    grad=False,
)
case(
    "var",
    lambda L, a, **k: L.var(a, **k),
    [s(r(3, 4)), s(r(3, 4), dim=1), s(r(3, 4), dim=0, correction=0, keepdim=True)],
)
case("std", lambda L, a, **k: L.std(a, **k), [s(r(3, 4)), s(r(3, 4), dim=1, unbiased=False)])
case("logsumexp", lambda L, a, d: L.logsumexp(a, d), [s(r(3, 4), 1), s(r(2, 3, 4) * 10, (0, 2))])
case(
    "norm",
    lambda L, a, **k: L.norm(a, **k),
    [s(r(3, 4)), s(r(3, 4), p=1, dim=1), s(r(3, 4), p=float("inf"), dim=0), s(r(3, 4), p=3)],
    rtol=1e-4,
)
case("all_any", lambda L, a: (a.all(), a.any(1), L.all(a, 0)), [s(bools(3, 4))], grad=False)

# ----- shape -----
case("reshape_view", lambda L, a: (a.reshape(4, 3), a.view(-1), a.reshape(2, -1, 2)), [s(r(3, 4))])
case(
    "flatten", lambda L, a: (a.flatten(), L.flatten(a, 1), a.unflatten(1, (2, 2))), [s(r(2, 4, 3))]
)
case(
    "squeeze_unsqueeze",
    lambda L, a: (a.squeeze(), a.squeeze(1), a.unsqueeze(0), a.unsqueeze(-1)),
    [s(r(3, 1, 4))],
)
case(
    "permute_transpose",
    lambda L, a: (a.permute(2, 0, 1), a.transpose(0, 2), a.mT, L.movedim(a, 0, -1)),
    [s(r(2, 3, 4))],
)
case("t", lambda L, a: (a.t(), a.T), [s(r(3, 4))])
case("expand", lambda L, a: (a.expand(2, 3, 4), a.expand(-1, 4)), [s(r(3, 1))])
case("cat", lambda L, a, b: (L.cat([a, b], 1), L.cat([a, a], 0)), [s(r(2, 3), r(2, 5))])
case("stack", lambda L, a, b: (L.stack([a, b]), L.stack([a, b], dim=-1)), [s(r(2, 3), r(2, 3))])
case("split", lambda L, a: (a.split(2), a.split([1, 3], dim=0), a.chunk(3, 1)), [s(r(4, 6))])
case("unbind", lambda L, a: a.unbind(1), [s(r(2, 3))])
case("narrow_select", lambda L, a: (a.narrow(1, 1, 2), a.select(0, -1)), [s(r(3, 4))])
case("repeat", lambda L, a: (a.repeat(2, 3), a.repeat(2, 1, 1)), [s(r(2, 3))])
case("flip", lambda L, a: (a.flip(0), L.flip(a, (0, 1))), [s(r(2, 3))])

# ----- matrix products -----
case(
    "matmul",
    lambda L, a, b: L.matmul(a, b),
    [
        s(r(3, 4), r(4, 5)),
        s(r(4), r(4)),
        s(r(3, 4), r(4)),
        s(r(4), r(4, 2)),
        s(r(2, 3, 4), r(4, 5)),
        s(r(2, 1, 3, 4), r(3, 4, 2)),
        s(r(3, 4), r(2, 4, 5)),
    ],
    rtol=1e-4,
)
case(
    "mm_bmm_mv_dot",
    lambda L, a, b, c, v: (L.mm(a, b), L.bmm(c, c.transpose(1, 2)), L.mv(a, v), L.dot(v, v)),
    [s(r(3, 4), r(4, 2), r(2, 3, 4), r(4))],
    rtol=1e-4,
)

case(
    "linear",
    lambda L, x, w, b: F(L).linear(x, w, b),
    [s(r(4, 3), r(5, 3), r(5)), s(r(2, 4, 3), r(5, 3), None), s(r(3), r(2, 3), r(2))],
    rtol=1e-4,
)

# ----- indexing -----
case(
    "getitem_basic",
    lambda L, a: (a[1], a[:, 1:3], a[..., -1], a[None, ::2], a[1, 2], a[-1:]),
    [s(r(3, 4, 5))],
)
case(
    "getitem_advanced",
    lambda L, a, i, m: (a[i], a[:, i], a[m], a[i, i], a[[0, 2]], a[1, i]),
    [s(r(3, 4), ints(3, high=3), bools(3, 4))],
)
case("setitem", lambda L, a, v: _setitem(L, a, v), [s(r(3, 4), r(4))])
case("gather", lambda L, a, i: L.gather(a, 1, i), [s(r(3, 4), ints(3, 2, high=4))])
case(
    "scatter",
    lambda L, a, i, b: (L.scatter(a, 1, i, b), a.scatter(1, i, 2.5)),
    [s(r(3, 4), np.array([[0, 1], [2, 3], [1, 0]]), r(3, 2))],
)
case(
    "scatter_add",
    lambda L, a, i, b: L.scatter_add(a, 0, i, b),
    [s(r(3, 4), ints(2, 4, high=3), r(2, 4))],
)
case("index_select", lambda L, a, i: L.index_select(a, 1, i), [s(r(3, 4), ints(5, high=4))])
case(
    "index_add", lambda L, a, i, b: L.index_add(a, 0, i, b), [s(r(3, 4), ints(5, high=3), r(5, 4))]
)
case("masked_fill", lambda L, a, m: a.masked_fill(m, -1.0), [s(r(3, 4), bools(3, 4))])
case("masked_select", lambda L, a, m: L.masked_select(a, m), [s(r(3, 4), bools(4))])
case(
    "nonzero",
    lambda L, a: (L.nonzero(a), L.nonzero(a, as_tuple=True)),
    [s(bools(3, 4))],
    grad=False,
)
case("one_hot", lambda L, i: F(L).one_hot(i, 5), [s(ints(2, 3))], grad=False)
case("embedding", lambda L, i, w: F(L).embedding(i, w), [s(ints(2, 3), r(5, 4))])
# The padding row gets no gradient by definition, so finite differences disagree there.
case(
    "embedding_padding",
    lambda L, i, w: F(L).embedding(i, w, padding_idx=1),
    [s(ints(2, 3), r(5, 4))],
    numeric=False,
)

# ----- neural-network primitives -----
case(
    "softmax",
    lambda L, a: (L.softmax(a, 1), L.log_softmax(a, -1), F(L).softmax(a, dim=0)),
    [s(r(3, 4) * 3)],
)
case(
    "conv2d",
    lambda L, x, w, b, **k: F(L).conv2d(x, w, b, **k),
    [
        s(r(2, 3, 7, 6), r(4, 3, 3, 3), r(4)),
        s(r(1, 4, 6, 6), r(4, 2, 3, 2), r(4), stride=2, padding=1, groups=2),
        s(r(1, 2, 7, 7), r(3, 2, 2, 2), None, dilation=2, padding=(1, 2)),
    ],
    rtol=1e-4,
    atol=1e-5,
)
case(
    "conv1d",
    lambda L, x, w, b, **k: F(L).conv1d(x, w, b, **k),
    [s(r(2, 3, 9), r(4, 3, 3), r(4), stride=2, padding=1)],
    rtol=1e-4,
    atol=1e-5,
)
case(
    "max_pool2d",
    lambda L, x, **k: F(L).max_pool2d(x, **k),
    [
        s(r(2, 3, 6, 6), kernel_size=2),
        s(r(1, 2, 7, 7), kernel_size=3, stride=2, padding=1),
        s(r(1, 1, 5, 5), kernel_size=2, ceil_mode=True),
        s(r(1, 1, 6, 6), kernel_size=2, return_indices=True),
    ],
)
case(
    "avg_pool2d",
    lambda L, x, **k: F(L).avg_pool2d(x, **k),
    [
        s(r(2, 3, 6, 6), kernel_size=2),
        s(r(1, 2, 7, 7), kernel_size=3, stride=2, padding=1),
        s(r(1, 2, 7, 7), kernel_size=3, stride=2, padding=1, count_include_pad=False),
        s(r(1, 1, 5, 5), kernel_size=2, ceil_mode=True),
    ],
)
case(
    "adaptive_avg_pool2d",
    lambda L, x, o: F(L).adaptive_avg_pool2d(x, o),
    [s(r(2, 3, 6, 6), 1), s(r(1, 2, 7, 5), (3, 2))],
)
case(
    "conv_transpose2d",
    lambda L, x, w, b, **k: F(L).conv_transpose2d(x, w, b, **k),
    [
        s(r(2, 3, 4, 4), r(3, 2, 3, 3), r(2)),
        s(r(1, 4, 3, 5), r(4, 3, 3, 2), None, stride=2, padding=1, output_padding=1, groups=2),
        s(r(1, 2, 4, 4), r(2, 3, 2, 2), r(3), dilation=2, stride=(2, 1)),
    ],
    rtol=1e-4,
    atol=1e-5,
)
case(
    "interpolate",
    lambda L, x, **k: F(L).interpolate(x, **k),
    [
        s(r(1, 2, 3, 4), scale_factor=2),
        s(r(1, 2, 5, 4), size=(3, 7)),
        s(r(1, 2, 3, 4), scale_factor=2, mode="bilinear", align_corners=False),
        s(r(1, 2, 3, 4), size=(5, 6), mode="bilinear", align_corners=True),
        s(r(2, 3, 5), scale_factor=1.5, mode="linear"),
        s(r(2, 3, 6), size=4, mode="nearest"),
    ],
    rtol=1e-4,
    atol=1e-5,
)
case(
    "pixel_shuffle",
    lambda L, x: (F(L).pixel_shuffle(x, 2), F(L).pixel_unshuffle(x, 2)),
    [s(r(1, 8, 4, 6))],
)
case(
    "pad",
    lambda L, x, p, **k: F(L).pad(x, p, **k),
    [
        s(r(2, 3, 4), (1, 2)),
        s(r(2, 3, 4), (1, 1, 2, 0), value=0.5),
        s(r(1, 2, 4), (2, 1), mode="reflect"),
        s(r(1, 2, 4), (2, 1), mode="replicate"),
    ],
)

# Class weights are constants (PyTorch has no derivative for them).
_W3 = np.array([0.5, 1.0, 2.0], dtype=np.float32)
case(
    "nll_loss",
    lambda L, x, t, w=None, **k: F(L).nll_loss(
        x, t, None if w is None else L.tensor(_W3).to(x.dtype).to(x.device), **k
    ),
    [
        s(r(4, 5), np.array([0, 4, 2, 1])),
        s(r(4, 5), np.array([0, -100, 2, 1]), reduction="sum"),
        s(r(2, 3, 2), np.array([[0, 2], [1, 1]]), True, reduction="none"),
        s(r(3, 3), np.array([0, 2, 1]), True),
    ],
)
case(
    "cross_entropy",
    lambda L, x, t, **k: F(L).cross_entropy(x, t, **k),
    [
        s(r(4, 5), np.array([0, 4, 2, 1])),
        s(r(4, 5), np.array([0, 4, 2, 1]), label_smoothing=0.1),
        s(r(2, 3, 2), np.array([[0, 2], [1, 7]]), ignore_index=7),
    ],
)

# ----- sorting, scans, and the rest of the everyday surface -----
case(
    "sort",
    lambda L, a, **k: tuple(L.sort(a, **k)),
    [s(r(3, 5)), s(r(3, 5), dim=0, descending=True), s(r(4), stable=True)],
)
case(
    "sort_topk_nan_ties_ints",
    lambda L, a, u, i: (
        *L.sort(a, descending=True, stable=True),
        *L.sort(a, stable=True),
        *L.topk(a, 2),
        *L.sort(u, descending=True, stable=True),
        *L.sort(i, dim=0, descending=True, stable=True),
        *L.topk(i, 1, 0),
    ),
    [
        s(
            np.array(
                [[1.0, np.nan, 2.0, 1.0, -np.inf], [0.5, 0.5, np.inf, np.nan, 3.0]], np.float32
            ),
            np.array([0, 3, 255, 3, 7], np.uint8),
            np.array([[-(2**63), 5], [0, -(2**63)], [7, 5]], np.int64),
        )
    ],
    grad=False,
)
case(
    "argsort",
    lambda L, a: (L.argsort(a, 1), a.argsort(0, descending=True)),
    [s(r(3, 4))],
    grad=False,
)
case(
    "topk",
    lambda L, a, k, **kw: tuple(L.topk(a, k, **kw)),
    [s(r(3, 6), 2), s(r(3, 6), 3, dim=0, largest=False), s(r(5), 5)],
)
case("cumsum", lambda L, a, d: (L.cumsum(a, d), a.cumsum(-1)), [s(r(3, 4), 0), s(r(5), 0)])
case(
    "cumprod",
    lambda L, a, d: L.cumprod(a, d),
    [
        s(r(3, 4), 1),
        s(np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]], dtype=np.float32), 1),
        s(np.array([1.5, 0.0, 2.0], dtype=np.float32), 0),
    ],
)
case("cumsum_ints", lambda L, a: L.cumsum(a, 0), [s(ints(5))], grad=False)
case(
    "unique",
    lambda L, a: (L.unique(a), *L.unique(a, return_inverse=True, return_counts=True)),
    [s(ints(12, high=4))],
    grad=False,
)
case("fmod", lambda L, a, b: (L.fmod(a, b), a.fmod(1.5)), [s(r(6) * 4, r(6, low=0.5))])
case("clamp_min_max", lambda L, a: (a.clamp_min(0.1), L.clamp_max(a, -0.2)), [s(r(3, 4))])
case(
    "isnan_isinf_isfinite",
    lambda L, a: (L.isnan(a), L.isinf(a), L.isfinite(a)),
    [s(np.array([1.0, np.nan, np.inf, -np.inf, 0.0], dtype=np.float32))],
    grad=False,
)
case(
    "nan_to_num",
    lambda L, a: (L.nan_to_num(a), L.nan_to_num(a, 1.0, 2.0, -2.0)),
    [s(np.array([1.0, np.nan, np.inf, -np.inf], dtype=np.float32))],
    numeric=False,
)
case(
    "outer_addmm_baddbmm",
    lambda L, v, w, m, a, b, c, bb: (
        L.outer(v, w),
        L.addmm(m, a, b, beta=0.5, alpha=2.0),
        L.baddbmm(c, bb, bb.mT, alpha=0.5),
    ),
    [s(r(3), r(4), r(3, 4), r(3, 2), r(2, 4), r(2, 3, 3), r(2, 3, 5))],
    rtol=1e-4,
)
case(
    "einsum",
    lambda L, eq, *ops: L.einsum(eq, *ops),
    [
        s("ij,jk->ik", r(3, 4), r(4, 2)),
        s("bij,bjk->bik", r(2, 3, 4), r(2, 4, 5)),
        s("ij->j", r(3, 4)),
        s("i,j->ij", r(3), r(4)),
        s("ij,ij->", r(2, 3), r(2, 3)),
        s("abc,cd,ad->b", r(2, 3, 4), r(4, 5), r(2, 5)),
    ],
    rtol=1e-4,
)
case(
    "tril_triu",
    lambda L, a: (L.tril(a), L.triu(a, 1), a.tril(-1), L.triu(a, -2)),
    [s(r(4, 5)), s(r(2, 3, 3))],
)
case("diag", lambda L, a, k=0: L.diag(a, k), [s(r(3)), s(r(3), 1), s(r(3, 4)), s(r(4, 3), -1)])
case(
    "roll",
    lambda L, a, sh, d=None: L.roll(a, sh, d),
    [s(r(3, 4), 1, 1), s(r(3, 4), (1, -2), (0, 1)), s(r(3, 4), 5)],
)
case(
    "index_copy",
    lambda L, a, i, b: L.index_copy(a, 1, i, b),
    [s(r(3, 4), np.array([2, 0]), r(3, 2))],
)

# ----- conversion -----
case(
    "to_dtype",
    lambda L, a: (a.to(L.float64), a.double().float(), a.to(L.int64), a.half().float()),
    [s(r(3, 4))],
    rtol=1e-3,
    numeric=False,
)
case("clone_contiguous", lambda L, a: (a.clone(), a.t().contiguous()), [s(r(3, 4))])
case("int_casts", lambda L, a: (a.float(), a.bool(), a.long()), [s(ints(4, low=-2))], grad=False)


case("copy_fill_inplace", lambda L, a, v: _copy_fill(L, a, v), [s(r(3, 4), r(4))])


def _copy_fill(L, a, v):
    out, other = a * 1.0, a * 2.0
    out.copy_(v)
    other.fill_(3.0)
    return out, other


def _setitem(L, a, v):
    out = a * 1.0
    out[1] = v
    out[0, 1:3] = 7.0
    out[:, 0] = out[:, 1] * 2
    # an int and an index tensor separated by a slice: the index dim stays in
    # place (PyTorch's rule, not numpy's), and the value broadcasts to that
    cube = a.reshape(3, 2, 2) * 1.0
    cube[0, :, L.tensor([1, 0])] = v[:2].reshape(1, 2) * 3
    return out, cube
