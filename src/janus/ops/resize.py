"""Padding (constant, reflect, replicate, circular), interpolation and pixel shuffle."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import meta as M
from .registry import apply, declare

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


# ----- upsampling and pixel shuffle -----


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
