"""In-place variants (`add_`, `mul_`, `clamp_`, ...), built from the out-of-place ops.

Without autograd an in-place op computes the result and writes it into the
tensor's own memory (with numpy's `out=` where that is exact), so views and
numpy arrays sharing the memory see the change, and bumps the version counter.
Under autograd the result is recorded against a snapshot of the old value
(`indexing._snapshot_for_inplace`) and the tensor becomes that node's output,
which is what PyTorch's in-place semantics amount to.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import state as grad_state
from ..tensor import Tensor
from . import meta as M
from . import registry
from .indexing import _snapshot_for_inplace, commit_inplace
from .registry import apply, declare

_READ_ONLY = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)


def _needs_graph(self: Tensor, args) -> bool:
    if not grad_state.enabled:
        return False
    if self._rg:
        return True
    for a in args:
        if isinstance(a, Tensor) and a._rg:
            return True
    return False


def _check_cast(result: Tensor, self: Tensor, name: str) -> None:
    src, dst = dtypes._BY_NP[result._data.dtype], dtypes._BY_NP[self._data.dtype]
    if not dtypes.can_cast(src, dst):
        raise RuntimeError(
            f"result type {src.legacy_name} can't be cast to the desired output type "
            f"{dst.legacy_name} (in {name})"
        )


def _write(self: Tensor, data) -> None:
    target = self._data
    try:
        if type(target) is np.ndarray:
            np.copyto(target, data, casting="unsafe")
        else:
            target[...] = data
    except ValueError as exc:
        if "read-only" in str(exc):
            raise RuntimeError(_READ_ONLY) from None
        raise RuntimeError(str(exc)) from None
    self._bump_version()


def make_inplace(fn, name: str, ufunc: str | None = None):
    """The in-place method `name` for the out-of-place frontend `fn(self, *args)`."""

    def method(self, *args, **kwargs):
        if _needs_graph(self, args):
            result = fn(_snapshot_for_inplace(self), *args, **kwargs)
            _check_cast(result, self, name)
            if result._data.dtype != self._data.dtype:
                from .conversion import to_dtype

                result = to_dtype(result, self.dtype)
            if result._data.shape != self._data.shape:
                raise RuntimeError(
                    f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                    f"{list(result.shape)}"
                )
            return commit_inplace(self, result)
        if (
            ufunc is not None
            and not kwargs
            and type(self._data) is np.ndarray
            and (
                not registry.observers  # recording needs the result as a value
            )
        ):
            other = args[0]
            other = other._data if isinstance(other, Tensor) else other
            if (
                isinstance(other, (int, float))
                or (isinstance(other, np.ndarray) and other.dtype == self._data.dtype)
            ) and self._data.dtype.kind == "f":
                try:
                    getattr(np, ufunc)(self._data, other, out=self._data)
                except ValueError as exc:
                    if "read-only" in str(exc):
                        raise RuntimeError(_READ_ONLY) from None
                    raise RuntimeError(f"{name}(): {exc}") from None
                self._bump_version()
                return self
        result = fn(self, *args, **kwargs)
        _check_cast(result, self, name)
        if result._data.shape != self._data.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(result.shape)}"
            )
        _write(self, result._data)
        if registry.observers:
            registry.notify_write(self, result)
        return self

    method.__name__ = name
    return method


def _overwrite_impl(xp, old, src):
    out = xp.empty_like(old)
    out[...] = src
    return out


def _overwrite_grad(n, g):
    from .creation_ops import zeros_like

    return (zeros_like(g) if n.needs_grad(0) else None, g if n.needs_grad(1) else None)


# `old` overwritten by `src` (broadcast): the graph form of copy_/fill_. The old
# value gets a zero gradient, as in PyTorch, so it stays connected to the graph.
OVERWRITE = declare(
    "overwrite",
    impl=_overwrite_impl,
    meta=lambda old, src: M.Meta(old.shape, old.dtype),
    grad=_overwrite_grad,
    save_inputs=False,
    broadcast=True,
)


def fill_(self: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        if _needs_graph(self, (value,)):
            return copy_(self, value)
        value = value.item()
    if _needs_graph(self, ()):
        return commit_inplace(self, apply(OVERWRITE, _snapshot_for_inplace(self), value))
    _write(self, value)
    if registry.observers:
        registry.notify_write(self, value)
    return self


def zero_(self: Tensor) -> Tensor:
    return fill_(self, 0)


def copy_(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copies `src` (broadcast, converted to this dtype and device) into this tensor."""
    from .conversion import to_device, to_dtype
    from .shape import expand

    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    src = to_device(to_dtype(src, self.dtype), self.device)
    if _needs_graph(self, (src,)):
        return commit_inplace(self, apply(OVERWRITE, _snapshot_for_inplace(self), src))
    src = expand(src, tuple(self.shape))
    _write(self, src._data)
    if registry.observers:
        registry.notify_write(self, src)
    return self
