"""`janus.Tensor`: an n-dimensional array on a device, with autograd.

A Tensor wraps one array: numpy on the CPU, cupy on a GPU. Everything that
computes goes through the op table (`janus.ops`); the methods that are plain
ops are attached to this class by `janus.ops` (see `ops/methods.py`), so each
is written once. What lives here is the Tensor's own state and protocol.

Attributes have class-level defaults so a fresh result tensor only sets
`_data`: creating one is as cheap as a Python object can be.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import backend, dtypes
from .device import CPU, device

# Callbacks `read(tensor)` run when a tensor's data is read into Python
# (`item`, `tolist`, `numpy`, `__array__`, printing): the JIT's translator
# needs to know which Python values depend on tensor data.
data_readers: list = []


def _notify_read(tensor) -> None:
    for read in data_readers:
        read(tensor)


class Size(tuple):
    """A shape, like `torch.Size`: a tuple of ints with `numel()`."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"janus.Size({list(self)})"


class Tensor:
    """A multi-dimensional array with autograd, PyTorch style.

    >>> import janus
    >>> x = janus.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    # Defaults shared by every instance until set (see the module docstring).
    _rg = False  # requires_grad
    grad_fn = None
    _output_nr = 0
    _grad = None
    _vc = None  # version counter: a one-element list shared with views
    _base = None  # the tensor a view aliases
    _accumulator = None  # weakref to the leaf's AccumulateGrad
    _hooks = None
    _retains_grad = False
    __array_priority__ = 1000  # numpy defers binary operators to Tensor

    def __new__(cls, *args, **kwargs):
        # `Tensor(2, 3)` is an uninitialised float tensor; `Tensor([1, 2])` copies data.
        from .creation import _legacy_tensor_constructor

        return _legacy_tensor_constructor(cls, *args, **kwargs)

    # ----- state -----
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got {type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {tuple(value.shape)} vs "
                    f"{tuple(self.shape)}"
                )
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> Tensor:
        """The same storage, detached from autograd."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    def _bump_version(self) -> None:
        counter = self._vc
        if counter is None:
            self._vc = [1]
        else:
            counter[0] += 1

    # ----- metadata -----
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes._BY_NP[self._data.dtype]

    @property
    def device(self) -> device:
        return CPU if type(self._data) is np.ndarray else backend.device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return type(self._data) is not np.ndarray

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def ndimension(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def nelement(self) -> int:
        return int(self._data.size)

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def stride(self, dim: int | None = None):
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim)]

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        if type(self._data) is np.ndarray:
            return self._data.ctypes.data
        return self._data.data.ptr

    def get_device(self) -> int:
        return -1 if type(self._data) is np.ndarray else self._data.device.id

    # ----- autograd -----
    def detach(self) -> Tensor:
        out = _make(self._data)
        counter = self._vc
        if counter is None:
            counter = self._vc = [0]
        out._vc = counter
        return out

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._rg = False
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Computes gradients of this tensor w.r.t. graph leaves (see `janus.autograd.backward`)."""
        from .autograd.engine import backward

        backward(
            (self,),
            None if gradient is None else (gradient,),
            retain_graph,
            create_graph,
            inputs=inputs,
        )

    def retain_grad(self) -> None:
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                t._grad = grad.detach() if t._grad is None else t._grad + grad.detach()
            return None

        self.grad_fn.register_prehook(self._output_nr, keep)
        self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """Calls `hook(grad)` when this tensor's gradient is computed; may return a new grad."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from .autograd.node import accumulator_of

        if self.grad_fn is None:
            target, index = accumulator_of(self), 0
            # Keep the accumulator (and so the hook) alive as long as the tensor.
            self._hooks = (self._hooks or ()) + (target,)
            if target.pre_hooks is None:
                target.pre_hooks = {}
            target.pre_hooks.setdefault(0, []).append(hook)
        else:
            target, index = self.grad_fn, self._output_nr
            target.register_prehook(index, hook)
        return _RemovableHandle(target, index, hook, self if self.grad_fn is None else None)

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: say it is missing from janus.
        if name.startswith("_"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        raise AttributeError(
            f"Tensor.{name} is not implemented in janus yet (janus covers the common part of "
            "PyTorch's Tensor API)"
        )

    # ----- conversion and protocol -----
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if data_readers:
            _notify_read(self)
        if self._rg and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        if type(self._data) is not np.ndarray:
            if not force:
                raise TypeError(
                    "can't convert cuda tensor to numpy. Use Tensor.cpu() to copy the tensor "
                    "to host memory first."
                )
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        if data_readers:
            _notify_read(self)
        data = self._data if type(self._data) is np.ndarray else self._data.get()
        if dtype is not None:
            return data.astype(dtype, copy=False)
        return data

    def item(self):
        if data_readers:
            _notify_read(self)
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return (
            self._data.reshape(()).item()
            if type(self._data) is np.ndarray
            else (self._data.reshape(()).get().item())
        )

    def tolist(self):
        if data_readers:
            _notify_read(self)
        data = self._data if type(self._data) is np.ndarray else self._data.get()
        return data.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.ndim != 0:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        from .printing import tensor_repr

        return tensor_repr(self)

    def __reduce_ex__(self, protocol):
        data = self._data if type(self._data) is np.ndarray else self._data.get()
        return (_rebuild, (type(self), data, str(self.device), self._rg))

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment."
            )
        new = _make(self._data.copy())
        if type(self) is not Tensor:
            new.__class__ = type(self)
        new._rg = self._rg
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key not in ("_data", "_rg", "_grad", "_vc", "_accumulator", "_hooks"):
                import copy

                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def __dlpack__(self, stream=None, **kwargs):
        if type(self._data) is np.ndarray:
            return self._data.__dlpack__(**kwargs)
        return self._data.__dlpack__(stream=stream, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        if type(self._data) is np.ndarray:
            raise AttributeError("a CPU tensor has no __cuda_array_interface__")
        return self._data.__cuda_array_interface__


def _rebuild(cls, data, device_name, requires_grad):
    t = _make(backend.to_device_array(data, device(device_name)))
    if cls is not Tensor:
        t.__class__ = cls
    t._rg = requires_grad
    return t


class _RemovableHandle:
    def __init__(self, target, index, hook, leaf=None):
        self._target, self._index, self._hook = target, index, hook
        self._leaf = None if leaf is None else weakref.ref(leaf)

    def remove(self) -> None:
        table = self._target.pre_hooks or {}
        hooks = table.get(self._index, [])
        if self._hook in hooks:
            hooks.remove(self._hook)
        if not hooks:
            table.pop(self._index, None)
        if not table:
            self._target.pre_hooks = None
            # A leaf without hooks reads `_hooks is None` again (the JIT
            # guards on it: a compiled backward runs no hooks).
            leaf = self._leaf and self._leaf()
            if leaf is not None:
                leaf._hooks = None


_new_tensor = object.__new__


def _make(data) -> Tensor:
    """Wraps an array (numpy or cupy) without copying. The one Tensor factory."""
    t = _new_tensor(Tensor)
    t._data = data
    return t


def _wrap_dim(dim: int, ndim: int) -> int:
    """PyTorch's dim wrapping: -1 is the last dim; IndexError when out of range."""
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
        )
    return dim + ndim if dim < 0 else dim
