"""Reductions: sum, mean, prod, max/min, arg-max/min, var/std, logsumexp, norm, all/any.

Ops take `dims` as a sorted tuple of non-negative axes (normalized by the
frontend) so that their attributes are canonical for the IR.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from . import meta as M
from .creation_ops import zeros_like
from .elementwise import _to_float, cast, exp, sqrt, where
from .indexing import scatter
from .registry import apply, declare
from .shape import expand, reshape, unsqueeze

values_indices = namedtuple("values_indices", ["values", "indices"])


def _expand_back(g: Tensor, shape: tuple, dims: tuple, keepdim: bool) -> Tensor:
    """A reduced gradient broadcast back over the input's shape."""
    if not keepdim:
        kept = tuple(1 if i in dims else s for i, s in enumerate(shape))
        g = reshape(g, kept)
    return expand(g, shape)


def _reduce_meta_dtype(x, dims, keepdim, **attrs):
    return M.Meta(M.reduced_shape(x.shape, dims, keepdim), x.dtype)


def _sum_impl(xp, x, dims, keepdim):
    # The frontend already chose the accumulation dtype; add.reduce keeps it.
    return xp.add.reduce(x, axis=dims, keepdims=keepdim)


SUM = declare(
    "sum",
    impl=_sum_impl,
    cuda=lambda cp, x, dims, keepdim: cp.sum(x, axis=dims, keepdims=keepdim, dtype=x.dtype),
    meta=_reduce_meta_dtype,
    grad=lambda n, g: _expand_back(g, n.in_shapes[0], n.attrs["dims"], n.attrs["keepdim"]),
    save_inputs=False,
    broadcast=True,  # records input shapes; the gradient already has them
)


def sum(input, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A001
    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype))
    elif input._data.dtype.kind != "f":
        input = cast(input, dtypes.int64)
    dims = M.normalize_dims(dim, input._data.ndim)
    return apply(SUM, input, dims=dims, keepdim=bool(keepdim))


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sums a broadcast gradient back to `shape` (the inverse of broadcasting)."""
    shape = tuple(shape)
    if tuple(g._data.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g._data.shape[lead + i] != 1
    )
    if dims:
        g = apply(SUM, g, dims=dims, keepdim=True)
    return reshape(g, shape)


def _mean_impl(xp, x, dims, keepdim):
    return xp.mean(x, axis=dims, keepdims=keepdim, dtype=x.dtype)


def _mean_grad(n, g):
    shape, dims = n.in_shapes[0], n.attrs["dims"]
    count = 1
    for d in dims:
        count *= shape[d]
    return _expand_back(g, shape, dims, n.attrs["keepdim"]) / builtins.max(count, 1)


MEAN = declare(
    "mean",
    impl=_mean_impl,
    meta=_reduce_meta_dtype,
    grad=_mean_grad,
    save_inputs=False,
    broadcast=True,
)


def mean(input, dim=None, keepdim: bool = False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype))
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {input.dtype.legacy_name}"
        )
    dims = M.normalize_dims(dim, input.ndim)
    return apply(MEAN, input, dims=dims, keepdim=bool(keepdim))


def _prod_grad(n, g):
    (x,) = n.inputs
    dims, keepdim = n.attrs["dims"], n.attrs["keepdim"]
    out = _expand_back(n.output, x._data.shape, dims, keepdim)
    g = _expand_back(g, x._data.shape, dims, keepdim)
    # Where x == 0 the product of the others is needed: nonzero only if x is
    # the single zero of its slice.
    is_zero = x == 0
    nonzero_x = where(is_zero, 1.0, x)
    others = _expand_back(
        apply(PROD, nonzero_x, dims=dims, keepdim=True), x._data.shape, dims, True
    )
    zeros = _expand_back(
        apply(SUM, cast(is_zero, x.dtype), dims=dims, keepdim=True), x._data.shape, dims, True
    )
    at_zero = where(zeros == 1, others, 0.0)
    return g * where(is_zero, at_zero, out / nonzero_x)


PROD = declare(
    "prod",
    impl=lambda xp, x, dims, keepdim: xp.prod(x, axis=dims, keepdims=keepdim, dtype=x.dtype),
    meta=_reduce_meta_dtype,
    grad=_prod_grad,
    save_output=True,
)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype))
    elif not input.dtype.is_floating_point:
        input = cast(input, dtypes.int64)
    dims = M.normalize_dims(dim, input.ndim)
    return apply(PROD, input, dims=dims, keepdim=bool(keepdim))


def _extremum_grad(n, g):
    """amax/amin: the gradient is shared evenly by the elements equal to the result."""
    (x,) = n.inputs
    dims, keepdim = n.attrs["dims"], n.attrs["keepdim"]
    shape = x._data.shape
    out = _expand_back(n.output, shape, dims, keepdim)
    mask = cast(x == out, g.dtype)
    count = _expand_back(apply(SUM, mask, dims=dims, keepdim=True), shape, dims, True)
    return _expand_back(g, shape, dims, keepdim) * mask / count


def _check_nonempty(xp, x, dims, name):
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _amax_impl(xp, x, dims, keepdim):
    _check_nonempty(xp, x, dims, "amax")
    return xp.amax(x, axis=dims, keepdims=keepdim)


def _amin_impl(xp, x, dims, keepdim):
    _check_nonempty(xp, x, dims, "amin")
    return xp.amin(x, axis=dims, keepdims=keepdim)


AMAX = declare(
    "amax", impl=_amax_impl, meta=_reduce_meta_dtype, grad=_extremum_grad, save_output=True
)
AMIN = declare(
    "amin", impl=_amin_impl, meta=_reduce_meta_dtype, grad=_extremum_grad, save_output=True
)


def amax(input, dim=(), keepdim: bool = False):
    dims = M.normalize_dims(dim if dim != () else None, input.ndim)
    return apply(AMAX, input, dims=dims, keepdim=bool(keepdim))


def amin(input, dim=(), keepdim: bool = False):
    dims = M.normalize_dims(dim if dim != () else None, input.ndim)
    return apply(AMIN, input, dims=dims, keepdim=bool(keepdim))


def _max_dim_impl(xp, x, dim, keepdim, largest):
    if x.ndim and x.shape[dim] == 0:
        raise IndexError(f"max(): Expected reduction dim {dim} to have non-zero size.")
    arg = xp.argmax if largest else xp.argmin
    indices = arg(x, axis=dim, keepdims=True) if x.ndim else xp.zeros((), dtype=np.int64)
    values = xp.take_along_axis(x, indices, axis=dim) if x.ndim else x.copy()
    if not keepdim and x.ndim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return values, indices.astype(np.int64, copy=False)


def _max_dim_meta(x, dim, keepdim, largest):
    shape = M.reduced_shape(x.shape, dim, keepdim) if x.shape else ()
    return M.Meta(shape, x.dtype), M.Meta(shape, dtypes.int64)


def _max_dim_grad(n, grads):

    g, _ = grads
    (x,) = n.inputs
    if x.ndim == 0:
        return g
    dim, keepdim = n.attrs["dim"], n.attrs["keepdim"]
    indices = n.outputs[1].detach()
    if not keepdim:
        g, indices = unsqueeze(g, dim), unsqueeze(indices, dim)
    return scatter(zeros_like(x, g.dtype), dim, indices, g)


MAX_DIM = declare(
    "max_dim",
    impl=_max_dim_impl,
    meta=_max_dim_meta,
    grad=_max_dim_grad,
    outputs=2,
    save_output=True,
)


def _extremum(input, dim, keepdim, largest, other, name):
    if isinstance(dim, Tensor):  # torch.max(a, b) is elementwise
        from .elementwise import maximum, minimum

        return (maximum if largest else minimum)(input, dim)
    if other is not None:
        from .elementwise import maximum, minimum

        return (maximum if largest else minimum)(input, other)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for "
                "input.numel() == 0. Specify the reduction dim with the 'dim' "
                "argument."
            )
        return (amax if largest else amin)(input)
    d = M.normalize_dim(dim, input.ndim) if input.ndim else 0
    values, indices = apply(MAX_DIM, input, dim=d, keepdim=bool(keepdim), largest=largest)
    return values_indices(values, indices)


def max(input, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    return _extremum(input, dim, keepdim, True, other, "max")


def min(input, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    return _extremum(input, dim, keepdim, False, other, "min")


def _arg_impl(xp, x, dim, keepdim, largest):
    arg = xp.argmax if largest else xp.argmin
    if dim is None:
        out = arg(x.reshape(-1))
        return xp.asarray(out).reshape((1,) * x.ndim if keepdim else ()).astype(np.int64)
    return arg(x, axis=dim, keepdims=keepdim).astype(np.int64, copy=False)


def _arg_meta(x, dim, keepdim, largest):
    if dim is None:
        return M.Meta((1,) * len(x.shape) if keepdim else (), dtypes.int64)
    return M.Meta(M.reduced_shape(x.shape, dim, keepdim), dtypes.int64)


ARGMAX = declare("argmax", impl=_arg_impl, meta=_arg_meta, differentiable=False)


def argmax(input, dim=None, keepdim: bool = False):
    d = None if dim is None else M.normalize_dim(dim, input.ndim)
    return apply(ARGMAX, input, dim=d, keepdim=bool(keepdim), largest=True)


def argmin(input, dim=None, keepdim: bool = False):
    d = None if dim is None else M.normalize_dim(dim, input.ndim)
    return apply(ARGMAX, input, dim=d, keepdim=bool(keepdim), largest=False)


def _var_impl(xp, x, dims, keepdim, correction):
    # Written with ufuncs (not xp.var) so that a zero divisor gives nan quietly.
    count = 1
    for d in dims:
        count *= x.shape[d]
    centered = x - xp.add.reduce(x, axis=dims, keepdims=True) / x.dtype.type(builtins.max(count, 1))
    squares = xp.add.reduce(centered * centered, axis=dims, keepdims=keepdim)
    return (squares / x.dtype.type(count - correction)).astype(x.dtype, copy=False)


def _var_grad(n, g):
    (x,) = n.inputs
    dims, keepdim, correction = n.attrs["dims"], n.attrs["keepdim"], n.attrs["correction"]
    shape = x._data.shape
    count = 1
    for d in dims:
        count *= shape[d]
    centered = x - mean(x, dims, keepdim=True)
    dof = count - correction
    scale = 2.0 / dof if dof > 0 else float("nan")  # as PyTorch: no degrees of freedom
    return _expand_back(g, shape, dims, keepdim) * centered * scale


VAR = declare("var", impl=_var_impl, meta=_reduce_meta_dtype, grad=_var_grad)


def _correction(unbiased, correction) -> int:
    if correction is not None:
        return int(correction)
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):  # var(x, False): the old positional `unbiased`
        unbiased, dim = dim, None
    dims = M.normalize_dims(dim, input.ndim)
    return apply(
        VAR,
        _to_float(input),
        dims=dims,
        keepdim=bool(keepdim),
        correction=_correction(unbiased, correction),
    )


def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def _logsumexp_impl(xp, x, dims, keepdim):
    peak = xp.amax(x, axis=dims, keepdims=True)
    peak = xp.where(xp.isfinite(peak), peak, 0)
    out = xp.log(xp.sum(xp.exp(x - peak), axis=dims, keepdims=True)) + peak
    if not keepdim:
        out = out.squeeze(dims) if dims else out
    return out.astype(x.dtype, copy=False)


def _logsumexp_grad(n, g):
    (x,) = n.inputs
    dims, keepdim = n.attrs["dims"], n.attrs["keepdim"]
    shape = x._data.shape
    out = _expand_back(n.output, shape, dims, keepdim)
    return _expand_back(g, shape, dims, keepdim) * exp(x - out)


LOGSUMEXP = declare(
    "logsumexp",
    impl=_logsumexp_impl,
    meta=_reduce_meta_dtype,
    grad=_logsumexp_grad,
    save_output=True,
)


def logsumexp(input, dim, keepdim: bool = False):
    dims = M.normalize_dims(dim, input.ndim)
    return apply(LOGSUMEXP, _to_float(input), dims=dims, keepdim=bool(keepdim))


def _norm2_impl(xp, x, dims, keepdim):
    return xp.sqrt(xp.sum(x * x, axis=dims, keepdims=keepdim)).astype(x.dtype, copy=False)


def _norm2_grad(n, g):
    (x,) = n.inputs
    dims, keepdim = n.attrs["dims"], n.attrs["keepdim"]
    shape = x._data.shape
    out = _expand_back(n.output, shape, dims, keepdim)
    scale = where(out == 0, 0.0, _expand_back(g, shape, dims, keepdim) / out)
    return x * scale


NORM2 = declare(
    "norm2", impl=_norm2_impl, meta=_reduce_meta_dtype, grad=_norm2_grad, save_output=True
)


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None):
    """Vector p-norm over `dim` (all elements by default); 'fro' is the 2-norm."""
    from .elementwise import abs as abs_
    from .elementwise import pow as pow_

    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype))
    input = _to_float(input)
    dims = M.normalize_dims(dim, input.ndim)
    if p in ("fro", 2, 2.0, None):
        return apply(NORM2, input, dims=dims, keepdim=bool(keepdim))
    if p in (float("inf"), "inf"):
        return amax(abs_(input), dims, keepdim)
    if p in (float("-inf"), "-inf"):
        return amin(abs_(input), dims, keepdim)
    if p == 1:
        return sum(abs_(input), dims, keepdim)
    if p == 0:
        return sum(cast(input != 0, input.dtype), dims, keepdim)
    if isinstance(p, str):
        raise RuntimeError(f"norm(): unsupported norm type {p!r}")
    return pow_(sum(pow_(abs_(input), p), dims, keepdim), 1.0 / p)


def _any_all(name, fn):
    op = declare(
        name,
        impl=lambda xp, x, dims, keepdim: fn(xp, x.astype(bool, copy=False), dims, keepdim),
        meta=lambda x, dims, keepdim: M.Meta(M.reduced_shape(x.shape, dims, keepdim), dtypes.bool_),
        differentiable=False,
    )

    def frontend(input, dim=None, keepdim: bool = False):
        dims = M.normalize_dims(dim, input.ndim)
        return apply(op, input, dims=dims, keepdim=bool(keepdim))

    frontend.__name__ = name
    return op, frontend


ALL, all = _any_all("all", lambda xp, x, d, k: xp.all(x, axis=d, keepdims=k))  # noqa: A001
ANY, any = _any_all("any", lambda xp, x, d, k: xp.any(x, axis=d, keepdims=k))  # noqa: A001
