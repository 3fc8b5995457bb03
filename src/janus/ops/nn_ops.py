"""Neural-network primitives: softmax/log_softmax, 2-D convolution and its two
gradient ops, max/avg pooling, constant padding.

Convolution lowers to GEMM (im2col: patches gathered by a strided view, then
one matrix product per group). Its gradient ops are primitives too, declared
with their own gradients, so double backward works:
  conv2d(x, w)              -> dx = conv2d_input_grad(g, w), dw = conv2d_weight_grad(x, g)
  conv2d_input_grad(gy, w)  -> d gy = conv2d(gg, w),          d w = conv2d_weight_grad(gg, gy)
  conv2d_weight_grad(x, gy) -> d x = conv2d_input_grad(gy, gg), d gy = conv2d(x, gg)
"""

from __future__ import annotations

import numpy as np

from .. import _C, dtypes
from ..tensor import Tensor
from . import meta as M
from . import reduction as R
from .elementwise import _to_float, cast, exp
from .registry import apply, declare

# ----- softmax -----


def _native_last_dim(x, dim) -> bool:
    """Whether janus._C's row kernel applies (last dim of a contiguous float array)."""
    return dim == x.ndim - 1 and x.dtype.kind == "f" and x.itemsize >= 4 and x.flags.c_contiguous


def _softmax_impl(xp, x, dim):
    if _native_last_dim(x, dim):
        return _C.softmax_last_dim(x, False)
    # ufunc reductions and in-place updates: numpy's per-call overhead dominates
    # on small tensors, so each step avoids a temporary and a dispatch layer.
    e = x - xp.maximum.reduce(x, axis=dim, keepdims=True)
    xp.exp(e, out=e)
    e /= xp.add.reduce(e, axis=dim, keepdims=True)
    return e


def _softmax_grad(n, g):
    y = n.output
    return y * (g - R.sum(g * y, n.attrs["dim"], keepdim=True))


def _softmax_cuda(cp, x, dim):
    e = cp.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


SOFTMAX = declare(
    "softmax",
    impl=_softmax_impl,
    meta=M.same,
    grad=_softmax_grad,
    save_inputs=False,
    save_output=True,
    cuda=_softmax_cuda,
)


def _log_softmax_impl(xp, x, dim):
    if _native_last_dim(x, dim):
        return _C.softmax_last_dim(x, True)
    shifted = x - xp.maximum.reduce(x, axis=dim, keepdims=True)
    shifted -= xp.log(xp.add.reduce(xp.exp(shifted), axis=dim, keepdims=True))
    return shifted


def _log_softmax_grad(n, g):
    return g - exp(n.output) * R.sum(g, n.attrs["dim"], keepdim=True)


def _log_softmax_cuda(cp, x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - cp.log(cp.exp(shifted).sum(axis=dim, keepdims=True))


LOG_SOFTMAX = declare(
    "log_softmax",
    impl=_log_softmax_impl,
    meta=M.same,
    grad=_log_softmax_grad,
    save_inputs=False,
    save_output=True,
    cuda=_log_softmax_cuda,
)


def _softmax_input(input, dim, dtype):
    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype))
    if input._data.dtype.kind != "f":
        input = _to_float(input)
    ndim = input._data.ndim
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit dim
    if not ndim:
        return input, 0
    return input, (dim + ndim if -ndim <= dim < 0 else M.normalize_dim(dim, ndim))


def softmax(input, dim=None, dtype=None) -> Tensor:
    input, d = _softmax_input(input, dim, dtype)
    if input.ndim == 0:
        from .creation_ops import ones_like

        return ones_like(input)
    return apply(SOFTMAX, input, dim=d)


def log_softmax(input, dim=None, dtype=None) -> Tensor:
    input, d = _softmax_input(input, dim, dtype)
    if input.ndim == 0:
        from .creation_ops import zeros_like

        return zeros_like(input)
    return apply(LOG_SOFTMAX, input, dim=d)


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


def _max_pool2d_impl(xp, x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    out_hw, extra = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = _pad2d(xp, x, padding, lowest, extra)
    win = _windows(xp, padded, kernel, stride, dilation, out_hw)
    flat = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c, out_hw[0], out_hw[1], -1)
    arg = xp.argmax(flat, axis=-1)
    values = xp.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    # Flat index into the unpadded H*W plane, as PyTorch returns it.
    ki, kj = arg // kernel[1], arg % kernel[1]
    rows = xp.arange(out_hw[0]).reshape(-1, 1) * stride[0] + ki * dilation[0] - padding[0]
    cols = xp.arange(out_hw[1]).reshape(1, -1) * stride[1] + kj * dilation[1] - padding[1]
    return xp.ascontiguousarray(values), (rows * w + cols).astype(np.int64)


def _max_pool2d_meta(x, kernel, stride, padding, dilation, ceil_mode):
    out_hw, _ = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    shape = x.shape[:2] + out_hw
    from .. import dtypes

    return M.Meta(shape, x.dtype), M.Meta(shape, dtypes.int64)


def _max_pool2d_grad(n, grads):
    from .creation_ops import zeros_from_meta
    from .indexing import scatter_add

    g, _ = grads
    (x,) = n.inputs
    indices = n.outputs[1].detach()
    nb, c, h, w = x._data.shape
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


# ----- padding -----


def _constant_pad_impl(xp, x, pads, value):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pads) // 2):
        widths[x.ndim - 1 - i] = (max(pads[2 * i], 0), max(pads[2 * i + 1], 0))
    out = xp.pad(x, widths, constant_values=value) if any(w != (0, 0) for w in widths) else x.copy()
    # Negative padding crops.
    key = [slice(None)] * x.ndim
    for i in range(len(pads) // 2):
        lo, hi = pads[2 * i], pads[2 * i + 1]
        d = x.ndim - 1 - i
        key[d] = slice(-lo if lo < 0 else 0, out.shape[d] + hi if hi < 0 else out.shape[d])
    return out[tuple(key)]


def _constant_pad_meta(x, pads, value):
    shape = list(x.shape)
    for i in range(len(pads) // 2):
        shape[len(shape) - 1 - i] += pads[2 * i] + pads[2 * i + 1]
    return M.Meta(tuple(shape), x.dtype)


CONSTANT_PAD = declare(
    "constant_pad",
    impl=_constant_pad_impl,
    meta=_constant_pad_meta,
    grad=lambda n, g: apply(CONSTANT_PAD, g, pads=tuple(-p for p in n.attrs["pads"]), value=0.0),
    save_inputs=False,
)


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """PyTorch's `F.pad`: `pad` lists (left, right) pairs from the last dim backwards."""
    pads = tuple(int(p) for p in pad)
    if len(pads) % 2 or len(pads) // 2 > input.ndim:
        raise RuntimeError(
            f"Padding length must be divisible by 2 and at most twice the number "
            f"of dimensions of the input, got {len(pads)} for {input.ndim}D input"
        )
    if mode == "constant":
        return apply(CONSTANT_PAD, input, pads=pads, value=0.0 if value is None else value)
    if mode in ("reflect", "replicate", "circular"):
        return _index_pad(input, pads, mode)
    raise NotImplementedError(f"pad(mode={mode!r}) is not implemented")


def _index_pad(input, pads, mode):
    """Reflect/replicate/circular padding as a gather along each padded dim."""
    from ..creation import tensor as make_tensor
    from .indexing import index_select

    out = input
    for i in range(len(pads) // 2):
        lo, hi = pads[2 * i], pads[2 * i + 1]
        d = input.ndim - 1 - i
        size = input._data.shape[d]
        pos = np.arange(-lo, size + hi)
        if mode == "reflect":
            if lo >= size or hi >= size:
                raise RuntimeError(
                    "Padding size should be less than the corresponding input dimension"
                )
            period = 2 * (size - 1)
            pos = np.abs(pos) % period if period else np.zeros_like(pos)
            pos = np.where(pos >= size, period - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, size - 1)
        else:
            pos = pos % size
        out = index_select(out, d, make_tensor(pos.astype(np.int64), device=input.device))
    return out


# ----- negative log-likelihood (the second half of cross_entropy) -----


def _nll_parts(xp, target, weight, ignore_index, dtype):
    """(valid mask, targets with ignored ones at 0, per-row weights)."""
    valid = target != ignore_index
    safe = xp.where(valid, target, 0)
    w = valid.astype(dtype)
    if weight is not None:
        w *= weight[safe]
    return valid, safe, w


def _nll_loss_impl(xp, logp, target, weight, ignore_index, reduction):
    classes = logp.shape[1]
    valid, safe, w = _nll_parts(xp, target, weight, ignore_index, logp.dtype)
    if safe.size and (int(safe.min()) < 0 or int(safe.max()) >= classes):
        bad = int(safe.max()) if int(safe.max()) >= classes else int(safe.min())
        raise IndexError(f"Target {bad} is out of bounds.")
    loss = -logp[xp.arange(safe.shape[0]), safe] * w
    if reduction == "none":
        return loss
    total = loss.sum()
    return total / w.sum() if reduction == "mean" else total


def _nll_loss_meta(logp, target, weight, ignore_index, reduction):
    return M.Meta(target.shape if reduction == "none" else (), logp.dtype)


def _nll_loss_grad(n, g):
    logp, target, weight = n.inputs
    return (
        apply(NLL_LOSS_BACKWARD, g, target, weight, classes=logp._data.shape[1], **n.attrs),
        None,
        None,
    )


def _nll_loss_backward_impl(xp, g, target, weight, classes, ignore_index, reduction):
    _, safe, w = _nll_parts(xp, target, weight, ignore_index, g.dtype)
    coef = -w * g if reduction == "none" else -w * (g / w.sum() if reduction == "mean" else g)
    out = xp.zeros((target.shape[0], classes), dtype=g.dtype)
    xp.put_along_axis(out, safe[:, None], coef[:, None], axis=1)
    return out


# d(loss)/d(logp): -w_i (scaled by the reduction) at each row's target. It is
# linear in g, and its own gradient is nll_loss applied to the incoming gradient.
NLL_LOSS_BACKWARD = declare(
    "nll_loss_backward",
    impl=_nll_loss_backward_impl,
    meta=lambda g, target, weight, classes, **a: M.Meta((target.shape[0], classes), g.dtype),
    grad=lambda n, gg: (
        apply(
            NLL_LOSS,
            gg,
            n.inputs[1],
            n.inputs[2],
            ignore_index=n.attrs["ignore_index"],
            reduction=n.attrs["reduction"],
        ),
        None,
        None,
    ),
    saves=lambda g, target, weight: (False, True, True),
)


NLL_LOSS = declare(
    "nll_loss",
    impl=_nll_loss_impl,
    meta=_nll_loss_meta,
    grad=_nll_loss_grad,
    saves=lambda logp, target, weight: (False, True, True),
)


# ----- transposed convolution, upsampling, pixel shuffle -----


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


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
) -> Tensor:
    """Resizes the spatial dims (the last 1 or 2) by nearest or (bi)linear
    interpolation, built from index_select so gradients follow."""
    spatial = input.ndim - 2
    if spatial not in (1, 2):
        raise NotImplementedError("interpolate supports 3-D and 4-D inputs")
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate(mode={mode!r}) is not implemented yet")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    in_sizes = input._data.shape[2:]
    if size is not None:
        out_sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        scales = [None] * spatial
    else:
        factors = (
            tuple(scale_factor)
            if isinstance(scale_factor, (tuple, list))
            else ((scale_factor,) * spatial)
        )
        out_sizes = tuple(int(s * f) for s, f in zip(in_sizes, factors))
        scales = [None if recompute_scale_factor else f for f in factors]
    out = input
    for axis, (n_in, n_out, scale) in enumerate(zip(in_sizes, out_sizes, scales)):
        out = _resize_axis(out, 2 + axis, n_in, n_out, scale, mode, align_corners)
    return out


def _resize_axis(x, dim, n_in, n_out, scale, mode, align_corners):
    from ..creation import tensor as make_tensor
    from .indexing import index_select

    positions = np.arange(n_out, dtype=np.float64)
    ratio = (1.0 / scale) if scale else n_in / n_out
    device = x.device
    if mode == "nearest":
        src = np.minimum(np.floor(positions * ratio).astype(np.int64), n_in - 1)
        return index_select(x, dim, make_tensor(src, device=device))
    if align_corners:
        src = positions * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        src = np.maximum((positions + 0.5) * ratio - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (src - lo).astype(x._data.dtype)
    shape = [1] * x.ndim
    shape[dim] = n_out
    weight = make_tensor(frac.reshape(shape), device=device)
    low = index_select(x, dim, make_tensor(lo, device=device))
    high = index_select(x, dim, make_tensor(hi, device=device))
    return low + (high - low) * weight


def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(N, C*r*r, H, W) -> (N, C, H*r, W*r)."""
    r = int(upscale_factor)
    *batch, c, h, w = input._data.shape
    if c % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be "
            f"divisible by the square of upscale_factor, but input.size(-3)={c} "
            f"is not divisible by {r * r}"
        )
    lead = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    order = tuple(range(lead)) + tuple(lead + i for i in (0, 3, 1, 4, 2))
    return x.permute(order).reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(N, C, H*r, W*r) -> (N, C*r*r, H, W)."""
    r = int(downscale_factor)
    *batch, c, h, w = input._data.shape
    lead = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    order = tuple(range(lead)) + tuple(lead + i for i in (0, 2, 4, 1, 3))
    return x.permute(order).reshape(*batch, c * r * r, h // r, w // r)
