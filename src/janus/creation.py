"""Creating tensors: from data, filled, ranges, and random (PyTorch's factories)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend, dtypes
from .device import CPU
from .device import _default as _default_device
from .device import device as Device
from .ops import registry
from .tensor import Tensor, _make


def _finish(data, device, requires_grad: bool) -> Tensor:
    if device is None:
        device = _default_device[0]  # (set_default_device)
    if device is not None:
        dev = Device(device)
        if dev.type != "cpu":
            data = backend.to_device_array(data, dev)
    t = _make(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_dtype(data) -> dtypes.dtype:
    """PyTorch's inference for Python data: bool < int64 < default float."""
    kind = dtypes.BOOL
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, Tensor):
            d = item.dtype
            if d.category > kind:
                kind = d.category
        elif isinstance(item, (bool, np.bool_)):
            continue
        elif isinstance(item, numbers.Integral):
            kind = max(kind, dtypes.INT)
        elif isinstance(item, numbers.Real):
            kind = dtypes.FLOAT
        else:
            raise TypeError(f"Could not infer dtype of {type(item).__name__}")
    return {dtypes.BOOL: dtypes.bool_, dtypes.INT: dtypes.int64}.get(
        kind, dtypes.get_default_dtype()
    )


def _to_numpy_data(data):
    if isinstance(data, Tensor):
        return np.asarray(data.detach())
    if isinstance(data, (list, tuple)):
        return [_to_numpy_data(d) for d in data]
    return data


def tensor(
    data, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False
) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, arrays, tensors).

    >>> import janus
    >>> janus.tensor([[1, 2], [3, 4]]).dtype
    janus.int64
    """
    if isinstance(data, Tensor):
        out = data.detach().clone()
        if dtype is not None:
            out = out.to(dtype)
        if device is not None:
            out = out.to(device)
        return out.requires_grad_(requires_grad) if requires_grad else out
    if hasattr(data, "__cuda_array_interface__") and not isinstance(data, np.ndarray):
        arr = backend.cupy().array(data, copy=True)
        if dtype is not None:
            arr = arr.astype(dtypes.to_dtype(dtype).np)
        return _finish(arr, device if device is not None else "cuda", requires_grad)
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.array(data, copy=True)
        if arr.dtype not in dtypes._BY_NP:
            raise TypeError(f"can't convert np.ndarray of type {arr.dtype}")
    else:
        target = dtypes.to_dtype(dtype) if dtype is not None else _infer_dtype(data)
        try:
            arr = np.array(_to_numpy_data(data), dtype=target.np)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"janus.tensor(): could not convert data: {exc}") from None
        if dtype is not None:
            arr = arr.astype(dtypes.to_dtype(dtype).np, copy=False)
        out = _finish(arr if arr.flags.c_contiguous else arr.copy(), device, requires_grad)
        if registry.observers and not requires_grad:
            registry.notify_created(out)
        return out
    if dtype is not None:
        arr = arr.astype(dtypes.to_dtype(dtype).np, copy=False)
    return _finish(arr if arr.flags.c_contiguous else arr.copy(), device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a tensor or array when it can."""
    if isinstance(data, Tensor):
        out = data
        if dtype is not None:
            out = out.to(dtype)
        if device is not None:
            out = out.to(device)
        return out
    if isinstance(data, np.ndarray) and (dtype is None or dtypes.to_dtype(dtype).np == data.dtype):
        if data.dtype not in dtypes._BY_NP:
            raise TypeError(f"can't convert np.ndarray of type {data.dtype}")
        return _finish(data, device, False)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing `ndarray`'s memory."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in dtypes._BY_NP:
        raise TypeError(
            f"can't convert np.ndarray of type {ndarray.dtype}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        )
    return _make(ndarray)


def from_dlpack(ext) -> Tensor:
    """A tensor sharing memory with any DLPack producer (numpy, cupy, PyTorch, JAX)."""
    device_type = ext.__dlpack_device__()[0] if hasattr(ext, "__dlpack_device__") else 1
    if device_type == 1:  # kDLCPU
        return _make(np.from_dlpack(ext))
    return _make(backend.cupy().from_dlpack(ext))


def _size_args(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a tuple of ints, but got {type(s).__name__}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return tuple(int(s) for s in size)


def _dtype_or_default(dtype) -> dtypes.dtype:
    return dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def _xp_for(device):
    if device is None or Device(device).type == "cpu":
        return np
    return backend.cupy()


def _filled(shape, value, dtype, device, requires_grad) -> Tensor:
    dev = Device(device) if device is not None else _default_device[0]
    xp = _xp_for(dev)
    if xp is np:
        out = _finish(np.full(shape, value, dtype=dtype.np), CPU, requires_grad)
        if registry.observers and not requires_grad:
            registry.notify_created(out, fill=value)  # a trace makes it afresh each run
        return out
    with xp.cuda.Device(dev.index):
        out = _finish(xp.full(shape, value, dtype=dtype.np), dev, requires_grad)
    if registry.observers and not requires_grad:
        registry.notify_created(out, fill=value)
    return out


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _filled(_size_args(size), 0, _dtype_or_default(dtype), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _filled(_size_args(size), 1, _dtype_or_default(dtype), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = dtypes._python_scalar_dtype(fill_value)
    return _filled(_size_args((size,)), fill_value, dtypes.to_dtype(dtype), device, requires_grad)


def _like(input: Tensor, dtype, device):
    return (
        dtypes.to_dtype(dtype) if dtype is not None else input.dtype,
        device if device is not None else input.device,
    )


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    d, dev = _like(input, dtype, device)
    return _filled(tuple(input.shape), 0, d, dev, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    d, dev = _like(input, dtype, device)
    return _filled(tuple(input.shape), 1, d, dev, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(
    input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None
):
    d, dev = _like(input, dtype, device)
    return _filled(tuple(input.shape), fill_value, d, dev, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from `start` to `end` (exclusive) by `step`; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    dtype = dtypes.to_dtype(dtype)
    count = max(math.ceil((end - start) / step), 0)
    # Computed in float64/int64 then narrowed, as PyTorch does.
    values = (
        start + np.arange(count, dtype=np.float64 if dtype.is_floating_point else np.int64) * step
    )
    return _created(values.astype(dtype.np), device, requires_grad)


def _created(values: np.ndarray, device, requires_grad: bool) -> Tensor:
    """A tensor of values computed from Python numbers: a trace makes it
    afresh each run (a constant), as for `tensor([...])`."""
    out = _finish(values, device, requires_grad)
    if registry.observers and not requires_grad:
        registry.notify_created(out)
    return out


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype = _dtype_or_default(dtype)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    values = np.linspace(float(start), float(end), int(steps), dtype=np.float64)
    return _created(values.astype(dtype.np), device, requires_grad)


def logspace(
    start, end, steps: int, base: float = 10.0, *, dtype=None, device=None, requires_grad=False
) -> Tensor:
    dtype = _dtype_or_default(dtype)
    values = np.power(base, np.linspace(float(start), float(end), int(steps)))
    return _created(values.astype(dtype.np), device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype = _dtype_or_default(dtype)
    return _created(np.eye(n, n if m is None else m, dtype=dtype.np), device, requires_grad)


# ----- random -----


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1)."""
    from .random import uniform

    out = uniform(_size_args(size), dtype, device, generator)
    return out.requires_grad_(True) if requires_grad else out


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    from .random import normal_

    out = normal_(_size_args(size), dtype, device, generator)
    return out.requires_grad_(True) if requires_grad else out


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return rand(tuple(input.shape), dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return randn(tuple(input.shape), dtype=d, device=dev, requires_grad=requires_grad)


def randint(
    low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False
) -> Tensor:
    """Integers drawn uniformly from [low, high)."""
    from .ops.conversion import to_dtype
    from .ops.elementwise import floor

    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    u = rand(tuple(size), generator=generator, dtype=dtypes.float64, device=device)
    out = to_dtype(
        floor(u * float(high - low)) + float(low),
        dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64,
    )
    return out


def randint_like(input, low=0, high=None, *, dtype=None, device=None) -> Tensor:
    d, dev = _like(input, dtype, device)
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=d, device=dev)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1."""
    from .ops.conversion import to_dtype

    keys = rand(n, generator=generator, dtype=dtypes.float64)
    order = np.argsort(keys._data, kind="stable").astype(np.int64)
    out = _finish(order, device, False)
    return to_dtype(out, dtypes.to_dtype(dtype)) if dtype is not None else out


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Normal samples with the given mean and std (numbers or tensors)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        shape = tuple(ref.shape) if size is None else tuple(size)
        if isinstance(mean, Tensor) and isinstance(std, Tensor):
            from .ops.meta import broadcast_shapes

            shape = broadcast_shapes(tuple(mean.shape), tuple(std.shape))
        z = randn(shape, generator=generator, dtype=ref.dtype, device=ref.device)
        return (z * std + mean).detach()
    z = randn(
        _size_args((size,)) if size is not None else (),
        generator=generator,
        dtype=dtype,
        device=device,
    )
    return z * float(std) + float(mean)


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """0/1 samples with probability `input` (or the number `p`), in `input`'s dtype."""
    from .ops.elementwise import cast

    probs = input if p is None else p
    u = rand(tuple(input.shape), generator=generator, dtype=input.dtype, device=input.device)
    return cast(u < probs, input.dtype)


def _legacy_tensor_constructor(cls, *args, **kwargs):
    """`janus.Tensor(...)`: sizes give an uninitialised float tensor, data is copied."""
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        out = tensor(args[0], dtype=dtypes.get_default_dtype())
    else:
        out = zeros(*args, dtype=dtypes.get_default_dtype())
    if cls is not Tensor:
        out.__class__ = cls
    return out


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices drawn from the categorical distributions given by the rows of
    `input` (non-negative weights, not necessarily normalized)."""
    from . import backend

    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    weights = input.detach()._data
    xp = backend.xp_of(weights)
    rows = weights.reshape(1, -1) if weights.ndim == 1 else weights
    if rows.size and (bool((rows < 0).any()) or not bool(xp.isfinite(rows).all())):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if bool((rows.sum(axis=1) <= 0).any()):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    if not replacement and bool(((rows > 0).sum(axis=1) < num_samples).any()):
        raise RuntimeError(
            "invalid multinomial distribution (with replacement=False, not "
            "enough non-negative category to sample)"
        )
    u = rand(
        rows.shape[0],
        num_samples if replacement else rows.shape[1],
        generator=generator,
        dtype=dtypes.float64,
        device=input.device,
    )._data
    if replacement:  # inverse CDF
        cdf = xp.cumsum(rows.astype(np.float64), axis=1)
        cdf /= cdf[:, -1:]
        out = xp.stack([xp.searchsorted(c, v, side="right") for c, v in zip(cdf, u)])
        out = xp.minimum(out, rows.shape[1] - 1)
    else:  # exponential races: the first num_samples finishers, in order
        with np.errstate(divide="ignore"):
            keys = -xp.log1p(-u) / rows.astype(np.float64)
        out = xp.argsort(keys, axis=1)[:, :num_samples]
    out = out.astype(np.int64)
    return _make(out.reshape(-1) if weights.ndim == 1 else out)
