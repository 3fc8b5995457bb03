"""Max and average pooling over 2-D windows, and adaptive average pooling."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import meta as M
from .convolution import _col2im, _out_size, _pad2d, _pair, _unpad, _windows
from .registry import apply, declare

# ----- pooling -----


def _pool_geometry(x_shape, kernel, stride, padding, dilation, ceil_mode):
    out_hw = tuple(
        _out_size(x_shape[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode)
        for i in range(2)
    )
    extra = tuple(
        max(
            0,
            (out_hw[i] - 1) * stride[i]
            + dilation[i] * (kernel[i] - 1)
            + 1
            - (x_shape[2 + i] + 2 * padding[i]),
        )
        for i in range(2)
    )
    return out_hw, extra


def _first_tap_inside(out: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """Per output position along one dim: the first kernel tap at or past the
    input's start (it lies past the input's end when every tap is padding)."""
    start = np.arange(out) * stride - padding
    return np.maximum(0, -(start // dilation))


def _check_window(kernel, stride, dilation) -> None:
    """PyTorch's messages for window sizes that cannot slide."""
    if min(kernel) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got {kernel}")
    if 0 in stride:
        raise RuntimeError("stride should not be zero")
    if min(stride) < 0:
        raise RuntimeError(f"stride should be greater than zero, but got {stride}")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {dilation}")


def _max_pool2d_impl(xp, x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    out_hw, extra = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = _pad2d(xp, x, padding, lowest, extra)
    win = _windows(xp, padded, kernel, stride, dilation, out_hw)
    flat = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, out_hw[0], out_hw[1], -1)
    # PyTorch scans a window's taps inside the input in order, starting from
    # the first one, and moves to a tap that is greater or NaN: the answer is
    # the first maximum, the last NaN when there is one, and the first tap
    # inside the input when nothing beats the lowest value (only padding or
    # -inf in the window).
    # The checks on `values` keep the common case to one argmax.
    arg = xp.argmax(flat, axis=-1)  # stops at the first NaN
    values = xp.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    if x.dtype.kind == "f" and xp.isnan(values).any():
        nan = xp.isnan(flat)
        last_nan = flat.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
        arg = xp.where(nan.any(axis=-1), last_nan, arg)
    ki, kj = arg // kernel[1], arg % kernel[1]
    nothing_greater = values == lowest
    if nothing_greater.any():
        first_ki = xp.asarray(_first_tap_inside(out_hw[0], stride[0], padding[0], dilation[0]))
        first_kj = xp.asarray(_first_tap_inside(out_hw[1], stride[1], padding[1], dilation[1]))
        ki = xp.where(nothing_greater, first_ki.reshape(-1, 1), ki)
        kj = xp.where(nothing_greater, first_kj.reshape(1, -1), kj)
    # Flat index into the unpadded H*W plane, as PyTorch returns it.
    rows = xp.arange(out_hw[0]).reshape(-1, 1) * stride[0] + ki * dilation[0] - padding[0]
    cols = xp.arange(out_hw[1]).reshape(1, -1) * stride[1] + kj * dilation[1] - padding[1]
    return xp.ascontiguousarray(values), (rows * w + cols).astype(np.int64)


def _max_pool2d_meta(x, kernel, stride, padding, dilation, ceil_mode):
    out_hw, _ = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    shape = x.shape[:2] + out_hw
    from .. import dtypes

    return M.Meta(shape, x.dtype), M.Meta(shape, dtypes.int64)


def _windows_inside(in_hw, out_hw, kernel, stride, padding, dilation):
    """(OH, OW) bools: whether a window has a tap inside the input (the
    geometry alone decides; with dilation some windows may hold only padding)."""
    inside = [
        _first_tap_inside(out_hw[i], stride[i], padding[i], dilation[i]) < kernel[i]
        for i in range(2)
    ]
    for i in range(2):
        start = np.arange(out_hw[i]) * stride[i] - padding[i]
        tap = start + _first_tap_inside(out_hw[i], stride[i], padding[i], dilation[i]) * dilation[i]
        inside[i] &= tap < in_hw[i]
    return inside[0][:, None] & inside[1][None, :]


def _max_pool2d_grad(n, grads):
    from .creation_ops import zeros_from_meta
    from .indexing import scatter_add

    g, _ = grads
    (x,) = n.inputs
    indices = n.outputs[1].detach()
    nb, c, h, w = x._data.shape
    attrs = {k: n.attrs[k] for k in ("kernel", "stride", "padding", "dilation")}
    inside = _windows_inside((h, w), tuple(g._data.shape[2:]), **attrs)
    if not inside.all():
        # A window of padding alone took no input value, so it passes no
        # gradient back (its index, PyTorch's, points past its row or plane).
        from ..creation import tensor as make_tensor
        from .elementwise import where

        keep = make_tensor(inside, device=g.device)
        indices = where(keep, indices, 0)
        g = where(keep, g, 0.0)
    zeros = zeros_from_meta((nb, c, h * w), g._data.dtype, like=g)
    flat = scatter_add(zeros, 2, indices.reshape(nb, c, -1), g.reshape(nb, c, -1))
    return flat.reshape(nb, c, h, w)


MAX_POOL2D = declare(
    "max_pool2d",
    impl=_max_pool2d_impl,
    meta=_max_pool2d_meta,
    grad=_max_pool2d_grad,
    outputs=2,
    save_output=True,
)


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    if input.ndim == 3:
        out = max_pool2d(
            input.unsqueeze(0), kernel_size, stride, padding, dilation, ceil_mode, return_indices
        )
        return tuple(o.squeeze(0) for o in out) if return_indices else out.squeeze(0)
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or stride == [] else _pair(stride)
    padding, dilation = _pair(padding), _pair(dilation)
    _check_window(kernel, stride, dilation)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise RuntimeError(
            "pad should be at most half of effective kernel size, but got "
            f"pad={padding[0]}, kernel_size={kernel[0]} and dilation={dilation[0]}"
        )
    values, indices = apply(
        MAX_POOL2D,
        input,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        ceil_mode=bool(ceil_mode),
    )
    return (values, indices) if return_indices else values


def _avg_divisor(xp, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, dtype):
    out_hw, extra = _pool_geometry(x_shape, kernel, stride, padding, (1, 1), ceil_mode)
    h, w = x_shape[2:]
    ones = xp.zeros(
        (1, 1, h + 2 * padding[0] + extra[0], w + 2 * padding[1] + extra[1]), dtype=dtype
    )
    if count_include_pad:
        ones[:, :, : h + 2 * padding[0], : w + 2 * padding[1]] = 1
    else:
        ones[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w] = 1
    win = _windows(xp, ones, kernel, stride, (1, 1), out_hw)
    return win.sum(axis=(2, 3))[0, 0], out_hw, extra


def _avg_pool2d_impl(
    xp, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    divisor, out_hw, extra = _avg_divisor(
        xp, x.shape, kernel, stride, padding, ceil_mode, count_include_pad, x.dtype
    )
    if divisor_override:
        divisor = xp.full_like(divisor, divisor_override)
    win = _windows(xp, _pad2d(xp, x, padding, 0.0, extra), kernel, stride, (1, 1), out_hw)
    return xp.ascontiguousarray(win.sum(axis=(2, 3)) / divisor).astype(x.dtype, copy=False)


def _avg_meta(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    out_hw, _ = _pool_geometry(x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    return M.Meta(x.shape[:2] + out_hw, x.dtype)


def _avg_attrs(n):
    return {
        k: n.attrs[k]
        for k in (
            "kernel",
            "stride",
            "padding",
            "ceil_mode",
            "count_include_pad",
            "divisor_override",
        )
    }


AVG_POOL2D = declare(
    "avg_pool2d",
    impl=_avg_pool2d_impl,
    meta=_avg_meta,
    grad=lambda n, g: apply(AVG_POOL2D_BACKWARD, g, x_shape=n.in_shapes[0], **_avg_attrs(n)),
    save_inputs=False,
    broadcast=True,  # records the input shape
)


def _avg_pool2d_backward_impl(
    xp, g, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    divisor, out_hw, extra = _avg_divisor(
        xp, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, g.dtype
    )
    if divisor_override:
        divisor = xp.full_like(divisor, divisor_override)
    share = g / divisor
    cols = xp.broadcast_to(share[:, :, None, None], share.shape[:2] + tuple(kernel) + out_hw)
    padded = (
        x_shape[0],
        x_shape[1],
        x_shape[2] + 2 * padding[0] + extra[0],
        x_shape[3] + 2 * padding[1] + extra[1],
    )
    full = _col2im(xp, cols, padded, kernel, stride, (1, 1), out_hw)
    return xp.ascontiguousarray(_unpad(full, padding, x_shape)).astype(g.dtype, copy=False)


AVG_POOL2D_BACKWARD = declare(
    "avg_pool2d_backward",
    impl=_avg_pool2d_backward_impl,
    meta=lambda g, x_shape, **a: M.Meta(tuple(x_shape), g.dtype),
    grad=lambda n, gg: apply(AVG_POOL2D, gg, **_avg_attrs(n)),
    save_inputs=False,
)


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    if input.ndim == 3:
        return avg_pool2d(
            input.unsqueeze(0),
            kernel_size,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
        ).squeeze(0)
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or stride == [] else _pair(stride)
    padding = _pair(padding)
    _check_window(kernel, stride, (1, 1))
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got "
            f"pad={padding[0]}, kernel_size={kernel[0]}"
        )
    return apply(
        AVG_POOL2D,
        input,
        kernel=kernel,
        stride=stride,
        padding=padding,
        ceil_mode=bool(ceil_mode),
        count_include_pad=bool(count_include_pad),
        divisor_override=divisor_override,
    )


def _pool_matrix(in_size: int, out_size: int, like: Tensor) -> Tensor:
    """Rows average the adaptive windows [floor(i*n/m), ceil((i+1)*n/m))."""
    from ..creation import tensor as make_tensor

    mat = np.zeros((out_size, in_size), dtype=like._data.dtype)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -(-((i + 1) * in_size) // out_size)
        mat[i, start:end] = 1.0 / (end - start)
    return make_tensor(mat, device=like.device)


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Adaptive average pooling as two small matrix products (exact, differentiable)."""
    from .linalg import matmul

    out = (
        _pair(output_size)
        if not isinstance(output_size, (tuple, list))
        else tuple(input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(output_size))
    )
    h, w = input._data.shape[-2:]
    rows = _pool_matrix(h, out[0], input)
    cols = _pool_matrix(w, out[1], input)
    return matmul(matmul(rows, input), cols.t())
