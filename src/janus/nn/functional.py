"""`janus.nn.functional`: PyTorch's functional NN API.

Primitives with fused kernels (softmax, convolution, pooling, padding,
embedding, activations) come from the op table; the rest (losses,
normalization, dropout) are compositions of ops and so get their gradients,
and later their graph form, for free.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..ops import activation as A
from ..ops import convolution as C
from ..ops import elementwise as E
from ..ops import indexing as I
from ..ops import pooling as P
from ..ops import reduction as R
from ..ops import resize as Z
from ..ops import shape as S
from ..ops import softmax as N
from ..ops.linalg import linear, matmul  # noqa: F401 - linear is re-exported
from ..ops.registry import apply, check
from ..tensor import Tensor

# Primitives, re-exported under their PyTorch names.
conv2d = C.conv2d
conv1d = C.conv1d
conv_transpose2d = C.conv_transpose2d
interpolate = Z.interpolate
pixel_shuffle = Z.pixel_shuffle
pixel_unshuffle = Z.pixel_unshuffle
max_pool2d = P.max_pool2d
avg_pool2d = P.avg_pool2d
adaptive_avg_pool2d = P.adaptive_avg_pool2d
pad = Z.pad
embedding = I.embedding
one_hot = I.one_hot
leaky_relu = A.leaky_relu
elu = A.elu
softplus = A.softplus
gelu = A.gelu
silu = A.silu
hardtanh = A.hardtanh
relu6 = A.relu6
tanh = E.tanh
sigmoid = E.sigmoid


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else E.relu(input)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return Z.interpolate(input, size, scale_factor, mode, align_corners)


def softmax(input, dim=None, _stacklevel=3, dtype=None) -> Tensor:
    return N.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None) -> Tensor:
    return N.log_softmax(input, dim, dtype)


def softmin(input, dim=None, dtype=None) -> Tensor:
    return N.softmax(-input, dim, dtype)


def logsigmoid(input) -> Tensor:
    return -A.softplus(-input)


def bilinear(input1, input2, weight, bias=None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k."""
    # (..., 1, 1, in1) @ (out, in1, in2) -> (..., out, 1, in2); then dot with x2.
    left = matmul(S.unsqueeze(S.unsqueeze(input1, -2), -3), weight)
    result = R.sum(S.squeeze(left, -2) * S.unsqueeze(input2, -2), -1)
    return result + bias if bias is not None else result


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes each element with probability `p` and scales the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    from ..creation import rand

    keep = rand(tuple(input.shape), dtype=input.dtype, device=input.device) >= p
    out = input * (E.cast(keep, input.dtype) * (1.0 / (1.0 - p)))
    if inplace:
        with no_grad():
            input.copy_(out)
        return input
    return out


def _standardize(x: Tensor, dims) -> tuple:
    """(x - mean) and the biased variance over `dims` (both keep the reduced dims)."""
    centered = x - R.mean(x, dims, keepdim=True)
    return centered, R.mean(centered * centered, dims, keepdim=True)


def _channel_affine(out: Tensor, weight, bias) -> Tensor:
    """Per-channel (dim 1) scale and shift."""
    shape = (1, out._data.shape[1]) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * S.reshape(weight, shape)
    if bias is not None:
        out = out + S.reshape(bias, shape)
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    if tuple(input._data.shape[-len(normalized_shape) :]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
            f"[*, {', '.join(map(str, normalized_shape))}], but got input of size"
            f"{list(input.shape)}"
        )
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    centered, var = _standardize(input, dims)
    out = centered * E.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    n, c = input._data.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, "
            f"but got input of shape {list(input.shape)} and num_groups={num_groups}"
        )
    grouped = S.reshape(input, (n, num_groups, -1))
    centered, var = _standardize(grouped, (-1,))
    out = S.reshape(centered * E.rsqrt(var + eps), input._data.shape)
    return _channel_affine(out, weight, bias)


def batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
) -> Tensor:
    """Normalizes over every dim but the channels (dim 1). In training mode the
    batch statistics are used and the running ones updated in place (the
    unbiased variance, as PyTorch stores it); otherwise the running ones are used.
    `momentum` may be a 0-d tensor (BatchNorm's cumulative average passes one)."""
    if input.ndim < 2:
        raise ValueError(f"expected 2D or more input (got {input.ndim}D input)")
    c = input._data.shape[1]
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        count = input._data.size // c
        if count <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"{list(input.shape)}"
            )
        mean = R.mean(input, dims)
        centered = input - S.reshape(mean, shape)
        var = R.mean(centered * centered, dims)
        if running_mean is not None:
            with no_grad():
                m = momentum if momentum is not None else 1.0
                running_mean.mul_(1 - m).add_(mean.detach() * m)
                running_var.mul_(1 - m).add_(var.detach() * (m * count / (count - 1)))
        out = centered * S.reshape(E.rsqrt(var + eps), shape)
    else:
        if running_mean is None:
            raise RuntimeError("running_mean must be given outside training mode")
        out = (input - S.reshape(running_mean, shape)) * S.reshape(
            E.rsqrt(running_var + eps), shape
        )
    return _channel_affine(out, weight, bias)


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
) -> Tensor:
    """Normalizes each sample's channels over their other dims. With
    `use_input_stats`, the running stats, when given, are updated in place
    with the batch's average of the per-sample statistics (the unbiased
    variance, as PyTorch stores it); otherwise the running stats are used."""
    dims = tuple(range(2, input.ndim))
    c = input._data.shape[1]
    shape = (1, c) + (1,) * (input.ndim - 2)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                "Expected running_mean and running_var to be defined when use_input_stats is false"
            )
        out = (input - S.reshape(running_mean, shape)) * S.reshape(
            E.rsqrt(running_var + eps), shape
        )
        return _channel_affine(out, weight, bias)
    centered, var = _standardize(input, dims)
    if running_mean is not None:
        count = input._data.size // (input._data.shape[0] * c)
        with no_grad():
            mean = R.mean(input.detach(), (0,) + dims)
            var_mean = R.mean(var.detach(), (0,) + dims)
            running_mean.mul_(1 - momentum).add_(mean * momentum)
            unbiased = count / (count - 1) if count > 1 else float("nan")
            running_var.mul_(1 - momentum).add_(var_mean * (momentum * unbiased))
    return _channel_affine(centered * E.rsqrt(var + eps), weight, bias)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    norm = R.norm(input, p, dim, keepdim=True)
    return input / A.clamp(norm, min=eps)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    dot = R.sum(x1 * x2, dim)
    n1 = A.clamp(R.norm(x1, 2, dim), min=eps)
    n2 = A.clamp(R.norm(x2, 2, dim), min=eps)
    return dot / (n1 * n2)


# ----- losses -----


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return R.mean(loss)
    if reduction == "sum":
        return R.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_same_size(input, target, name):
    if tuple(input._data.shape) != tuple(target._data.shape):
        raise ValueError(
            f"Using a target size ({list(target.shape)}) that is different to the input size "
            f"({list(input.shape)}) is deprecated. Please ensure they have the same size."
            if name != "bce"
            else f"Target size ({list(target.shape)}) must be the same as input size "
            f"({list(input.shape)})"
        )


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    return _reduce(E.abs(input - target), reduction)


def smooth_l1_loss(
    input, target, size_average=None, reduce=None, reduction="mean", beta: float = 1.0
) -> Tensor:
    diff = E.abs(input - target)
    if beta == 0:
        return _reduce(diff, reduction)
    loss = E.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    diff = E.abs(input - target)
    loss = E.where(diff < delta, 0.5 * diff * diff, delta * (diff - 0.5 * delta))
    return _reduce(loss, reduction)


def binary_cross_entropy(
    input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    _check_same_size(input, target, "bce")
    with no_grad():  # (NaN fails, as in PyTorch)
        in_range = E.logical_and(E.ge(input, 0.0), E.le(input, 1.0))
    check(in_range, "all elements of input should be between 0 and 1")
    # PyTorch clamps the logs at -100 so that 0 and 1 inputs give finite losses.
    log_p = A.clamp(E.log(input), min=-100.0)
    log_q = A.clamp(E.log(1 - input), min=-100.0)
    loss = -(target * log_p + (1 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input,
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight=None,
) -> Tensor:
    _check_same_size(input, target, "bce")
    # log(1 + exp(-x)) computed stably as softplus(-x).
    log_sig_neg = A.softplus(-input)  # -log(sigmoid(x))
    if pos_weight is not None:
        log_weight = 1 + (pos_weight - 1) * target
        loss = (1 - target) * input + log_weight * log_sig_neg
    else:
        loss = (1 - target) * input + log_sig_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(
    input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False
) -> Tensor:
    if log_target:
        loss = E.exp(target) * (target - input)
    else:
        loss = E.where(target > 0, target * (E.log(E.where(target > 0, target, 1.0)) - input), 0.0)
    if reduction == "batchmean":
        return R.sum(loss) / input._data.shape[0] if input.ndim else R.sum(loss)
    return _reduce(loss, reduction)


def _class_dim_last(input: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N * d1 * ..., C); (N, C) and (C,) unchanged."""
    if input.ndim <= 2:
        return input
    return S.reshape(S.movedim(input, 1, -1), (-1, input._data.shape[1]))


def nll_loss(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices, with weights and an ignored index."""
    if input.ndim < 1 or input.ndim > 1 and target.ndim != input.ndim - 1:
        raise ValueError(
            f"Expected target of {input.ndim - 1} dimensions for input of shape "
            f"{list(input.shape)}, got {list(target.shape)}"
        )
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.legacy_name}")
    if input.ndim > 1 and input._data.shape[0] != target._data.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target "
            f"batch_size ({target.shape[0]})."
        )
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    logp = _class_dim_last(input) if input.ndim > 1 else S.unsqueeze(input, 0)
    flat_target = S.reshape(target, -1) if input.ndim > 1 else S.reshape(target, 1)
    if flat_target._data.dtype != np.int64:
        flat_target = E.cast(flat_target, dtypes.int64)
    if weight is not None and weight._data.dtype != input._data.dtype:
        weight = E.cast(weight, input.dtype)
    loss = apply(
        N.NLL_LOSS, logp, flat_target, weight, ignore_index=int(ignore_index), reduction=reduction
    )
    if reduction == "none":
        return S.reshape(loss, target._data.shape)
    return loss


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """log_softmax over dim 1 (dim 0 for unbatched input) and nll_loss; targets are
    class indices or, with the input's shape, class probabilities."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    logp = N.log_softmax(input, class_dim)
    classes = input._data.shape[class_dim]
    if target._data.dtype.kind == "f":  # probabilities
        if tuple(target._data.shape) != tuple(input._data.shape):
            raise RuntimeError("Expected floating point target to have the same shape as input")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        per = logp * target
        if weight is not None:
            per = per * S.reshape(weight, (classes,) + (1,) * (input.ndim - class_dim - 1))
        loss = -R.sum(per, class_dim)
        if reduction == "mean":
            return R.sum(loss) / (input._data.shape[0] if input.ndim > 1 else 1)
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    # The smoothing term: -sum_c w_c log p_c / C per element, zero where ignored.
    flat = _class_dim_last(logp) if input.ndim > 1 else S.unsqueeze(logp, 0)
    per_class = flat * weight if weight is not None else flat
    smooth = -R.sum(per_class, -1)
    flat_target = S.reshape(target, -1)
    valid = E.cast(flat_target != ignore_index, input.dtype)
    smooth = smooth * valid
    if reduction == "none":
        smooth = S.reshape(smooth, target._data.shape)
    elif reduction == "sum":
        smooth = R.sum(smooth)
    else:
        safe = E.where(flat_target != ignore_index, flat_target, 0)
        denom = (
            R.sum(I.index_select(weight, 0, safe) * valid) if weight is not None else R.sum(valid)
        )
        smooth = R.sum(smooth) / denom
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def __getattr__(name: str):
    from ..unsupported import missing

    raise missing("janus.nn.functional", name)
