"""Activations with parameters (leaky_relu, elu, softplus, gelu, silu) and clamping."""

from __future__ import annotations

import math

from ..tensor import Tensor
from . import meta as M
from .elementwise import (
    _erf_impl,
    _scalar,
    _stable_sigmoid,
    _to_float,
    erf,
    exp,
    maximum,
    minimum,
    sigmoid,
    tanh,
    where,
)
from .registry import apply, declare

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# ----- parameterized activations -----


def _leaky_relu_grad(n, g):
    (x,) = n.inputs
    return where(x > 0, g, g * n.attrs["negative_slope"])


LEAKY_RELU = declare(
    "leaky_relu",
    impl=lambda xp, x, negative_slope: xp.where(x > 0, x, x * negative_slope).astype(x.dtype),
    meta=M.same,
    grad=_leaky_relu_grad,
)


def leaky_relu(input, negative_slope: float = 0.01):
    return apply(LEAKY_RELU, input, negative_slope=float(negative_slope))


def _elu_impl(xp, x, alpha):
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype)


ELU = declare(
    "elu",
    impl=_elu_impl,
    meta=M.same,
    grad=lambda n, g: where(n.inputs[0] > 0, g, g * (n.output + n.attrs["alpha"])),
    save_output=True,
)


def elu(input, alpha: float = 1.0):
    return apply(ELU, _to_float(input), alpha=float(alpha))


def _softplus_impl(xp, x, beta, threshold):
    scaled = x * beta
    soft = xp.logaddexp(0, scaled) / beta
    return xp.where(scaled > threshold, x, soft).astype(x.dtype)


def _softplus_grad(n, g):
    (x,) = n.inputs
    beta, threshold = n.attrs["beta"], n.attrs["threshold"]
    scaled = x * beta
    return where(scaled > threshold, g, g * sigmoid(scaled))


SOFTPLUS = declare("softplus", impl=_softplus_impl, meta=M.same, grad=_softplus_grad)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    return apply(SOFTPLUS, _to_float(input), beta=float(beta), threshold=float(threshold))


def _gelu_impl(xp, x, approximate):
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        return (0.5 * x * (1 + xp.tanh(inner))).astype(x.dtype)
    return (0.5 * x * (1 + _erf_impl(xp, x / _SQRT_2))).astype(x.dtype)


def _gelu_grad(n, g):
    (x,) = n.inputs
    if n.attrs["approximate"] == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    cdf = 0.5 * (1 + erf(x / _SQRT_2))
    pdf = exp(-0.5 * x * x) * _INV_SQRT_2PI
    return g * (cdf + x * pdf)


GELU = declare("gelu", impl=_gelu_impl, meta=M.same, grad=_gelu_grad)


def gelu(input, approximate: str = "none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate}")
    return apply(GELU, _to_float(input), approximate=approximate)


def _silu_grad(n, g):
    (x,) = n.inputs
    s = sigmoid(x)
    return g * s * (1 + x * (1 - s))


SILU = declare("silu", impl=lambda xp, x: x * _stable_sigmoid(xp, x), meta=M.same, grad=_silu_grad)


def silu(input):
    return apply(SILU, _to_float(input))


def _clamp_impl(xp, x, min=None, max=None):  # noqa: A002
    return xp.clip(x, min, max).astype(x.dtype, copy=False)


def _clamp_grad(n, g):
    (x,) = n.inputs
    lo, hi = n.attrs.get("min"), n.attrs.get("max")
    mask = None
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        upper = x <= hi
        mask = upper if mask is None else mask & upper
    return where(mask, g, 0.0)


CLAMP = declare("clamp", impl=_clamp_impl, meta=M.same, grad=_clamp_grad)


def clamp(input, min=None, max=None):  # noqa: A002
    """Limits values to [min, max]; either bound may be None, a number or a Tensor."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    min, max = _scalar(min), _scalar(max)  # noqa: A001
    if input.dtype.is_floating_point:
        min = None if min is None else float(min)  # noqa: A001
        max = None if max is None else float(max)  # noqa: A001
    elif isinstance(min, float) or isinstance(max, float):
        input = _to_float(input)
    attrs = {}
    if min is not None:
        attrs["min"] = min
    if max is not None:
        attrs["max"] = max
    return apply(CLAMP, input, **attrs)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0):
    return clamp(input, min_val, max_val)


def relu6(input):
    return clamp(input, 0.0, 6.0)


def clamp_min(input, min):  # noqa: A002
    return clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    return clamp(input, max=max)
