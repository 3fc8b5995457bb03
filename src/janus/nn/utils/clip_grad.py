"""Gradient clipping (in place, under no_grad)."""

from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops import reduction as R
from ...ops import shape as S
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """Scales gradients so their joint `norm_type`-norm is at most `max_norm`;
    returns the norm before clipping."""
    from ...creation import tensor

    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    with no_grad():
        norm_type = float(norm_type)
        norms = S.stack([R.norm(g, norm_type) for g in grads])
        total = R.amax(norms) if norm_type == float("inf") else R.norm(norms, norm_type)
        if error_if_nonfinite:
            value = float(total.item())
            if not (value == value and abs(value) != float("inf")):
                raise RuntimeError(
                    f"The total norm of order {norm_type} for gradients from `parameters` is "
                    "non-finite, so it cannot be clipped. To disable this error and scale the "
                    "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
                )
        # As PyTorch: scale by min(coefficient, 1) as a tensor, so no value
        # goes back to Python (a compiled step keeps the clipping in its graph).
        coefficient = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coefficient)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-float(clip_value), float(clip_value))
