"""softmax and log_softmax over one dim, and nll_loss (the second half of cross_entropy)."""

from __future__ import annotations

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
