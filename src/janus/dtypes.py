"""Tensor element types and PyTorch's type-promotion rules.

A `dtype` wraps the numpy dtype that stores it. Promotion follows PyTorch, not
numpy: operands are ranked (tensors with dimensions, then 0-d tensors, then
Python numbers) and a lower-ranked operand only changes the result when it is of
a higher category (bool < integer < floating), e.g. `int32_tensor + 2.5` is
float32 (the default dtype), and `float32_tensor + float64_0d_tensor` is float32.
"""

from __future__ import annotations

import numpy as np

BOOL, INT, FLOAT = 0, 1, 2  # categories, ordered


class dtype:  # noqa: N801 - PyTorch's name
    """An element type, e.g. `janus.float32`."""

    __slots__ = ("name", "np", "category", "itemsize", "is_floating_point", "is_signed")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize
        self.is_floating_point = category == FLOAT
        self.is_signed = category != BOOL

    @property
    def is_complex(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"janus.{self.name}"

    @property
    def legacy_name(self) -> str:
        """PyTorch's scalar-type name used in error messages ("Float", "Long", ...)."""
        return _LEGACY_NAMES.get(self.name, self.name)

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


float32 = dtype("float32", np.float32, FLOAT)
float64 = dtype("float64", np.float64, FLOAT)
float16 = dtype("float16", np.float16, FLOAT)
int64 = dtype("int64", np.int64, INT)
int32 = dtype("int32", np.int32, INT)
int16 = dtype("int16", np.int16, INT)
int8 = dtype("int8", np.int8, INT)
uint8 = dtype("uint8", np.uint8, INT)
bool_ = dtype("bool", np.bool_, BOOL)

# PyTorch's aliases.
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

_LEGACY_NAMES = {
    "float32": "Float",
    "float64": "Double",
    "float16": "Half",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}

ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_BY_NAME = {d.name: d for d in ALL}
_BY_NP = {d.np: d for d in ALL}


def _dtype_by_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype) -> dtype:
    """The janus dtype stored as `np_dtype`; TypeError for types janus lacks."""
    try:
        return _BY_NP[np_dtype]
    except KeyError:
        pass
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"janus has no dtype for numpy type {np_dtype!r}") from None


def to_dtype(value) -> dtype:
    """Accepts a janus dtype, a numpy dtype or type, or a Python type."""
    if isinstance(value, dtype):
        return value
    if value is builtins_float:
        return _default[0]
    if value is builtins_int:
        return int64
    if value is builtins_bool:
        return bool_
    return from_numpy_dtype(value)


import builtins as _builtins  # noqa: E402

builtins_float, builtins_int, builtins_bool = _builtins.float, _builtins.int, _builtins.bool

# The default floating dtype, as a one-element list so importers see updates.
_default = [float32]


def get_default_dtype() -> dtype:
    return _default[0]


def set_default_dtype(d: dtype) -> None:
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d
    _promotion_cache.clear()


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's `promote_types`: the smallest type both convert to."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == BOOL:
        return a
    if a.category == FLOAT:
        return a if a.itemsize >= b.itemsize else b
    # Integers: numpy agrees with PyTorch for the types janus has, except that
    # uint8 with a signed type widens (numpy gives the same answer).
    return from_numpy_dtype(np.promote_types(a.np, b.np))


def _python_scalar_dtype(value) -> dtype:
    t = type(value)
    if t is builtins_bool or t is np.bool_:
        return bool_
    if t is builtins_int or isinstance(value, np.integer):
        return int64
    return _default[0]


# Ranks of an operand in promotion.
DIM, ZERO_DIM, SCALAR = 0, 1, 2


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """The result of a higher-ranked group with a lower-ranked one."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.category == FLOAT:
        return higher
    if higher.category == BOOL or lower.category > higher.category:
        return promote_types(higher, lower)
    return higher


_promotion_cache: dict = {}


def result_type_of(kinds: tuple) -> dtype:
    """Result dtype for operands given as (dtype, rank) pairs."""
    cached = _promotion_cache.get(kinds)
    if cached is not None:
        return cached
    groups: list[dtype | None] = [None, None, None]
    for d, rank in kinds:
        g = groups[rank]
        groups[rank] = d if g is None else promote_types(g, d)
    result = _combine(groups[DIM], _combine(groups[ZERO_DIM], groups[SCALAR]))
    _promotion_cache[kinds] = result
    return result


def operand_kind(x) -> tuple:
    """(dtype, rank) of a Tensor or Python number, for `result_type_of`."""
    data = getattr(x, "_data", None)
    if data is None:
        return (_python_scalar_dtype(x), SCALAR)
    return (_BY_NP[data.dtype], DIM if data.ndim else ZERO_DIM)


def result_type(*operands) -> dtype:
    """PyTorch's `result_type` over Tensors and Python numbers."""
    return result_type_of(tuple(operand_kind(x) for x in operands))


def can_cast(src: dtype, dst: dtype) -> bool:
    """PyTorch's in-place rule: the result may not move to a lower category."""
    return src.category <= dst.category
