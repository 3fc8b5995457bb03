"""Shape ops: reshape/view, permute/transpose, expand, squeeze/unsqueeze, cat/stack,
split/chunk/unbind, repeat, flip.

`reshape`, `permute`, `expand` and `split` are views (they alias their input,
as in PyTorch); everything else here is built from them or copies.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..tensor import Size, Tensor, _wrap_dim
from . import meta as M
from .conversion import clone, contiguous
from .elementwise import cast
from .registry import MAYBE_VIEW, apply, declare


def _infer_shape(shape, numel: int) -> tuple:
    """Resolves one -1 in `shape`, with PyTorch's error for impossible shapes."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        return tuple(shape[0])
    return tuple(shape)


RESHAPE = declare(
    "reshape",
    impl=lambda xp, x, shape: x.reshape(shape),
    meta=lambda x, shape: M.Meta(tuple(shape), x.dtype),
    grad=lambda n, g: reshape(g, n.in_shapes[0]),
    save_inputs=False,
    view=MAYBE_VIEW,
    broadcast=True,  # records the input shape for the grad rule
)


def reshape(input, *shape) -> Tensor:
    shape = _shape_arg(shape)
    if -1 in shape or math.prod(shape) != input._data.size:
        shape = _infer_shape(shape, input._data.size)
    if shape == input._data.shape:
        return input
    return apply(RESHAPE, input, shape=shape)


def view(input, *shape) -> Tensor:

    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("Tensor.view(dtype) is not implemented yet")
    shape = _infer_shape(_shape_arg(shape), input._data.size)
    if not input._data.flags.c_contiguous and input._data.size > 1:
        # A non-contiguous tensor can be viewed only where no stride must merge;
        # janus keeps it simple and (like PyTorch for most such cases) refuses.
        if _needs_copy(input._data, shape):
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            )
    return reshape(input, shape)


def _needs_copy(array, shape) -> bool:
    try:
        v = array.view()
        v.shape = shape  # numpy refuses exactly when a copy would be needed
        return False
    except AttributeError:
        return True


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    ndim = input.ndim
    if ndim == 0:
        return reshape(input, (1,))
    start, end = _wrap_dim(start_dim, ndim), _wrap_dim(end_dim, ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input._data.shape
    return reshape(input, shape[:start] + (-1,) + shape[end + 1 :])


def unflatten(input, dim: int, sizes) -> Tensor:
    dim = _wrap_dim(dim, input.ndim)
    shape = input._data.shape
    inner = _infer_shape(tuple(sizes), shape[dim])
    return reshape(input, shape[:dim] + inner + shape[dim + 1 :])


def squeeze(input, dim=None) -> Tensor:
    shape = input._data.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = {
            _wrap_dim(d, len(shape)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))
        }
        dims = {d for d in dims if shape[d] == 1} if shape else set()
    return reshape(input, tuple(s for i, s in enumerate(shape) if i not in dims))


def unsqueeze(input, dim: int) -> Tensor:
    shape = input._data.shape
    dim = _wrap_dim(dim, len(shape) + 1)
    return reshape(input, shape[:dim] + (1,) + shape[dim:])


def _permute_grad(n, g):
    dims = n.attrs["dims"]
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return permute(g, tuple(inverse))


PERMUTE = declare(
    "permute",
    impl=lambda xp, x, dims: x.transpose(dims),
    meta=lambda x, dims: M.Meta(tuple(x.shape[d] for d in dims), x.dtype),
    grad=_permute_grad,
    save_inputs=False,
    view=True,
)


def permute(input, *dims) -> Tensor:
    dims = _shape_arg(dims)
    ndim = input.ndim
    if len(dims) != ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {ndim} is not "
            f"equal to len(dims) = {len(dims)}"
        )
    dims = tuple(_wrap_dim(d, ndim) for d in dims)
    if len(set(dims)) != ndim:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if dims == tuple(range(ndim)):
        return input
    return apply(PERMUTE, input, dims=dims)


def transpose(input, dim0: int, dim1: int) -> Tensor:
    ndim = input._data.ndim
    if ndim == 0:
        return input
    d0 = dim0 if 0 <= dim0 < ndim else _wrap_dim(dim0, ndim)
    d1 = dim1 if 0 <= dim1 < ndim else _wrap_dim(dim1, ndim)
    if d0 == d1:
        return input
    dims = list(range(ndim))
    dims[d0], dims[d1] = d1, d0
    return apply(PERMUTE, input, dims=tuple(dims))


def t(input) -> Tensor:
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def movedim(input, source, destination) -> Tensor:
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    ndim = input.ndim
    src = [_wrap_dim(d, ndim) for d in src]
    dst = [_wrap_dim(d, ndim) for d in dst]
    order = [d for d in range(ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, tuple(order))


def _expand_grad(n, g):
    from .reduction import sum_to

    return sum_to(g, n.in_shapes[0])


EXPAND = declare(
    "expand",
    impl=lambda xp, x, shape: xp.broadcast_to(x, shape),
    meta=lambda x, shape: M.Meta(tuple(shape), x.dtype),
    grad=_expand_grad,
    save_inputs=False,
    view=True,
    broadcast=True,
)


def expand(input, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(shape)}}}, size=[{', '.join(map(str, sizes))}]): "
            "the number of sizes provided must be greater or equal to the number of dimensions "
            "in the tensor"
        )
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    "expand(): -1 is not allowed in a leading, non-existing dimension"
                )
            target.append(s)
        else:
            cur = shape[i - lead]
            if s == -1:
                s = cur
            elif cur != 1 and s != cur:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) must match the existing size ({cur}) "
                    f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor "
                    f"sizes: {list(shape)}"
                )
            target.append(s)
    target = tuple(target)
    if target == shape:
        return input
    return apply(EXPAND, input, shape=target)


def expand_as(input, other) -> Tensor:
    return expand(input, other._data.shape)


def view_as(input, other) -> Tensor:
    return view(input, other._data.shape)


def reshape_as(input, other) -> Tensor:
    return reshape(input, other._data.shape)


def _cat_impl(xp, *xs, dim):
    return xp.concatenate(xs, axis=dim)


def _cat_meta(*xs, dim):
    shape = list(xs[0].shape)
    shape[dim] = sum(x.shape[dim] for x in xs)
    return M.Meta(tuple(shape), xs[0].dtype)


def _cat_grad(n, g):
    sizes = [s[n.attrs["dim"]] for s in n.in_shapes]
    return split(g, sizes, n.attrs["dim"])


CAT = declare(
    "cat", impl=_cat_impl, meta=_cat_meta, grad=_cat_grad, save_inputs=False, broadcast=True
)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = tensors if type(tensors) is list else list(tensors)
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    first = tensors[0]._data
    dtype, ndim = first.dtype, first.ndim
    uniform = len(tensors) > 1 and ndim > 0
    if uniform:
        for t in tensors:
            data = t._data
            if data.dtype != dtype or data.ndim != ndim:
                uniform = False
                break
    if uniform:  # the common case: numpy's own checks suffice
        d = dim if 0 <= dim < ndim else _wrap_dim(dim, ndim)
        try:
            return apply(CAT, *tensors, dim=d)
        except RuntimeError:
            pass  # fall through to the checks below for PyTorch's message
    # PyTorch skips legacy empty 1-D tensors of shape (0,).
    kept = [t for t in tensors if not (t.ndim == 1 and t._data.shape[0] == 0)] or tensors[:1]
    ref = kept[0]
    d = _wrap_dim(dim, ref.ndim)
    for i, t in enumerate(kept):
        if t.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}"
            )
        for j in range(ref.ndim):
            if j != d and t._data.shape[j] != ref._data.shape[j]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref._data.shape[j]} but got size {t._data.shape[j]} for tensor number {i} "
                    "in the list."
                )
    result = dtypes.result_type(*kept)
    kept = [cast(t, result) for t in kept]
    if len(kept) == 1:
        return clone(kept[0])
    return apply(CAT, *kept, dim=d)


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t._data.shape)} at entry {i}"
            )
    d = _wrap_dim(dim, len(shape) + 1)
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors) -> Tensor:
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([t if t.ndim > 1 else unsqueeze(t, 0) for t in tensors], 0)


def _split_impl(xp, x, sizes, dim):
    out = []
    start = 0
    index = [slice(None)] * x.ndim
    for s in sizes:
        index[dim] = slice(start, start + s)
        out.append(x[tuple(index)])
        start += s
    return tuple(out)


def _split_meta(x, sizes, dim):
    out = []
    for s in sizes:
        shape = list(x.shape)
        shape[dim] = s
        out.append(M.Meta(tuple(shape), x.dtype))
    return tuple(out)


def _split_grad(n, grads):
    return cat(list(grads), n.attrs["dim"])


SPLIT = declare(
    "split",
    impl=_split_impl,
    meta=_split_meta,
    grad=_split_grad,
    outputs=-1,
    save_inputs=False,
    view=True,
)


def split(tensor, split_size_or_sections, dim: int = 0):
    d = _wrap_dim(dim, tensor.ndim)
    size = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and size:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )
        sizes = [min(step, size - i) for i in range(0, size, step)] if size else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {d}), but got split_sizes={sizes}"
            )
    if len(sizes) == 1:
        return (narrow(tensor, d, 0, sizes[0]),)
    return apply(SPLIT, tensor, sizes=tuple(sizes), dim=d)


def chunk(input, chunks: int, dim: int = 0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input._data.shape[_wrap_dim(dim, input.ndim)]
    step = max(math.ceil(size / chunks), 1)
    return split(input, step, dim)


def unbind(input, dim: int = 0):
    d = _wrap_dim(dim, input.ndim)
    pieces = split(input, 1, d)
    return tuple(squeeze(p, d) for p in pieces)


def narrow(input, dim: int, start: int, length: int) -> Tensor:
    from .indexing import getitem

    d = _wrap_dim(dim, input.ndim)
    size = input._data.shape[d]
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length and start + length <= size):
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    key = (slice(None),) * d + (slice(start, start + length),)
    return getitem(input, key)


def select(input, dim: int, index: int) -> Tensor:
    from .indexing import getitem

    d = _wrap_dim(dim, input.ndim)
    size = input._data.shape[d]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size "
            f"{list(input._data.shape)} at dimension {d}"
        )
    return getitem(input, (slice(None),) * d + (index,))


def repeat(input, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of "
            "dimensions of tensor"
        )
    x = reshape(input, (1,) * (len(sizes) - input.ndim) + input._data.shape)
    shape = x._data.shape
    # Interleave a repeat axis before each axis, expand it, and merge the pairs.
    inter = []
    expanded = []
    for r, s in zip(sizes, shape):
        inter += [1, s]
        expanded += [r, s]

    y = expand(reshape(x, tuple(inter)), tuple(expanded))
    return reshape(contiguous(y), tuple(r * s for r, s in zip(sizes, shape)))


FLIP = declare(
    "flip",
    impl=lambda xp, x, dims: xp.flip(x, dims).copy(),
    meta=M.same,
    grad=lambda n, g: flip(g, n.attrs["dims"]),
    save_inputs=False,
)


def flip(input, *dims) -> Tensor:
    dims = tuple(sorted(_wrap_dim(d, input.ndim) for d in _shape_arg(dims)))
    return apply(FLIP, input, dims=dims)


def roll(input, shifts, dims=None) -> Tensor:
    """Rotates elements along `dims` (the flattened tensor when dims is None)."""
    from ..creation import tensor as make_tensor
    from .indexing import index_select

    if dims is None:
        return reshape(roll(flatten(input), shifts, 0), tuple(input._data.shape))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    out = input
    for shift, dim in zip(shifts, dims):
        d = _wrap_dim(dim, input.ndim)
        size = input._data.shape[d]
        if size == 0:
            continue
        order = (np.arange(size) - shift) % size
        out = index_select(out, d, make_tensor(order.astype(np.int64), device=input.device))
    return out
