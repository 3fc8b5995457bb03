"""Elementwise ops: arithmetic, comparisons, logic and unary math.

Frontends apply PyTorch's type promotion (`dtypes.result_type`) and cast the
tensor operands before the op runs, so every kernel sees operands of one dtype
(Python numbers stay Python numbers: numpy treats them as weakly typed, like
PyTorch does). Binary ops broadcast; the engine sums their gradients back to
the input shapes.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _C, dtypes
from ..tensor import Tensor
from . import meta as M
from .conversion import to_dtype
from .registry import apply, declare

_SCALARS = (int, float, bool)


def _scalar(value):
    """Python number for a numpy scalar (numpy scalars are not weakly typed)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def cast(x: Tensor, dtype: dtypes.dtype) -> Tensor:
    if x._data.dtype == dtype.np:
        return x
    return to_dtype(x, dtype)


def _promote(a, b, floating: bool = False):
    """Operands cast to their PyTorch result dtype (float default when `floating`)."""
    if (
        type(a) is Tensor
        and type(b) is Tensor
        and a._data.dtype is b._data.dtype
        and (not floating or a._data.dtype.kind == "f")
    ):
        return a, b  # the common case: nothing to convert
    a, b = _scalar(a), _scalar(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(
            f"expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}"
        )
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype:
        rt = dtypes._BY_NP[a._data.dtype]
    else:
        rt = dtypes.result_type(a, b)
    if floating and not rt.is_floating_point:
        rt = dtypes.get_default_dtype()
    if isinstance(a, Tensor):
        a = cast(a, rt)
    elif floating and isinstance(a, int):
        a = float(a)
    if isinstance(b, Tensor):
        b = cast(b, rt)
    elif floating and isinstance(b, int):
        b = float(b)
    return a, b


def _to_float(x: Tensor) -> Tensor:
    if x._data.dtype.kind == "f":
        return x
    return cast(x, dtypes.get_default_dtype())


def _no_grad(*args, **attrs):
    return None


# ----- binary arithmetic -----


def _add_impl(xp, a, b, alpha=1):
    return xp.add(a, b if alpha == 1 else b * alpha)


ADD = declare(
    "add",
    impl=_add_impl,
    meta=M.broadcast,
    grad=lambda n, g: (g, g if n.attrs.get("alpha", 1) == 1 else g * n.attrs["alpha"]),
    save_inputs=False,
    broadcast=True,
)


def _sub_impl(xp, a, b, alpha=1):
    return xp.subtract(a, b if alpha == 1 else b * alpha)


SUB = declare(
    "sub",
    impl=_sub_impl,
    meta=M.broadcast,
    grad=lambda n, g: (g, -g if n.attrs.get("alpha", 1) == 1 else g * -n.attrs["alpha"]),
    save_inputs=False,
    broadcast=True,
)


def _requires_grad(x) -> bool:
    return isinstance(x, Tensor) and x._rg


def _mul_grad(n, g):
    a, b = n.inputs
    return (g * b if n.needs_grad(0) else None, g * a if n.needs_grad(1) else None)


MUL = declare(
    "mul",
    impl=lambda xp, a, b: xp.multiply(a, b),
    meta=M.broadcast,
    grad=_mul_grad,
    broadcast=True,
    saves=lambda a, b: (_requires_grad(b), _requires_grad(a)),
)


def _div_grad(n, g):
    a, b = n.inputs
    ga = g / b if n.needs_grad(0) else None
    gb = -g * a / (b * b) if n.needs_grad(1) else None
    return ga, gb


DIV = declare(
    "div",
    impl=lambda xp, a, b: xp.true_divide(a, b),
    meta=M.broadcast,
    grad=_div_grad,
    broadcast=True,
    saves=lambda a, b: (_requires_grad(b), _requires_grad(a) or _requires_grad(b)),
)


def _floor_divide_impl(xp, a, b):
    return xp.floor_divide(a, b)


FLOOR_DIVIDE = declare(
    "floor_divide", impl=_floor_divide_impl, meta=M.broadcast, differentiable=False, broadcast=True
)


def _remainder_grad(n, g):
    a, b = n.inputs
    gb = None
    if isinstance(b, Tensor):
        gb = -g * floor_divide(a, b)
    return (g if isinstance(a, Tensor) else None, gb)


REMAINDER = declare(
    "remainder",
    impl=lambda xp, a, b: xp.remainder(a, b),
    meta=M.broadcast,
    grad=_remainder_grad,
    broadcast=True,
)


def _pow_grad(n, g):
    a, b = n.inputs
    ga = gb = None
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            ga = g * b * pow(a, b - 1)
        elif b == 0:
            ga = g * 0.0
        else:
            ga = g * b * pow(a, b - 1)
    if isinstance(b, Tensor):
        out = n.output
        if isinstance(a, Tensor):
            # d/db a**b = a**b * log(a), defined as 0 where a == 0 and b >= 0.
            gb = g * where((a == 0) & (b >= 0), 0.0, out * log(a))
        else:
            gb = g * out * math.log(a) if a > 0 else g * where(b >= 0, 0.0, out * math.log(a))
    return ga, gb


def _pow_impl(xp, a, b):
    return xp.power(a, b)


POW = declare(
    "pow", impl=_pow_impl, meta=M.broadcast, grad=_pow_grad, save_output=True, broadcast=True
)


def _minmax_grad(n, g):
    a, b = n.inputs
    out = n.output
    # Ties split the gradient evenly, as PyTorch does.
    if not isinstance(b, Tensor):
        return where(a == out, g, 0.0), None
    mask_a = cast(a == out, g.dtype)
    mask_b = cast(b == out, g.dtype)
    total = mask_a + mask_b
    return g * mask_a / total, g * mask_b / total


MAXIMUM = declare(
    "maximum",
    impl=lambda xp, a, b: xp.maximum(a, b),
    meta=M.broadcast,
    grad=_minmax_grad,
    save_output=True,
    broadcast=True,
)
MINIMUM = declare(
    "minimum",
    impl=lambda xp, a, b: xp.minimum(a, b),
    meta=M.broadcast,
    grad=_minmax_grad,
    save_output=True,
    broadcast=True,
)


def add(input, other, *, alpha=1):
    a, b = _promote(input, other)
    return apply(ADD, a, b, alpha=alpha) if alpha != 1 else apply(ADD, a, b)


def sub(input, other, *, alpha=1):
    if any(isinstance(t, Tensor) and t._data.dtype == np.bool_ for t in (input, other)):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not "
            "supported. Use the `^` or `logical_xor()` operator instead."
        )
    a, b = _promote(input, other)
    return apply(SUB, a, b, alpha=alpha) if alpha != 1 else apply(SUB, a, b)


def mul(input, other):
    a, b = _promote(input, other)
    return apply(MUL, a, b)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        a, b = _promote(input, other, floating=True)
        return apply(DIV, a, b)
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        return (
            trunc(div(input, other))
            if _is_float_result(input, other)
            else cast(trunc(div(input, other)), dtypes.result_type(input, other))
        )
    raise ValueError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
        f"found '{rounding_mode}'"
    )


def _is_float_result(a, b) -> bool:
    return dtypes.result_type(_scalar(a), _scalar(b)).is_floating_point


def floor_divide(input, other):
    a, b = _promote(input, other)
    return apply(FLOOR_DIVIDE, a, b)


def remainder(input, other):
    a, b = _promote(input, other)
    return apply(REMAINDER, a, b)


def pow(input, exponent):  # noqa: A001
    a, b = _promote(input, exponent)
    if isinstance(a, Tensor) and isinstance(b, int) and b < 0 and not a.dtype.is_floating_point:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return apply(POW, a, b)


def maximum(input, other):
    a, b = _promote(input, other)
    return apply(MAXIMUM, a, b)


def minimum(input, other):
    a, b = _promote(input, other)
    return apply(MINIMUM, a, b)


# ----- comparisons and logic (not differentiable) -----


def _comparison(name, ufunc_name):
    op = declare(
        name,
        impl=lambda xp, a, b: getattr(xp, ufunc_name)(a, b),
        meta=M.broadcast_bool,
        differentiable=False,
    )

    def compare(input, other):
        a, b = _promote(input, other)
        return apply(op, a, b)

    compare.__name__ = name
    return op, compare


EQ, eq = _comparison("eq", "equal")
NE, ne = _comparison("ne", "not_equal")
LT, lt = _comparison("lt", "less")
LE, le = _comparison("le", "less_equal")
GT, gt = _comparison("gt", "greater")
GE, ge = _comparison("ge", "greater_equal")
LOGICAL_AND, logical_and = _comparison("logical_and", "logical_and")
LOGICAL_OR, logical_or = _comparison("logical_or", "logical_or")
LOGICAL_XOR, logical_xor = _comparison("logical_xor", "logical_xor")

LOGICAL_NOT = declare(
    "logical_not",
    impl=lambda xp, x: xp.logical_not(x),
    meta=lambda x: M.Meta(x.shape, dtypes.bool_),
    differentiable=False,
)


def logical_not(input):
    return apply(LOGICAL_NOT, input)


def _bitwise(name, ufunc_name):
    op = declare(
        name,
        impl=lambda xp, a, b: getattr(xp, ufunc_name)(a, b),
        meta=M.broadcast,
        differentiable=False,
    )

    def bitwise(input, other):
        a, b = _promote(input, other)
        if a.dtype.is_floating_point if isinstance(a, Tensor) else isinstance(a, float):
            raise RuntimeError(f"\"{name}_cpu\" not implemented for 'Float'")
        return apply(op, a, b)

    bitwise.__name__ = name
    return op, bitwise


BITWISE_AND, bitwise_and = _bitwise("bitwise_and", "bitwise_and")
BITWISE_OR, bitwise_or = _bitwise("bitwise_or", "bitwise_or")
BITWISE_XOR, bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")
BITWISE_NOT = declare(
    "bitwise_not", impl=lambda xp, x: xp.invert(x), meta=M.same, differentiable=False
)


def bitwise_not(input):
    if input.dtype.is_floating_point:
        raise RuntimeError("\"bitwise_not_cpu\" not implemented for 'Float'")
    return apply(BITWISE_NOT, input)


def _where_grad(n, g):
    cond, a, b = n.inputs
    zero = 0.0
    ga = where(cond, g, zero) if isinstance(a, Tensor) else None
    gb = where(cond, zero, g) if isinstance(b, Tensor) else None
    return None, ga, gb


def _where_meta(cond, a, b):
    shapes = [m.shape for m in (cond, a, b) if isinstance(m, M.Meta)]
    dtype = a.dtype if isinstance(a, M.Meta) else b.dtype
    return M.Meta(M.broadcast_shapes(*shapes), dtype)


WHERE = declare(
    "where",
    impl=lambda xp, c, a, b: xp.where(c, a, b),
    meta=_where_meta,
    grad=_where_grad,
    broadcast=True,
)


def where(condition, input=None, other=None):
    """Elementwise `input if condition else other`; one argument: `nonzero(as_tuple=True)`."""
    if input is None and other is None:
        from .indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if condition._data.dtype != np.bool_:
        condition = cast(condition, dtypes.bool_)
    a, b = _promote(input, other)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("where expected a Tensor input or other")
    return apply(WHERE, condition, a, b)


# ----- unary ops -----


def _unary(
    name,
    impl,
    grad=None,
    *,
    floating=True,
    save_output=False,
    save_inputs=True,
    differentiable=True,
    meta=M.same,
    cuda=None,
):
    """Declares a one-input elementwise op and returns (op, frontend)."""
    op = declare(
        name,
        impl=impl,
        meta=meta,
        grad=grad,
        save_output=save_output,
        save_inputs=save_inputs,
        differentiable=differentiable,
        cuda=cuda,
    )
    if floating:

        def frontend(input):
            return apply(op, _to_float(input))
    else:

        def frontend(input):
            return apply(op, input)

    frontend.__name__ = name
    return op, frontend


def _stable_sigmoid(xp, x):
    if xp is np and x.dtype.itemsize >= 4 and x.flags.c_contiguous:
        return _C.sigmoid(x)  # one native pass instead of six numpy calls
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


_SQRT_2 = math.sqrt(2.0)


def _erf_numpy(x):
    """erf for numpy arrays: exact (libm) for float64, and for narrower floats a
    rational approximation (Numerical Recipes' erfc, relative error < 1.2e-7)
    evaluated in float64, which is below float32 resolution."""
    if x.dtype == np.float64:
        return np.frompyfunc(math.erf, 1, 1)(x).astype(np.float64)
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype)


def _erf_impl(xp, x):
    if xp is np:
        return np.asarray(_erf_numpy(np.asarray(x)))
    from cupyx.scipy.special import erf

    return erf(x)


NEG, neg = _unary(
    "neg", lambda xp, x: xp.negative(x), lambda n, g: -g, floating=False, save_inputs=False
)
ABS, abs = _unary(
    "abs",
    lambda xp, x: xp.abs(x),
    lambda n, g: g * sign(n.inputs[0]),  # noqa: A001
    floating=False,
)
SIGN, sign = _unary(
    "sign", lambda xp, x: xp.sign(x), lambda n, g: g * 0, floating=False, save_inputs=False
)
EXP, exp = _unary(
    "exp", lambda xp, x: xp.exp(x), lambda n, g: g * n.output, save_output=True, save_inputs=False
)
EXP2, exp2 = _unary(
    "exp2",
    lambda xp, x: xp.exp2(x),
    lambda n, g: g * n.output * math.log(2.0),
    save_output=True,
    save_inputs=False,
)
EXPM1, expm1 = _unary(
    "expm1",
    lambda xp, x: xp.expm1(x),
    lambda n, g: g * (n.output + 1),
    save_output=True,
    save_inputs=False,
)
LOG, log = _unary("log", lambda xp, x: xp.log(x), lambda n, g: g / n.inputs[0])
LOG2, log2 = _unary(
    "log2", lambda xp, x: xp.log2(x), lambda n, g: g / (n.inputs[0] * math.log(2.0))
)
LOG10, log10 = _unary(
    "log10", lambda xp, x: xp.log10(x), lambda n, g: g / (n.inputs[0] * math.log(10.0))
)
LOG1P, log1p = _unary("log1p", lambda xp, x: xp.log1p(x), lambda n, g: g / (n.inputs[0] + 1))
SQRT, sqrt = _unary(
    "sqrt",
    lambda xp, x: xp.sqrt(x),
    lambda n, g: g / (2 * n.output),
    save_output=True,
    save_inputs=False,
)
RSQRT, rsqrt = _unary(
    "rsqrt",
    lambda xp, x: 1 / xp.sqrt(x),
    lambda n, g: g * -0.5 * n.output / n.inputs[0],
    save_output=True,
)
RECIPROCAL, reciprocal = _unary(
    "reciprocal",
    lambda xp, x: xp.reciprocal(x),
    lambda n, g: -g * n.output * n.output,
    save_output=True,
    save_inputs=False,
)
SIN, sin = _unary("sin", lambda xp, x: xp.sin(x), lambda n, g: g * cos(n.inputs[0]))
COS, cos = _unary("cos", lambda xp, x: xp.cos(x), lambda n, g: -g * sin(n.inputs[0]))
TAN, tan = _unary(
    "tan",
    lambda xp, x: xp.tan(x),
    lambda n, g: g * (1 + n.output * n.output),
    save_output=True,
    save_inputs=False,
)
ASIN, asin = _unary(
    "asin", lambda xp, x: xp.arcsin(x), lambda n, g: g * rsqrt(1 - n.inputs[0] * n.inputs[0])
)
ACOS, acos = _unary(
    "acos", lambda xp, x: xp.arccos(x), lambda n, g: -g * rsqrt(1 - n.inputs[0] * n.inputs[0])
)
ATAN, atan = _unary(
    "atan", lambda xp, x: xp.arctan(x), lambda n, g: g / (1 + n.inputs[0] * n.inputs[0])
)
SINH, sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda n, g: g * cosh(n.inputs[0]))
COSH, cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda n, g: g * sinh(n.inputs[0]))
# tanh and sigmoid differentiate through one fused op each (as PyTorch's
# tanh_backward/sigmoid_backward): RNN backward passes are dominated by them.
TANH_BACKWARD = declare(
    "tanh_backward",
    impl=lambda xp, y, g: g * (1 - y * y),
    meta=M.same,
    grad=lambda n, gg: (
        -2 * gg * n.inputs[1] * n.inputs[0] if n.needs_grad(0) else None,
        apply(TANH_BACKWARD, n.inputs[0], gg) if n.needs_grad(1) else None,
    ),
)
SIGMOID_BACKWARD = declare(
    "sigmoid_backward",
    impl=lambda xp, y, g: g * y * (1 - y),
    meta=M.same,
    grad=lambda n, gg: (
        gg * n.inputs[1] * (1 - 2 * n.inputs[0]) if n.needs_grad(0) else None,
        apply(SIGMOID_BACKWARD, n.inputs[0], gg) if n.needs_grad(1) else None,
    ),
)
TANH, tanh = _unary(
    "tanh",
    lambda xp, x: xp.tanh(x),
    lambda n, g: apply(TANH_BACKWARD, n.output, g),
    save_output=True,
    save_inputs=False,
)
SIGMOID, sigmoid = _unary(
    "sigmoid",
    _stable_sigmoid,
    lambda n, g: apply(SIGMOID_BACKWARD, n.output, g),
    save_output=True,
    save_inputs=False,
)
ERF, erf = _unary(
    "erf", _erf_impl, lambda n, g: g * (2 / math.sqrt(math.pi)) * exp(-n.inputs[0] * n.inputs[0])
)
RELU, relu = _unary(
    "relu",
    lambda xp, x: xp.maximum(x, 0).astype(x.dtype, copy=False),
    lambda n, g: g * cast(n.output > 0, g.dtype),
    floating=False,
    save_output=True,
    save_inputs=False,
)


def _rounding(name, fn):
    return _unary(
        name,
        lambda xp, x: x.copy() if x.dtype.kind in "iub" else fn(xp, x),
        lambda n, g: g * 0,
        floating=False,
        save_inputs=False,
    )


FLOOR, floor = _rounding("floor", lambda xp, x: xp.floor(x))
CEIL, ceil = _rounding("ceil", lambda xp, x: xp.ceil(x))
TRUNC, trunc = _rounding("trunc", lambda xp, x: xp.trunc(x))
ROUND, _round = _rounding("round", lambda xp, x: xp.round(x))


def round(input, *, decimals: int = 0):  # noqa: A001
    if decimals == 0:
        return _round(input)
    scale = 10.0**decimals
    return _round(input * scale) / scale


def square(input):
    return mul(input, input)


def _fmod_grad(n, g):
    a, b = n.inputs
    gb = -g * trunc(a / b) if isinstance(b, Tensor) and n.needs_grad(1) else None
    return (g if n.needs_grad(0) else None, gb)


# C's fmod: the remainder has the sign of the dividend (remainder: of the divisor).
FMOD = declare(
    "fmod", impl=lambda xp, a, b: xp.fmod(a, b), meta=M.broadcast, grad=_fmod_grad, broadcast=True
)


def fmod(input, other):
    a, b = _promote(input, other)
    return apply(FMOD, a, b)


def _predicate(name, fn):
    op = declare(name, impl=fn, meta=lambda x: M.Meta(x.shape, dtypes.bool_), differentiable=False)

    def frontend(input):
        return apply(op, input)

    frontend.__name__ = name
    return op, frontend


ISNAN, isnan = _predicate("isnan", lambda xp, x: xp.isnan(x))
ISINF, isinf = _predicate("isinf", lambda xp, x: xp.isinf(x))
ISFINITE, isfinite = _predicate("isfinite", lambda xp, x: xp.isfinite(x))


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None):
    """NaN -> `nan`, +inf -> `posinf`, -inf -> `neginf` (the dtype's extremes by default)."""
    if not input.dtype.is_floating_point:
        return input * 1
    info = np.finfo(input._data.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    out = where(isnan(input), nan, input)
    out = where(input == float("inf"), posinf, out)
    return where(input == float("-inf"), neginf, out)
