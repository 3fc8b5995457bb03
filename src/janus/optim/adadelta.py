"""Adadelta."""

from __future__ import annotations

from .optimizer import Optimizer, check_range


class Adadelta(Optimizer):
    """PyTorch's Adadelta: running averages of squared gradients and of squared updates."""

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0.0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        check_range("learning rate", lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_range("epsilon value", eps)
        check_range("weight_decay value", weight_decay)
        super().__init__(
            params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        )

    def _update(self, group: dict) -> None:
        from ..creation import tensor, zeros_like

        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = -p.grad if group["maximize"] else p.grad
            state = self.state[p]
            if not state:
                state["step"] = tensor(0.0, device=p.device)  # beside p: no host-device mix
                state["square_avg"] = zeros_like(p)
                state["acc_delta"] = zeros_like(p)
            state["step"].add_(1)
            if group["weight_decay"]:
                g = g + p * group["weight_decay"]
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            square_avg.mul_(rho).addcmul_(g, g, value=1 - rho)
            delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * g
            acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
            p.sub_(delta * lr)
