"""Shape/dtype rules: the `meta` part of op declarations.

A rule gets `Meta` values where the op gets Tensors (and the same Python values
and attributes otherwise) and returns the Meta of each output. The IR uses them
to type graphs; the tests check each against the eager kernels.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import dtypes
from ..tensor import _wrap_dim


class Meta(NamedTuple):
    shape: tuple
    dtype: dtypes.dtype


def meta_of(value):
    """The Meta of a Tensor; other values pass through."""
    data = getattr(value, "_data", None)
    if data is None:
        return value
    return Meta(tuple(data.shape), dtypes._BY_NP[data.dtype])


def broadcast_shapes(*shapes) -> tuple:
    """NumPy/PyTorch broadcasting of shapes, with PyTorch's error message."""
    ndim = max((len(s) for s in shapes), default=0)
    result = [1] * ndim
    for shape in shapes:
        offset = ndim - len(shape)
        for i, size in enumerate(shape):
            j = offset + i
            if result[j] == 1:
                result[j] = size
            elif size != 1 and size != result[j]:
                raise RuntimeError(
                    f"The size of tensor a ({result[j]}) must match the size of tensor b "
                    f"({size}) at non-singleton dimension {i}"
                )
    return tuple(result)


def normalize_dim(dim: int, ndim: int) -> int:
    return _wrap_dim(dim, ndim)


def normalize_dims(dim, ndim: int) -> tuple:
    """A dim argument (None, int, or sequence) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    if type(dim) is int:
        if 0 <= dim < ndim:
            return (dim,)
        return (normalize_dim(dim, ndim),)
    dims = tuple(sorted(normalize_dim(d, ndim) for d in dim))
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return dims or tuple(range(ndim))


# ----- rules shared by many ops -----


def same(x, *args, **attrs) -> Meta:
    return Meta(x.shape, x.dtype)


def _tensor_metas(args):
    return [a for a in args if isinstance(a, Meta)]


def broadcast(*args, **attrs) -> Meta:
    metas = _tensor_metas(args)
    return Meta(broadcast_shapes(*(m.shape for m in metas)), metas[0].dtype)


def broadcast_bool(*args, **attrs) -> Meta:
    metas = _tensor_metas(args)
    return Meta(broadcast_shapes(*(m.shape for m in metas)), dtypes.bool_)


def reduced_shape(shape: tuple, dim, keepdim: bool) -> tuple:
    axes = normalize_dims(dim, len(shape))
    if keepdim:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def reduction(x, dim=None, keepdim=False, **attrs) -> Meta:
    return Meta(reduced_shape(x.shape, dim, keepdim), x.dtype)
