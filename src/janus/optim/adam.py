"""Adam and AdamW (decoupled weight decay), with amsgrad."""

from __future__ import annotations

from .optimizer import Optimizer, check_range


class Adam(Optimizer):
    """PyTorch's Adam: m and v are exponential averages of g and g^2; the step is
    `lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`."""

    _decoupled = False

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        check_range("learning rate", lr)
        check_range("epsilon value", eps)
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameters: {betas}")
        check_range("weight_decay value", weight_decay)
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
            ),
        )

    def _update(self, group: dict) -> None:
        from ..creation import tensor, zeros_like

        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        decay = group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = -p.grad if group["maximize"] else p.grad
            state = self.state[p]
            if not state:
                state["step"] = tensor(0.0, device=p.device)  # beside p: no host-device mix
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = zeros_like(p)
            if decay:
                if self._decoupled:
                    p.mul_(1 - lr * decay)
                else:
                    g = g + p * decay
            state["step"].add_(1)
            # The bias corrections are tensor math in float64 (as exact as
            # Python floats), not `.item()`: the step stays one graph when
            # the JIT compiles it, with no read of tensor data into Python.
            step = state["step"].double()
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(g, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bias1 = 1 - beta1**step
            bias2_sqrt = (1 - beta2**step).sqrt()
            if group["amsgrad"]:
                state["max_exp_avg_sq"].maximum_(exp_avg_sq)
                second = state["max_exp_avg_sq"]
            else:
                second = exp_avg_sq
            denom = second.sqrt() / bias2_sqrt + eps
            p.add_(exp_avg / denom * (-lr / bias1))


class AdamW(Adam):
    """Adam with decoupled weight decay: `p *= 1 - lr * weight_decay` before the step."""

    _decoupled = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, **kwargs)
