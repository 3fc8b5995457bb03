"""2-D convolution, lowered to GEMM, and its transpose.

im2col: the windows of the padded input are gathered by a strided view, then
one matrix product per group. The two gradient ops are primitives too, declared
with their own gradients, so double backward works:
  conv2d(x, w)              -> dx = conv2d_input_grad(g, w), dw = conv2d_weight_grad(x, g)
  conv2d_input_grad(gy, w)  -> d gy = conv2d(gg, w),          d w = conv2d_weight_grad(gg, gy)
  conv2d_weight_grad(x, gy) -> d x = conv2d_input_grad(gy, gg), d gy = conv2d(x, gg)
conv_transpose2d is conv2d_input_grad used as a layer.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import meta as M
from .registry import apply, declare

# ----- im2col helpers -----


def _as_strided(xp, x, shape, strides):
    if xp is np:
        return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x, shape, strides)


def _out_size(size, k, s, p, d, ceil_mode=False):
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or left padding
    return out


def _windows(xp, xp_padded, k, s, d, out_hw):
    """View (N, C, kh, kw, OH, OW) of the windows of a padded (N, C, H, W) array."""
    n, c = xp_padded.shape[:2]
    sn, sc, sh, sw = xp_padded.strides
    return _as_strided(
        xp,
        xp_padded,
        (n, c, k[0], k[1], out_hw[0], out_hw[1]),
        (sn, sc, sh * d[0], sw * d[1], sh * s[0], sw * s[1]),
    )


def _pad2d(xp, x, p, value=0.0, extra=(0, 0)):
    if p == (0, 0) and extra == (0, 0):
        return x
    widths = ((0, 0), (0, 0), (p[0], p[0] + extra[0]), (p[1], p[1] + extra[1]))
    return xp.pad(x, widths, constant_values=value)


def _col2im(xp, cols, padded_shape, k, s, d, out_hw):
    """Adds window values (N, C, kh, kw, OH, OW) back into a padded image."""
    out = xp.zeros(padded_shape, dtype=cols.dtype)
    oh, ow = out_hw
    for i in range(k[0]):
        for j in range(k[1]):
            h0, w0 = i * d[0], j * d[1]
            out[
                :, :, h0 : h0 + s[0] * (oh - 1) + 1 : s[0], w0 : w0 + s[1] * (ow - 1) + 1 : s[1]
            ] += cols[:, :, i, j]
    return out


def _unpad(x, p, shape):
    return x[:, :, p[0] : p[0] + shape[2], p[1] : p[1] + shape[3]]


# ----- convolution -----


def _conv_out_hw(x_shape, w_shape, stride, padding, dilation):
    return tuple(
        _out_size(x_shape[2 + i], w_shape[2 + i], stride[i], padding[i], dilation[i])
        for i in range(2)
    )


def _conv2d_impl(xp, x, w, stride, padding, dilation, groups):
    n, c = x.shape[:2]
    o = w.shape[0]
    k = w.shape[2:]
    oh, ow = _conv_out_hw(x.shape, w.shape, stride, padding, dilation)
    win = _windows(xp, _pad2d(xp, x, padding), k, stride, dilation, (oh, ow))
    # cols: (G, N*OH*OW, Cg*kh*kw), weights: (G, Cg*kh*kw, Og)
    cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, groups, -1).transpose(1, 0, 2)
    wmat = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    out = xp.matmul(cols, wmat)  # (G, M, Og)
    out = out.transpose(1, 0, 2).reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    return xp.ascontiguousarray(out)


def _conv2d_meta(x, w, stride, padding, dilation, groups):
    oh, ow = _conv_out_hw(x.shape, w.shape, stride, padding, dilation)
    return M.Meta((x.shape[0], w.shape[0], oh, ow), x.dtype)


def _conv_attrs(n):
    a = n.attrs
    return dict(
        stride=a["stride"], padding=a["padding"], dilation=a["dilation"], groups=a["groups"]
    )


def _conv2d_grad(n, g):
    x, w = n.inputs
    attrs = _conv_attrs(n)
    gx = apply(CONV2D_INPUT_GRAD, g, w, x_shape=tuple(x._data.shape), **attrs) if x._rg else None
    gw = apply(CONV2D_WEIGHT_GRAD, x, g, w_shape=tuple(w._data.shape), **attrs) if w._rg else None
    return gx, gw


CONV2D = declare("conv2d", impl=_conv2d_impl, meta=_conv2d_meta, grad=_conv2d_grad)


def _conv2d_input_grad_impl(xp, gy, w, x_shape, stride, padding, dilation, groups):
    n, o, oh, ow = gy.shape
    k = w.shape[2:]
    c = x_shape[1]
    gmat = gy.transpose(0, 2, 3, 1).reshape(n * oh * ow, groups, o // groups).transpose(1, 0, 2)
    wmat = w.reshape(groups, o // groups, -1)  # (G, Og, Cg*kh*kw)
    cols = xp.matmul(gmat, wmat)  # (G, M, Cg*kh*kw)
    cols = cols.transpose(1, 0, 2).reshape(n, oh, ow, c, k[0], k[1]).transpose(0, 3, 4, 5, 1, 2)
    padded = (n, c, x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1])
    full = _col2im(xp, cols, padded, k, stride, dilation, (oh, ow))
    return xp.ascontiguousarray(_unpad(full, padding, x_shape))


def _conv2d_input_grad_grad(n, gg):
    gy, w = n.inputs
    attrs = _conv_attrs(n)
    d_gy = apply(CONV2D, gg, w, **attrs) if gy._rg else None
    d_w = (
        apply(CONV2D_WEIGHT_GRAD, gg, gy, w_shape=tuple(w._data.shape), **attrs) if w._rg else None
    )
    return d_gy, d_w


CONV2D_INPUT_GRAD = declare(
    "conv2d_input_grad",
    impl=_conv2d_input_grad_impl,
    meta=lambda gy, w, x_shape, **a: M.Meta(tuple(x_shape), gy.dtype),
    grad=_conv2d_input_grad_grad,
)


def _conv2d_weight_grad_impl(xp, x, gy, w_shape, stride, padding, dilation, groups):
    n, o, oh, ow = gy.shape
    k = w_shape[2:]
    win = _windows(xp, _pad2d(xp, x, padding), k, stride, dilation, (oh, ow))
    cols = win.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, groups, -1).transpose(1, 0, 2)
    gmat = gy.transpose(0, 2, 3, 1).reshape(n * oh * ow, groups, o // groups).transpose(1, 2, 0)
    gw = xp.matmul(gmat, cols)  # (G, Og, Cg*kh*kw)
    return gw.reshape(w_shape)


def _conv2d_weight_grad_grad(n, gg):
    x, gy = n.inputs
    attrs = _conv_attrs(n)
    d_x = apply(CONV2D_INPUT_GRAD, gy, gg, x_shape=tuple(x._data.shape), **attrs) if x._rg else None
    d_gy = apply(CONV2D, x, gg, **attrs) if gy._rg else None
    return d_x, d_gy


CONV2D_WEIGHT_GRAD = declare(
    "conv2d_weight_grad",
    impl=_conv2d_weight_grad_impl,
    meta=lambda x, gy, w_shape, **a: M.Meta(tuple(w_shape), x.dtype),
    grad=_conv2d_weight_grad_grad,
)


def _pair(v) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]), int(v[0]))
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    from .linalg import _check_same_dtype

    stride, dilation = _pair(stride), _pair(dilation)
    if input.ndim not in (3, 4):
        raise RuntimeError(
            f"Expected 3D (unbatched) or 4D (batched) input to conv2d, but got "
            f"input of size: {list(input.shape)}"
        )
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(
            0
        )
    _check_same_dtype(input, weight, "conv2d")
    if isinstance(padding, str):
        padding = _same_padding(padding, weight, dilation, stride)
    padding = _pair(padding)
    c, o = input._data.shape[1], weight._data.shape[0]
    if weight.ndim != 4 or c != weight._data.shape[1] * groups or o % groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
            f"{list(input.shape)} to have {weight._data.shape[1] * groups} channels, but got {c} "
            "channels instead"
        )
    oh, ow = _conv_out_hw(input._data.shape, weight._data.shape, stride, padding, dilation)
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"Calculated padded input size per channel: ({input.shape[2] + 2 * padding[0]} x "
            f"{input.shape[3] + 2 * padding[1]}). Kernel size: ({weight.shape[2]} x "
            f"{weight.shape[3]}). Kernel size can't be greater than actual input size"
        )
    out = apply(
        CONV2D, input, weight, stride=stride, padding=padding, dilation=dilation, groups=int(groups)
    )
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def _same_padding(mode, weight, dilation, stride):
    if mode == "valid":
        return (0, 0)
    if mode != "same":
        raise ValueError(f"Invalid padding string '{mode}', should be one of 'valid', 'same'")
    if stride != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    pads = []
    for i in range(2):
        total = dilation[i] * (weight.shape[2 + i] - 1)
        if total % 2:
            raise NotImplementedError("padding='same' with an even kernel is not implemented yet")
        pads.append(total // 2)
    return tuple(pads)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution as a 2-D one over a height of 1."""
    if input.ndim == 2:
        return conv1d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(
            0
        )
    if isinstance(padding, str):
        pad2 = padding
    else:
        pad2 = (0, padding[0] if isinstance(padding, (tuple, list)) else padding)
    one = lambda v: (1, v[0] if isinstance(v, (tuple, list)) else v)  # noqa: E731
    out = conv2d(
        input.unsqueeze(2), weight.unsqueeze(2), None, one(stride), pad2, one(dilation), groups
    )
    out = out.squeeze(2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out


# ----- transposed convolution -----


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
) -> Tensor:
    """The gradient of conv2d with respect to its input, used as a layer: the
    weight is (in_channels, out_channels / groups, kh, kw)."""
    if input.ndim == 3:
        return conv_transpose2d(
            input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation
        ).squeeze(0)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    output_padding = _pair(output_padding)
    n, c, h, w = input._data.shape
    if weight._data.shape[0] != c:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
            f"{list(input.shape)} to have {weight._data.shape[0]} channels, but got {c} channels "
            "instead"
        )
    out_channels = weight._data.shape[1] * groups
    size = [
        (dim - 1) * stride[i]
        - 2 * padding[i]
        + dilation[i] * (weight._data.shape[2 + i] - 1)
        + output_padding[i]
        + 1
        for i, dim in enumerate((h, w))
    ]
    out = apply(
        CONV2D_INPUT_GRAD,
        input,
        weight,
        x_shape=(n, out_channels, size[0], size[1]),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=int(groups),
    )
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
