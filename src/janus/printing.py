"""`repr` of tensors in PyTorch's format: `tensor([1., 2.], requires_grad=True)`."""

from __future__ import annotations

import numpy as np

from . import dtypes
from .tensor import _notify_read, data_readers

_IMPLICIT = {np.dtype(np.int64), np.dtype(np.bool_)}


def tensor_repr(t) -> str:
    if data_readers:
        _notify_read(t)
    data = t._data if type(t._data) is np.ndarray else t._data.get()
    prefix = "tensor("
    if data.size == 0 and data.ndim == 1:
        body = "[]"
    else:
        opts = dict(separator=", ", prefix=prefix, threshold=1000, edgeitems=3)
        if data.dtype.kind == "f":
            finite = data[np.isfinite(data)]
            integral = (
                finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8
            )
            if integral or finite.size == 0:
                # PyTorch right-aligns every element to the widest one.
                width = max(len(_integral_float(x)) for x in _extremes(data, finite))
                opts["formatter"] = {"float_kind": lambda x: _integral_float(x).rjust(width)}
            else:
                opts["precision"] = 4
                opts["floatmode"] = (
                    "fixed"
                    if np.abs(finite).max() < 1e8
                    and np.abs(finite[finite != 0]).min(initial=1) >= 1e-4
                    else "maxprec"
                )
        body = np.array2string(data, **opts)
    extras = []
    if data.dtype not in _IMPLICIT and dtypes._BY_NP[data.dtype] is not dtypes.get_default_dtype():
        extras.append(f"dtype={dtypes._BY_NP[data.dtype]!r}")
    if type(t._data) is not np.ndarray:
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._rg:
        extras.append("requires_grad=True")
    suffix = "".join(", " + e for e in extras)
    return f"{prefix}{body}{suffix})"


def _integral_float(x) -> str:
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.0f}."


def _extremes(data, finite):
    """The elements whose formatted width bounds the others' (PyTorch leaves nan out)."""
    out = [finite.max(), finite.min()] if finite.size else []
    out += [x for x in (np.inf, -np.inf) if np.any(data == x)]
    return out or [0.0]
