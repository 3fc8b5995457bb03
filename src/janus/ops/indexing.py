"""Indexing: `t[key]`, `t[key] = v`, gather/scatter, index_select/index_add,
masked_fill, one_hot, nonzero, embedding.

An indexing key is encoded as a hashable `spec` (the IR needs hashable
attributes): one entry per key item, ("i", n) for an int, ("s", start, stop,
step) for a slice, ("n",) for None, ("e",) for Ellipsis and ("t",) for an
index tensor, which is passed as an op input in order.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import state as grad_state
from ..tensor import Tensor, _make
from . import meta as M
from . import registry
from .conversion import to_device
from .creation_ops import zeros_like
from .elementwise import cast, where
from .meta import broadcast_shapes
from .registry import apply, declare
from .shape import expand, permute, reshape, unsqueeze

_INDEX_DTYPES = ("i", "u", "b")


def _encode(key):
    """(spec, index tensors, advanced?) for a `__getitem__` key."""
    if not isinstance(key, tuple):
        key = (key,)
    spec, tensors = [], []
    advanced = False
    for item in key:
        if isinstance(item, Tensor):
            if item._data.dtype.kind not in _INDEX_DTYPES:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if item._data.ndim == 0 and item._data.dtype.kind in "iu":
                spec.append(("i", int(item.item())))
                continue
            spec.append(("t",))
            tensors.append(item)
            advanced = True
        elif isinstance(item, bool) or item is Ellipsis or item is None:
            if isinstance(item, bool):
                from ..creation import tensor as make_tensor

                spec.append(("t",))
                tensors.append(make_tensor(item))
                advanced = True
            else:
                spec.append(("e",) if item is Ellipsis else ("n",))
        elif isinstance(item, (int, np.integer)):
            spec.append(("i", int(item)))
        elif isinstance(item, slice):
            spec.append(("s", _slice_int(item.start), _slice_int(item.stop), _slice_int(item.step)))
            if item.step is not None and _slice_int(item.step) <= 0:
                raise ValueError("step must be greater than zero")
        elif isinstance(item, (list, np.ndarray)):
            from ..creation import tensor as make_tensor

            array = np.asarray(item)
            if array.size == 0 and array.dtype.kind == "f":  # [] indexes nothing, as int64
                array = array.astype(np.int64)
            spec.append(("t",))
            tensors.append(make_tensor(array))
            advanced = True
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(item).__name__})"
            )
    return tuple(spec), tensors, advanced


def _slice_int(v):
    if v is None:
        return None
    if isinstance(v, Tensor):
        return int(v.item())
    return int(v)


def _decode(spec, arrays):
    key = []
    it = iter(arrays)
    for entry in spec:
        kind = entry[0]
        if kind == "i":
            key.append(entry[1])
        elif kind == "s":
            key.append(slice(entry[1], entry[2], entry[3]))
        elif kind == "n":
            key.append(None)
        elif kind == "e":
            key.append(Ellipsis)
        else:
            key.append(next(it))
    return tuple(key)


def _check_int_bounds(shape, spec):
    """PyTorch's message for an int index out of range (numpy's names an axis)."""
    dim = 0
    ellipsis_width = len(shape) - sum(1 for e in spec if e[0] in ("i", "s", "t"))
    for entry in spec:
        kind = entry[0]
        if kind == "e":
            dim += ellipsis_width
        elif kind == "n":
            continue
        else:
            if dim >= len(shape):
                raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
            if kind == "i" and not -shape[dim] <= entry[1] < shape[dim]:
                raise IndexError(
                    f"index {entry[1]} is out of bounds for dimension {dim} with size {shape[dim]}"
                )
            dim += 1


def _meta_by_numpy(x, *indices, spec):
    """Shapes of indexing results: index an empty-strided stand-in array."""
    fake = np.lib.stride_tricks.as_strided(
        np.zeros(1, dtype=np.int8), shape=x.shape, strides=(0,) * len(x.shape)
    )
    idx = []
    for m in indices:
        if m.dtype is dtypes.bool_:
            idx.append(np.ones(m.shape, dtype=bool))  # real shape depends on the data
        else:
            idx.append(np.zeros(m.shape, dtype=np.int64))
    shape = fake[_decode(spec, idx)].shape
    if any(m.dtype is dtypes.bool_ for m in indices):
        shape = tuple(None for _ in shape)  # data-dependent
    return M.Meta(shape, x.dtype)


# ----- basic indexing: a view -----


def _index_basic_grad(n, g):
    return apply(INDEX_BASIC_BACKWARD, g, shape=n.in_shapes[0], spec=n.attrs["spec"])


def _index_basic_impl(xp, x, spec):
    key = _decode(spec, ())
    if all(e[0] != "e" for e in spec):
        # (numpy answers a full int selection with a scalar, a copy; with an
        # Ellipsis it is a 0-d view, as PyTorch's `x[0]` of a vector is)
        key = (*key, Ellipsis)
    return x[key]


INDEX_BASIC = declare(
    "index_basic",
    impl=_index_basic_impl,
    meta=_meta_by_numpy,
    grad=_index_basic_grad,
    save_inputs=False,
    view=True,
    broadcast=True,  # records the input shape
)


def _index_basic_backward_impl(xp, g, shape, spec):
    out = xp.zeros(shape, dtype=g.dtype)
    out[_decode(spec, ())] = g
    return out


INDEX_BASIC_BACKWARD = declare(
    "index_basic_backward",
    impl=_index_basic_backward_impl,
    meta=lambda g, shape, spec: M.Meta(tuple(shape), g.dtype),
    grad=lambda n, gg: apply(INDEX_BASIC, gg, spec=n.attrs["spec"]),
    save_inputs=False,
)

# ----- advanced indexing: a copy -----


def _index_grad(n, g):
    x, *indices = n.inputs
    return (
        apply(
            INDEX_PUT, zeros_like(x, g.dtype), g, *indices, spec=n.attrs["spec"], accumulate=True
        ),
    ) + (None,) * len(indices)


INDEX = declare(
    "index",
    impl=lambda xp, x, *idx, spec: x[_decode(spec, idx)],
    meta=_meta_by_numpy,
    grad=_index_grad,
)


def _index_put_impl(xp, x, values, *idx, spec, accumulate):
    out = x.copy()
    key = _decode(spec, idx)
    if accumulate:
        _add_at(xp, out, key, values)
    else:
        out[key] = values
    return out


def _add_at(xp, out, key, values):
    """out[key] += values, accumulating over repeated indices (numpy and cupy)."""
    xp.add.at(out, key, values)


def _index_put_grad(n, g):
    x, values, *indices = n.inputs
    spec, accumulate = n.attrs["spec"], n.attrs["accumulate"]
    gx = None
    if isinstance(x, Tensor) and x._rg:
        gx = g if accumulate else apply(INDEX_PUT, g, 0.0, *indices, spec=spec, accumulate=False)
    gv = None
    if isinstance(values, Tensor) and values._rg:
        from .reduction import sum_to

        picked = (
            apply(INDEX, g, *indices, spec=spec) if indices else apply(INDEX_BASIC, g, spec=spec)
        )
        gv = sum_to(picked, values._data.shape)
    return (gx, gv) + (None,) * len(indices)


INDEX_PUT = declare(
    "index_put",
    impl=_index_put_impl,
    meta=lambda x, values, *idx, spec, accumulate: M.Meta(x.shape, x.dtype),
    grad=_index_put_grad,
)


def getitem(x: Tensor, key) -> Tensor:
    if type(key) is slice and x._data.ndim:  # the common x[a:b]: no int bounds to check
        step = key.step
        if step is not None and _slice_int(step) <= 0:
            raise ValueError("step must be greater than zero")
        spec = (("s", _slice_int(key.start), _slice_int(key.stop), _slice_int(step)),)
        return apply(INDEX_BASIC, x, spec=spec)
    spec, tensors, advanced = _encode(key)
    _check_int_bounds(x._data.shape, spec)
    if not advanced:
        return apply(INDEX_BASIC, x, spec=spec)
    tensors = [_on_device_of(t, x) for t in tensors]
    if any(entry[0] == "i" for entry in spec):
        # PyTorch applies integer indices as plain selections before the index
        # tensors (numpy would treat them as advanced indices too, which moves
        # dims differently): do the basic part first, then the tensors. An
        # index tensor keeps the dims it indexes: one, or a bool mask's ndim.
        widths = iter(t._data.ndim if t._data.dtype.kind == "b" else 1 for t in tensors)
        basic = []
        for e in spec:
            basic.extend([("s", None, None, None)] * next(widths) if e[0] == "t" else [e])
        x = apply(INDEX_BASIC, x, spec=tuple(basic))
        spec = tuple(("s", None, None, None) if e[0] in "sn" else e for e in spec if e[0] != "i")
    return apply(INDEX, x, *tensors, spec=spec)


def _on_device_of(t: Tensor, x: Tensor) -> Tensor:
    if type(t._data) is type(x._data):
        return t

    return to_device(t, x.device)


# numpy and PyTorch agree that the dims of the broadcast index tensors (the
# "block") replace the indexed dims in place when the index tensors are
# adjacent in the key, and come first otherwise. They differ on ints mixed with
# tensors: numpy counts an int as one more index array (x[0, :, i] has
# separated indices: block first), PyTorch selects ints away first (x[0, :, i]
# is x[0][:, i]: block in place). INDEX and INDEX_PUT (and their C++ lowering)
# follow numpy; getitem selects the ints first, setitem lays the value out.


def _block_position(spec, tensors, ndim: int, ints_are_indices: bool) -> int:
    """The result dim where the block starts, by numpy's rule
    (`ints_are_indices`) or PyTorch's; `tensors` are the key's index tensors."""
    ellipsis_width = _ellipsis_width(spec, tensors, ndim)
    dims_before = 0  # result dims, outside the block, made by the entries so far
    start = None
    separated = False  # a result dim outside the block came after the block began
    for entry in spec:
        kind = entry[0]
        if kind == "t" or (kind == "i" and ints_are_indices):
            if start is None:
                start = dims_before
            elif separated:
                return 0
        elif kind in "sn" or (kind == "e" and ellipsis_width):
            dims_before += ellipsis_width if kind == "e" else 1
            separated = start is not None
    return start


def _ellipsis_width(spec, tensors, ndim: int) -> int:
    """How many dims of the indexed tensor `...` stands for (a bool tensor
    consumes as many dims as it has)."""
    consumed = sum(1 for e in spec if e[0] in "is")
    consumed += sum(t._data.ndim if t._data.dtype.kind == "b" else 1 for t in tensors)
    return max(ndim - consumed, 0)


def _value_in_numpy_layout(value: Tensor, x: Tensor, spec, tensors) -> Tensor:
    """`value`, given for PyTorch's layout of `x[key]`, permuted so that
    numpy's rule (INDEX_PUT's) writes each element where PyTorch would."""
    torch_at = _block_position(spec, tensors, x.ndim, ints_are_indices=False)
    numpy_at = _block_position(spec, tensors, x.ndim, ints_are_indices=True)
    if torch_at == numpy_at or value.ndim == 0:
        return value
    block = max(1 if t._data.dtype.kind == "b" else t._data.ndim for t in tensors)
    outside = sum(1 for e in spec if e[0] in "sn") + _ellipsis_width(spec, tensors, x.ndim)
    rank = block + outside
    # Size-1 dims broadcast like the sizes they stand for, so the value is
    # permuted as it is (its leading dims padded with 1s), never expanded.
    shape = tuple(value.shape)
    while len(shape) > rank and shape[0] == 1:
        shape = shape[1:]
    if len(shape) > rank:
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {list(value.shape)} cannot be broadcast "
            f"to an indexing result of {rank} dimensions"
        )
    value = reshape(value, (1,) * (rank - len(shape)) + shape)
    dims = list(range(rank))
    block_dims = dims[torch_at : torch_at + block]
    rest = dims[:torch_at] + dims[torch_at + block :]
    return permute(value, *(rest[:numpy_at] + block_dims + rest[numpy_at:]))


def setitem(x: Tensor, key, value) -> None:
    """`x[key] = value`: writes in place; recorded for autograd like PyTorch's copy_."""

    spec, tensors, advanced = _encode(key)
    _check_int_bounds(x._data.shape, spec)
    tensors = [_on_device_of(t, x) for t in tensors]
    if isinstance(value, Tensor):
        value = _on_device_of(cast(value, x.dtype), x)
        if advanced:
            value = _value_in_numpy_layout(value, x, spec, tensors)
    elif isinstance(value, np.generic):
        value = value.item()
    if grad_state.enabled and (x._rg or (isinstance(value, Tensor) and value._rg)):
        result = apply(
            INDEX_PUT, _snapshot_for_inplace(x), value, *tensors, spec=spec, accumulate=False
        )
        commit_inplace(x, result)
        return
    if registry.observers:  # recording: the write as a value, then an effect
        result = apply(INDEX_PUT, x, value, *tensors, spec=spec, accumulate=False)
        x._data[...] = result._data
        x._bump_version()
        registry.notify_write(x, result)
        return
    data = value._data if isinstance(value, Tensor) else value
    try:
        x._data[_decode(spec, [t._data for t in tensors])] = data
    except ValueError as exc:
        raise RuntimeError(f"index_put_(): {exc} (tensor {tuple(x.shape)}, key {key!r})") from None
    x._bump_version()


# ----- in-place updates under autograd -----


def check_inplace(x: Tensor) -> None:
    if x._rg and x.grad_fn is None and grad_state.enabled:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    # Recording into a view would need the base's graph rewritten too (PyTorch's
    # CopySlices); janus refuses instead of silently losing the base's gradient.
    if grad_state.enabled and x._base is not None:
        raise NotImplementedError(
            "janus does not yet support in-place operations on a view of a tensor that requires "
            "grad; use an out-of-place op (e.g. torch.cat or torch.where) instead."
        )


def _snapshot_for_inplace(x: Tensor) -> Tensor:
    """A stand-in for `x`'s value before an in-place op: same graph identity,
    its own copy of the data (the op's grad rule may read it) and version."""
    check_inplace(x)
    snap = _make(x._data.copy())
    snap._rg = x._rg
    snap.grad_fn = x.grad_fn
    snap._output_nr = x._output_nr
    if x._rg and x.grad_fn is None:  # a leaf: share its accumulator
        from ..autograd.node import accumulator_of

        accumulator_of(x)
        snap._accumulator = x._accumulator
    if registry.observers:
        registry.notify_copied(snap, x)
    return snap


def commit_inplace(x: Tensor, result: Tensor) -> Tensor:
    """Writes `result` into `x`'s memory and makes `x` the output of its node."""
    xp = np if type(x._data) is np.ndarray else None
    if xp is np:
        np.copyto(x._data, result._data, casting="unsafe")
    else:
        x._data[...] = result._data
    x._bump_version()
    if result._rg:
        x._rg = True
        x.grad_fn = result.grad_fn
        x._output_nr = result._output_nr
    else:  # overwritten by values that do not depend on x's history
        x._rg = False
        x.grad_fn = None
    if registry.observers:
        registry.notify_write(x, result)
    return x


# ----- gather / scatter -----


def _prefix(x, index, dim):
    """`x` cut to `index`'s size on every dim but `dim` (PyTorch allows a smaller index)."""
    key = tuple(slice(None) if d == dim else slice(0, index.shape[d]) for d in range(x.ndim))
    return x[key]


def _leading(src, shape):
    """The leading `shape` block of `src` (scatter reads only that much of src)."""
    return src[tuple(slice(0, s) for s in shape)]


def _check_index_range(xp, index, size, dim, error=RuntimeError):
    """Index values must lie in [-size, size); PyTorch raises RuntimeError for
    gather/scatter and IndexError for index_select/index_add."""
    if index.size and (int(index.min()) < -size or int(index.max()) >= size):
        bad = int(index.max()) if int(index.max()) >= size else int(index.min())
        raise error(f"index {bad} is out of bounds for dimension {dim} with size {size}")


def _gather_impl(xp, x, index, dim):
    _check_index_range(xp, index, x.shape[dim], dim)
    return xp.take_along_axis(_prefix(x, index, dim), index, axis=dim)


GATHER = declare(
    "gather",
    impl=_gather_impl,
    meta=lambda x, index, dim: M.Meta(index.shape, x.dtype),
    grad=lambda n, g: (
        scatter_add(_zeros_like(n.inputs[0], g), n.attrs["dim"], n.inputs[1], g),
        None,
    ),
)


def _zeros_like(x, g):
    return zeros_like(x, g.dtype)


def _index_grid(xp, index, dim):
    """Full coordinate arrays for scatter: `index` on `dim`, positions elsewhere."""
    ndim = index.ndim
    grid = [
        xp.arange(n).reshape((1,) * i + (n,) + (1,) * (ndim - i - 1))
        for i, n in enumerate(index.shape)
    ]
    grid[dim] = index
    return tuple(grid)


def _scatter_impl(xp, x, index, src, dim):
    _check_index_range(xp, index, x.shape[dim], dim)
    out = x.copy()
    values = _leading(src, index.shape) if hasattr(src, "shape") and src.ndim else src
    out[_index_grid(xp, index, dim)] = values
    return out


def _scatter_grad(n, g):
    x, index, src = n.inputs
    dim = n.attrs["dim"]
    gx = apply(SCATTER, g, index, 0.0, dim=dim) if isinstance(x, Tensor) and x._rg else None
    gs = None
    if isinstance(src, Tensor) and src._rg:
        gs = _pad_to(gather(g, dim, index), src._data.shape)
    return gx, None, gs


def _pad_to(g, shape):
    """Zero-pads a gradient taken from a prefix of `shape` back to `shape`."""
    if tuple(g._data.shape) == tuple(shape):
        return g
    pads = []
    for have, want in zip(reversed(g._data.shape), reversed(shape)):
        pads += [0, want - have]
    from .resize import pad

    return pad(g, pads)


SCATTER = declare(
    "scatter",
    impl=_scatter_impl,
    meta=lambda x, index, src, dim: M.Meta(x.shape, x.dtype),
    grad=_scatter_grad,
)


def _scatter_add_impl(xp, x, index, src, dim):
    _check_index_range(xp, index, x.shape[dim], dim)
    out = x.copy()
    _add_at(xp, out, _index_grid(xp, index, dim), _leading(src, index.shape))
    return out


SCATTER_ADD = declare(
    "scatter_add",
    impl=_scatter_add_impl,
    meta=lambda x, index, src, dim: M.Meta(x.shape, x.dtype),
    grad=lambda n, g: (
        g,
        None,
        _pad_to(gather(g, n.attrs["dim"], n.inputs[1]), n.inputs[2]._data.shape),
    ),
)


def _as_index(index: Tensor, x: Tensor, name: str) -> Tensor:
    if index._data.dtype != np.int64:
        if index._data.dtype.kind not in "iu":
            raise RuntimeError(f"{name}(): Expected dtype int64 for index")

        index = cast(index, dtypes.int64)
    return _on_device_of(index, x)


def gather(input, dim: int, index, *, sparse_grad: bool = False):
    d = M.normalize_dim(dim, input.ndim)
    index = _as_index(index, input, "gather")
    if index.ndim != input.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    return apply(GATHER, input, index, dim=d)


def scatter(input, dim: int, index, src=None, *, value=None, reduce=None):

    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter(reduce={reduce!r}) is not implemented yet")
        return scatter_add(input, dim, index, src)
    d = M.normalize_dim(dim, input.ndim)
    index = _as_index(index, input, "scatter")
    if src is None:
        src = value
    if isinstance(src, Tensor):
        src = cast(src, input.dtype)
    elif isinstance(src, np.generic):
        src = src.item()
    return apply(SCATTER, input, index, src, dim=d)


def scatter_add(input, dim: int, index, src):

    d = M.normalize_dim(dim, input.ndim)
    index = _as_index(index, input, "scatter_add")
    return apply(SCATTER_ADD, input, index, cast(src, input.dtype), dim=d)


def _in_range(index, size) -> bool:
    """Whether every index lies in [0, size), PyTorch's range for
    index_select and embedding (checked here: cupy's take wraps instead of
    raising, and numpy's wraps negative indices)."""
    return not index.size or (int(index.min()) >= 0 and int(index.max()) < size)


def _index_select_impl(xp, x, index, dim):
    if not _in_range(index, x.shape[dim] if x.ndim else 1):
        raise IndexError("index out of range in self")
    return xp.take(x, index, axis=dim)


def _index_select_meta(x, index, dim):
    shape = list(x.shape)
    shape[dim] = index.shape[0] if index.shape else 1
    return M.Meta(tuple(shape), x.dtype)


INDEX_SELECT = declare(
    "index_select",
    impl=_index_select_impl,
    meta=_index_select_meta,
    grad=lambda n, g: (
        index_add(_zeros_like(n.inputs[0], g), n.attrs["dim"], n.inputs[1], g),
        None,
    ),
)


def index_select(input, dim: int, index):
    d = M.normalize_dim(dim, input.ndim)
    index = _as_index(index, input, "index_select")
    if index._data.ndim != 1:
        if index._data.ndim > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        index = index.reshape(1)
    return apply(INDEX_SELECT, input, index, dim=d)


def _index_add_impl(xp, x, index, src, dim, alpha):
    _check_index_range(xp, index, x.shape[dim], dim, IndexError)
    out = x.copy()
    key = (slice(None),) * dim + (index,)
    _add_at(xp, out, key, src if alpha == 1 else src * alpha)
    return out


INDEX_ADD = declare(
    "index_add",
    impl=_index_add_impl,
    meta=lambda x, index, src, dim, alpha: M.Meta(x.shape, x.dtype),
    grad=lambda n, g: (g, None, index_select(g, n.attrs["dim"], n.inputs[1]) * n.attrs["alpha"]),
)


def index_add(input, dim: int, index, source, *, alpha=1):

    d = M.normalize_dim(dim, input.ndim)
    index = _as_index(index, input, "index_add")
    return apply(INDEX_ADD, input, index, cast(source, input.dtype), dim=d, alpha=alpha)


def masked_fill(input, mask, value):

    if mask._data.dtype != np.bool_:
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got "
                f"tensor with {value.ndim} dimension(s)."
            )
        value = cast(value, input.dtype)
    else:
        value = float(value) if input.dtype.is_floating_point else int(value)
    return where(mask, value, input)


def _one_hot_impl(xp, x, num_classes):
    out = xp.zeros(x.shape + (num_classes,), dtype=np.int64)
    xp.put_along_axis(out, x[..., None], 1, axis=-1)
    return out


ONE_HOT = declare(
    "one_hot",
    impl=_one_hot_impl,
    meta=lambda x, num_classes: M.Meta(x.shape + (num_classes,), dtypes.int64),
    differentiable=False,
)


def one_hot(tensor, num_classes: int = -1):
    if tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(tensor._data.max()) + 1 if tensor._data.size else 0
    if tensor._data.size and (
        int(tensor._data.min()) < 0 or int(tensor._data.max()) >= num_classes
    ):
        raise RuntimeError("Class values must be smaller than num_classes.")
    return apply(ONE_HOT, tensor, num_classes=int(num_classes))


NONZERO = declare(
    "nonzero",
    impl=lambda xp, x: xp.stack(xp.nonzero(x), axis=-1).astype(np.int64).reshape(-1, x.ndim),
    meta=lambda x: M.Meta((None, len(x.shape)), dtypes.int64),
    differentiable=False,
)


def nonzero(input, *, as_tuple: bool = False):
    out = apply(NONZERO, input)
    if as_tuple:
        return tuple(out[:, i] for i in range(input.ndim)) if input.ndim else (out.reshape(-1),)
    return out


def masked_select(input, mask):

    shape = broadcast_shapes(input._data.shape, mask._data.shape)
    return getitem(expand(input, shape), expand(mask, shape))


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Rows of `weight` picked by the integer tensor `input`."""
    if max_norm is not None:
        raise NotImplementedError("embedding(max_norm=...) is not implemented yet")
    if input._data.dtype.kind not in "iu":
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got {input.dtype} instead (while checking arguments for embedding)"
        )
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight._data.shape[0]
    return apply(EMBEDDING, weight, _as_index(input, weight, "embedding"), padding_idx=padding_idx)


def _embedding_impl(xp, weight, indices, padding_idx):
    if not _in_range(indices, weight.shape[0]):
        raise IndexError("index out of range in self")
    return xp.take(weight, indices, axis=0)


def _embedding_grad(n, g):
    weight, indices = n.inputs

    pad = n.attrs["padding_idx"]
    if pad is not None:
        g = where(unsqueeze(indices == pad, -1), 0.0, g)
    dim = weight._data.shape[1]
    return index_add(_zeros_like(weight, g), 0, reshape(indices, -1), reshape(g, (-1, dim))), None


EMBEDDING = declare(
    "embedding",
    impl=_embedding_impl,
    meta=lambda w, idx, padding_idx: M.Meta(idx.shape + w.shape[1:], w.dtype),
    grad=_embedding_grad,
)


def index_copy(input, dim: int, index, source):
    """`input` with the slices at `index` along `dim` replaced by `source`'s."""
    d = M.normalize_dim(dim, input.ndim)
    index = _as_index(index, input, "index_copy")
    spec = (("s", None, None, None),) * d + (("t",),)
    return apply(INDEX_PUT, input, cast(source, input.dtype), index, spec=spec, accumulate=False)
