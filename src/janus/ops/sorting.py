"""Sorting and selection: sort, argsort, topk, cumsum, unique.

`sort` and `topk` return (values, indices); their gradient scatters the
incoming gradient back to the positions the values came from.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import dtypes
from . import meta as M
from .creation_ops import zeros_like
from .indexing import scatter
from .registry import apply, declare
from .shape import flip

values_indices = namedtuple("values_indices", ["values", "indices"])


def _scatter_back(n, grads):
    """Gradient of a (values, indices) selection along `dim`: values go back home."""
    g, _ = grads
    (x,) = n.inputs
    indices = n.outputs[1].detach()
    return scatter(zeros_like(x, g.dtype), n.attrs["dim"], indices, g)


def _stable_order(xp, x, dim, descending):
    """Indices that sort `x` along `dim` in PyTorch's order: NaN above every
    number, ties in index order. Descending order is the ascending order of the
    flipped array, reversed (negating the keys would be wrong for unsigned ints,
    the lowest int and NaN)."""
    if xp is np:
        argsort = lambda a: np.argsort(a, axis=dim, kind="stable")  # noqa: E731
    else:
        argsort = lambda a: xp.argsort(a, axis=dim)  # noqa: E731
    if not descending:
        return argsort(x)
    flipped = argsort(xp.flip(x, dim))
    return x.shape[dim] - 1 - xp.flip(flipped, dim)


def _sort_impl(xp, x, dim, descending, stable):
    order = _stable_order(xp, x, dim, descending)
    return xp.take_along_axis(x, order, axis=dim), order.astype(np.int64, copy=False)


SORT = declare(
    "sort",
    impl=_sort_impl,
    meta=lambda x, dim, descending, stable: (
        M.Meta(x.shape, x.dtype),
        M.Meta(x.shape, dtypes.int64),
    ),
    grad=_scatter_back,
    outputs=2,
    save_output=True,
)


def sort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    """Sorted values along `dim` and the indices they came from."""
    if input.ndim == 0:
        return values_indices(input, zeros_like(input, dtypes.int64))
    d = M.normalize_dim(dim, input.ndim)
    values, indices = apply(SORT, input, dim=d, descending=bool(descending), stable=bool(stable))
    return values_indices(values, indices)


def argsort(input, dim: int = -1, descending: bool = False, stable: bool = False):
    return sort(input, dim, descending, stable).indices


def _topk_impl(xp, x, k, dim, largest, sorted):
    size = x.shape[dim]
    if not 0 <= k <= size:
        raise RuntimeError(f"selected index k out of range (k={k}, size {size})")
    if x.dtype.kind == "b":
        raise RuntimeError("\"topk_cpu\" not implemented for 'Bool'")
    order = xp.take(_stable_order(xp, x, dim, largest), xp.arange(k), axis=dim)
    return xp.take_along_axis(x, order, axis=dim), order.astype(np.int64, copy=False)


def _topk_meta(x, k, dim, largest, sorted):
    shape = list(x.shape)
    shape[dim] = k
    return M.Meta(tuple(shape), x.dtype), M.Meta(tuple(shape), dtypes.int64)


TOPK = declare(
    "topk",
    impl=_topk_impl,
    meta=_topk_meta,
    grad=_scatter_back,
    outputs=2,
    save_output=True,
)


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The `k` largest (or smallest) values along `dim`, sorted, with their indices."""
    d = M.normalize_dim(dim, input.ndim) if input.ndim else 0
    values, indices = apply(
        TOPK, input, k=int(k), dim=d, largest=bool(largest), sorted=bool(sorted)
    )
    return values_indices(values, indices)


def _cumsum_impl(xp, x, dim):
    return xp.cumsum(x, axis=dim, dtype=x.dtype)


CUMSUM = declare(
    "cumsum",
    impl=_cumsum_impl,
    meta=M.same,
    # d/dx_i sum_{k>=i} g_k: a cumulative sum from the end.
    grad=lambda n, g: flip(
        apply(CUMSUM, flip(g, n.attrs["dim"]), dim=n.attrs["dim"]), n.attrs["dim"]
    ),
    save_inputs=False,
)


def _scan(op, input, dim, dtype):
    """A cumulative op along `dim`; integers and bools accumulate in int64, as in PyTorch."""
    from .elementwise import cast

    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype))
    elif input._data.dtype.kind in "biu":
        input = cast(input, dtypes.int64)
    if input.ndim == 0:
        return input * 1
    return apply(op, input, dim=M.normalize_dim(dim, input.ndim))


def cumsum(input, dim: int, *, dtype=None):
    return _scan(CUMSUM, input, dim, dtype)


def _unique_impl(xp, x, sorted, return_inverse, return_counts, dim):
    flat = x.reshape(-1) if dim is None else x
    values, inverse, counts = np.unique(
        flat if xp is np else flat.get(), return_inverse=True, return_counts=True, axis=dim
    )
    outputs = [values]
    if return_inverse:
        outputs.append(inverse.reshape(x.shape if dim is None else -1).astype(np.int64))
    if return_counts:
        outputs.append(counts.astype(np.int64))
    if xp is not np:
        outputs = [xp.asarray(o) for o in outputs]
    return tuple(outputs)


def _unique_meta(x, sorted, return_inverse, return_counts, dim):
    shape = (
        (None,) if dim is None else tuple(None if i == dim else s for i, s in enumerate(x.shape))
    )
    out = [M.Meta(shape, x.dtype)]
    if return_inverse:
        out.append(M.Meta(x.shape if dim is None else (x.shape[dim],), dtypes.int64))
    if return_counts:
        out.append(M.Meta((None,), dtypes.int64))
    return tuple(out)


# Eager only: the output's size depends on the data.
UNIQUE = declare("unique", impl=_unique_impl, meta=_unique_meta, differentiable=False, outputs=-1)


def unique(
    input,
    sorted: bool = True,
    return_inverse: bool = False,  # noqa: A002
    return_counts: bool = False,
    dim=None,
):
    d = None if dim is None else M.normalize_dim(dim, input.ndim)
    out = apply(
        UNIQUE,
        input,
        sorted=sorted,
        return_inverse=return_inverse,
        return_counts=return_counts,
        dim=d,
    )
    return out[0] if len(out) == 1 else tuple(out)


def _cumprod_grad(n, g):
    """d/dx_i of sum_k g_k prod_{j<=k} x_j = sum_{k>=i} g_k prod_{j<=k, j!=i} x_j.
    Without zeros that is reverse_cumsum(g * out) / x; with zeros the products
    that skip x_i are formed explicitly (quadratic in the dim's size)."""
    from ..creation import eye
    from .elementwise import where
    from .reduction import sum as sum_
    from .shape import movedim, unsqueeze

    (x,) = n.inputs
    dim = n.attrs["dim"]
    if not bool((x._data == 0).any()):
        out = n.output
        return flip(apply(CUMSUM, flip(g * out, dim), dim=dim), dim) / x
    xs, gs = movedim(x, dim, -1), movedim(g, dim, -1)
    size = xs._data.shape[-1]
    skip = eye(size, dtype=dtypes.bool_, device=x.device)  # skip[i, j]: j == i
    # rows[..., i, j] = x_j, with x_i replaced by 1; cumprod over j.
    rows = where(skip, 1.0, unsqueeze(xs, -2))
    partial = apply(CUMPROD, rows, dim=rows.ndim - 1)
    later = ~apply(TRIL_MASK, skip, k=-1)  # k >= i
    grad = sum_(where(later, unsqueeze(gs, -2) * partial, 0.0), -1)
    return movedim(grad, -1, dim)


CUMPROD = declare(
    "cumprod",
    impl=lambda xp, x, dim: xp.cumprod(x, axis=dim, dtype=x.dtype),
    meta=M.same,
    grad=_cumprod_grad,
    save_output=True,
)

TRIL_MASK = declare(
    "tril_mask",
    impl=lambda xp, mask, k: xp.tril(xp.ones(mask.shape, dtype=bool), k),
    meta=lambda mask, k: M.Meta(mask.shape, dtypes.bool_),
    differentiable=False,
)


def cumprod(input, dim: int, *, dtype=None):
    return _scan(CUMPROD, input, dim, dtype)
