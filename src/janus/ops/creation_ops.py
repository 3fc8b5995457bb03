"""Tensor factories used inside janus (grad rules, the engine, frontends).

The public creation API (`janus.zeros`, `janus.arange`, ...) is in
`janus.creation`; these are the small helpers that build tensors shaped like
existing ones, on the same device.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Tensor, _make
from . import registry


def full_like_array(x: Tensor, value, dtype=None) -> Tensor:
    data = x._data
    xp = xp_of(data)
    out = _make(xp.full(data.shape, value, dtype=data.dtype if dtype is None else dtype))
    if registry.observers:  # (a grad rule's zeros: a trace makes them afresh each run)
        registry.notify_created(out, fill=value)
    return out


def zeros_like(x: Tensor, dtype=None) -> Tensor:
    return full_like_array(x, 0, None if dtype is None else dtype.np)


def ones_like(x: Tensor, dtype=None) -> Tensor:
    return full_like_array(x, 1, None if dtype is None else dtype.np)


def zeros_from_meta(shape, np_dtype, like: Tensor | None = None) -> Tensor:
    """Zeros of a shape and numpy dtype, on the device of `like` (CPU if None)."""
    xp = np if like is None else xp_of(like._data)
    return _make(xp.zeros(shape, dtype=np_dtype))


def scalar_tensor(value, like: Tensor) -> Tensor:
    """A 0-d tensor holding `value`, with `like`'s dtype and device."""
    xp = xp_of(like._data)
    return _make(xp.asarray(value, dtype=like._data.dtype))
