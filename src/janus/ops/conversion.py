"""Ops that change a tensor's dtype, device or memory layout."""

from __future__ import annotations

from .. import backend, dtypes
from ..device import device as Device
from ..tensor import Tensor
from . import meta as M
from .registry import apply, declare

TO_DTYPE = declare(
    "to_dtype",
    impl=lambda xp, x, dtype: x.astype(dtypes._BY_NAME[dtype].np),
    meta=lambda x, dtype: M.Meta(x.shape, dtypes._BY_NAME[dtype]),
    grad=lambda n, g: (
        to_dtype(g, n.inputs[0].dtype) if n.inputs[0].dtype.is_floating_point else None
    ),
)


def to_dtype(x: Tensor, dtype) -> Tensor:
    """`x` converted to `dtype` (the same tensor if it already has it)."""
    dtype = dtypes.to_dtype(dtype)
    if x._data.dtype == dtype.np:
        return x
    return apply(TO_DTYPE, x, dtype=dtype.name)


def _to_device_impl(xp, x, device):
    return backend.to_device_array(x, Device(device))


TO_DEVICE = declare(
    "to_device",
    impl=_to_device_impl,
    meta=M.same,
    grad=lambda n, g: to_device(g, n.inputs[0].device),
    save_inputs=True,
)


def to_device(x: Tensor, device) -> Tensor:
    device = Device(device)
    if x.device == device:
        return x
    return apply(TO_DEVICE, x, device=str(device))


CLONE = declare(
    "clone",
    impl=lambda xp, x: xp.array(x, copy=True, order="C"),
    meta=M.same,
    grad=lambda n, g: g,
    save_inputs=False,
)


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    return apply(CLONE, input)


def contiguous(input: Tensor, memory_format=None) -> Tensor:
    if input._data.flags.c_contiguous:
        return input
    return apply(CLONE, input)
