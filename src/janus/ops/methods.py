"""Attaches the ops to `Tensor` as methods and operators, each defined once elsewhere."""

from __future__ import annotations

from .. import dtypes
from ..device import device as Device
from ..tensor import Tensor
from . import (
    activation,
    conversion,
    elementwise,
    indexing,
    inplace,
    linalg,
    reduction,
    shape,
    sorting,
)
from . import softmax as softmax_ops

# Methods whose first argument is the tensor itself.
_METHODS = {
    elementwise: """add sub mul div floor_divide remainder pow maximum minimum eq ne lt le gt ge
        logical_and logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor
        bitwise_not neg abs sign exp exp2 expm1 log log2 log10 log1p sqrt rsqrt reciprocal sin
        cos tan asin acos atan sinh cosh tanh sigmoid erf relu floor ceil trunc round square
        fmod isnan isinf isfinite nan_to_num""",
    activation: "clamp clamp_min clamp_max",
    reduction: "sum mean prod amax amin max min argmax argmin var std logsumexp norm all any",
    shape: """reshape view flatten unflatten squeeze unsqueeze permute transpose t movedim expand
        expand_as view_as reshape_as split chunk unbind narrow select repeat flip roll""",
    linalg: "matmul mm bmm mv dot outer addmm baddbmm tril triu diag",
    sorting: "sort argsort topk cumsum cumprod unique",
    indexing: """gather scatter scatter_add index_select index_add index_copy masked_fill nonzero
        masked_select""",
    softmax_ops: "softmax log_softmax",
    conversion: "clone contiguous",
}

_ALIASES = {
    "true_divide": elementwise.div,
    "divide": elementwise.div,
    "multiply": elementwise.mul,
    "subtract": elementwise.sub,
    "negative": elementwise.neg,
    "absolute": elementwise.abs,
    "clip": activation.clamp,
    "arctan": elementwise.atan,
    "swapaxes": shape.transpose,
    "swapdims": shape.transpose,
    "greater": elementwise.gt,
    "less": elementwise.lt,
    "greater_equal": elementwise.ge,
    "less_equal": elementwise.le,
    "not_equal": elementwise.ne,
    "fmax": elementwise.maximum,
    "ger": linalg.outer,
    "fmin": elementwise.minimum,
}

# In-place variants: name -> (frontend, numpy ufunc for the no-autograd fast path).
_INPLACE = {
    "add_": (elementwise.add, "add"),
    "sub_": (elementwise.sub, "subtract"),
    "mul_": (elementwise.mul, "multiply"),
    "div_": (elementwise.div, "true_divide"),
    "pow_": (elementwise.pow, None),
    "remainder_": (elementwise.remainder, None),
    "floor_divide_": (elementwise.floor_divide, None),
    "neg_": (elementwise.neg, None),
    "abs_": (elementwise.abs, None),
    "exp_": (elementwise.exp, None),
    "log_": (elementwise.log, None),
    "sqrt_": (elementwise.sqrt, None),
    "rsqrt_": (elementwise.rsqrt, None),
    "reciprocal_": (elementwise.reciprocal, None),
    "sin_": (elementwise.sin, None),
    "cos_": (elementwise.cos, None),
    "tanh_": (elementwise.tanh, None),
    "sigmoid_": (elementwise.sigmoid, None),
    "relu_": (elementwise.relu, None),
    "floor_": (elementwise.floor, None),
    "ceil_": (elementwise.ceil, None),
    "round_": (elementwise.round, None),
    "clamp_": (activation.clamp, None),
    "clip_": (activation.clamp, None),
    "maximum_": (elementwise.maximum, "maximum"),
    "minimum_": (elementwise.minimum, "minimum"),
    "masked_fill_": (indexing.masked_fill, None),
    "scatter_": (indexing.scatter, None),
    "scatter_add_": (indexing.scatter_add, None),
    "index_add_": (indexing.index_add, None),
    "square_": (elementwise.square, None),
    "clamp_min_": (activation.clamp_min, None),
    "clamp_max_": (activation.clamp_max, None),
    "fmod_": (elementwise.fmod, None),
    "nan_to_num_": (elementwise.nan_to_num, None),
    "index_copy_": (indexing.index_copy, None),
    "tril_": (linalg.tril, None),
    "triu_": (linalg.triu, None),
    "cumsum_": (sorting.cumsum, None),
}


def _addcmul(self, tensor1, tensor2, *, value=1):
    return self + tensor1 * tensor2 * value if value != 1 else self + tensor1 * tensor2


def _addcdiv(self, tensor1, tensor2, *, value=1):
    return self + tensor1 / tensor2 * value if value != 1 else self + tensor1 / tensor2


def _lerp(self, end, weight):
    return self + (end - self) * weight


def _where_method(self, condition, other):
    return elementwise.where(condition, self, other)


def _to(self, *args, **kwargs):
    """`to(dtype)`, `to(device)`, `to(device, dtype)` or `to(other)`; `copy=True` copies."""
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, dtypes.dtype) or (isinstance(a, type) and a in (float, int, bool)):
            dtype = a
        elif isinstance(a, (str, Device)):
            device = a
        elif isinstance(a, bool):
            continue  # the legacy non_blocking positional
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
    out = self
    if device is not None:
        out = conversion.to_device(out, device)
    if dtype is not None:
        out = conversion.to_dtype(out, dtype)
    if copy and out is self:
        out = conversion.clone(self)
    return out


def _type_converter(d):
    def convert(self, memory_format=None):
        return conversion.to_dtype(self, d)

    return convert


def _type(self, dtype=None, non_blocking=False):
    if dtype is None:
        return {
            "float32": "torch.FloatTensor",
            "float64": "torch.DoubleTensor",
            "int64": "torch.LongTensor",
            "int32": "torch.IntTensor",
            "bool": "torch.BoolTensor",
            "float16": "torch.HalfTensor",
        }.get(self.dtype.name, f"janus.{self.dtype.name}")
    return conversion.to_dtype(self, dtype)


def _new_factory(kind):
    def factory(self, *size, dtype=None, device=None, requires_grad=False):
        from .. import creation

        dtype = dtype if dtype is not None else self.dtype
        device = device if device is not None else self.device
        if kind == "tensor":
            return creation.tensor(size[0], dtype=dtype, device=device, requires_grad=requires_grad)
        if kind == "full":
            shape, value = size
            return creation.full(
                shape, value, dtype=dtype, device=device, requires_grad=requires_grad
            )
        fn = {"zeros": creation.zeros, "ones": creation.ones, "empty": creation.zeros}[kind]
        return fn(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    factory.__name__ = f"new_{kind}"
    return factory


def _uniform_(self, a=0.0, b=1.0, *, generator=None):
    from ..creation import rand

    u = rand(tuple(self.shape), generator=generator, dtype=self.dtype, device=self.device)
    with _no_grad():
        return inplace.copy_(self, u * (b - a) + a)


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    from ..creation import randn

    z = randn(tuple(self.shape), generator=generator, dtype=self.dtype, device=self.device)
    with _no_grad():
        return inplace.copy_(self, z * std + mean)


def _bernoulli_(self, p=0.5, *, generator=None):
    from ..creation import rand

    u = rand(tuple(self.shape), generator=generator, device=self.device)
    with _no_grad():
        return inplace.copy_(self, elementwise.cast(u < p, self.dtype))


def _no_grad():
    from ..autograd.grad_mode import no_grad

    return no_grad()


def _reflected(fn):
    def method(self, other):
        return fn(other, self)

    return method


def _invert(self):
    if self._data.dtype.kind == "b":
        return elementwise.logical_not(self)
    return elementwise.bitwise_not(self)


def _bool_op(logical, bitwise):
    def op(self, other):
        other_bool = isinstance(other, bool) or (
            isinstance(other, Tensor) and other._data.dtype.kind == "b"
        )
        if self._data.dtype.kind == "b" and other_bool:
            return logical(self, other)
        return bitwise(self, other)

    return op


def install() -> None:
    for module, names in _METHODS.items():
        for name in names.split():
            setattr(Tensor, name, getattr(module, name))
    for name, fn in _ALIASES.items():
        setattr(Tensor, name, fn)
    for name, (fn, ufunc) in _INPLACE.items():
        setattr(Tensor, name, inplace.make_inplace(fn, name, ufunc))
    Tensor.addcmul = _addcmul
    Tensor.addcdiv = _addcdiv
    Tensor.lerp = _lerp
    Tensor.addcmul_ = inplace.make_inplace(_addcmul, "addcmul_")
    Tensor.addcdiv_ = inplace.make_inplace(_addcdiv, "addcdiv_")
    Tensor.lerp_ = inplace.make_inplace(_lerp, "lerp_")
    Tensor.fill_ = inplace.fill_
    Tensor.zero_ = inplace.zero_
    Tensor.copy_ = inplace.copy_
    Tensor.uniform_ = _uniform_
    Tensor.normal_ = _normal_
    Tensor.bernoulli_ = _bernoulli_
    Tensor.where = _where_method
    Tensor.to = _to
    Tensor.type = _type
    Tensor.cpu = lambda self, memory_format=None: conversion.to_device(self, "cpu")
    Tensor.cuda = lambda self, device=None, non_blocking=False: conversion.to_device(
        self,
        Device("cuda", device if isinstance(device, int) else 0)
        if not isinstance(device, (str, Device))
        else device,
    )
    for name, d in (
        ("float", dtypes.float32),
        ("double", dtypes.float64),
        ("half", dtypes.float16),
        ("long", dtypes.int64),
        ("int", dtypes.int32),
        ("short", dtypes.int16),
        ("byte", dtypes.uint8),
        ("char", dtypes.int8),
        ("bool", dtypes.bool_),
    ):
        setattr(Tensor, name, _type_converter(d))
    Tensor.type_as = lambda self, other: conversion.to_dtype(self, other.dtype)
    for kind in ("zeros", "ones", "empty", "full", "tensor"):
        setattr(Tensor, f"new_{kind}", _new_factory(kind))
    Tensor.T = property(lambda self: shape.permute(self, tuple(reversed(range(self.ndim)))))
    Tensor.mT = property(lambda self: shape.transpose(self, -1, -2))

    # Operators.
    Tensor.__add__ = elementwise.add
    Tensor.__radd__ = _reflected(elementwise.add)
    Tensor.__sub__ = elementwise.sub
    Tensor.__rsub__ = _reflected(elementwise.sub)
    Tensor.__mul__ = elementwise.mul
    Tensor.__rmul__ = _reflected(elementwise.mul)
    Tensor.__truediv__ = elementwise.div
    Tensor.__rtruediv__ = _reflected(elementwise.div)
    Tensor.__floordiv__ = elementwise.floor_divide
    Tensor.__rfloordiv__ = _reflected(elementwise.floor_divide)
    Tensor.__mod__ = elementwise.remainder
    Tensor.__rmod__ = _reflected(elementwise.remainder)
    Tensor.__pow__ = elementwise.pow
    Tensor.__rpow__ = _reflected(elementwise.pow)
    Tensor.__matmul__ = linalg.matmul
    Tensor.__rmatmul__ = _reflected(linalg.matmul)
    Tensor.__neg__ = elementwise.neg
    Tensor.__pos__ = lambda self: self
    Tensor.__abs__ = elementwise.abs
    Tensor.__invert__ = _invert
    Tensor.__and__ = _bool_op(elementwise.logical_and, elementwise.bitwise_and)
    Tensor.__or__ = _bool_op(elementwise.logical_or, elementwise.bitwise_or)
    Tensor.__xor__ = _bool_op(elementwise.logical_xor, elementwise.bitwise_xor)
    Tensor.__rand__ = _reflected(Tensor.__and__)
    Tensor.__ror__ = _reflected(Tensor.__or__)
    Tensor.__rxor__ = _reflected(Tensor.__xor__)
    Tensor.__eq__ = elementwise.eq
    Tensor.__ne__ = elementwise.ne
    Tensor.__lt__ = elementwise.lt
    Tensor.__le__ = elementwise.le
    Tensor.__gt__ = elementwise.gt
    Tensor.__ge__ = elementwise.ge
    Tensor.__getitem__ = indexing.getitem
    Tensor.__setitem__ = indexing.setitem
    Tensor.__iadd__ = Tensor.add_
    Tensor.__isub__ = Tensor.sub_
    Tensor.__imul__ = Tensor.mul_
    Tensor.__itruediv__ = Tensor.div_
    Tensor.__ipow__ = Tensor.pow_
    Tensor.__iand__ = inplace.make_inplace(Tensor.__and__, "__iand__")
    Tensor.__ior__ = inplace.make_inplace(Tensor.__or__, "__ior__")
