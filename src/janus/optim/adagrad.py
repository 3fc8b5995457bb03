"""Adagrad."""

from __future__ import annotations

from .optimizer import Optimizer, check_range


class Adagrad(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0.0,
        weight_decay=0.0,
        initial_accumulator_value=0.0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        check_range("learning rate", lr)
        check_range("lr_decay value", lr_decay)
        check_range("weight_decay value", weight_decay)
        check_range("initial_accumulator_value value", initial_accumulator_value)
        check_range("epsilon value", eps)
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
        )
        from ..creation import full_like, tensor

        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = tensor(0.0, device=p.device)  # beside p: no host-device mix
                state["sum"] = full_like(p, group["initial_accumulator_value"])

    def _update(self, group: dict) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            g = -p.grad if group["maximize"] else p.grad
            state = self.state[p]
            state["step"].add_(1)
            if group["weight_decay"]:
                g = g + p * group["weight_decay"]
            state["sum"].addcmul_(g, g, value=1)
            std = state["sum"].sqrt() + group["eps"]
            if not group["lr_decay"]:
                p.sub_(g / std * group["lr"])
                continue
            # The decayed rate is float64 tensor math on the step count (as
            # exact as PyTorch's Python float), not `.item()`: no read of
            # tensor data into Python, so a compiled step stays one graph.
            clr = group["lr"] / (1 + (state["step"].double() - 1) * group["lr_decay"])
            p.add_(g / std * -clr)
