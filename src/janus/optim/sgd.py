"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from .optimizer import Optimizer, check_range, required


class SGD(Optimizer):
    """PyTorch's SGD: with momentum `b = mu * b + (1 - dampening) * g` (b = g at
    the first step), `g = g + mu * b` for Nesterov, else `g = b`; then `p -= lr * g`.

    >>> import janus
    >>> w = janus.nn.Parameter(janus.ones(2))
    >>> opt = janus.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); _ = opt.step()
    >>> w.tolist()
    [0.800000011920929, 0.800000011920929]
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        if lr is not required:
            check_range("learning rate", lr)
        check_range("momentum value", momentum)
        check_range("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _update(self, group: dict) -> None:
        lr, momentum = group["lr"], group["momentum"]
        dampening, decay = group["dampening"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = -p.grad if group["maximize"] else p.grad
            if decay:
                g = g + p * decay
            if momentum:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.clone()
                else:
                    buf.mul_(momentum).add_(g, alpha=1 - dampening)
                g = g + buf * momentum if group["nesterov"] else buf
            p.sub_(g * lr)  # (not alpha=-lr: lr may be a tensor)
