"""L-BFGS: a quasi-Newton method over all parameters as one vector; `step` needs a closure."""

from __future__ import annotations

from ..autograd.grad_mode import enable_grad, no_grad
from .optimizer import Optimizer


class LBFGS(Optimizer):
    """PyTorch's L-BFGS (one parameter group; fixed step length, no line search).

    >>> import janus
    >>> w = janus.nn.Parameter(janus.tensor([3.0, -2.0]))
    >>> opt = janus.optim.LBFGS([w], lr=1)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> [round(v, 4) for v in w.tolist()]
    [1.0, 1.0]
    """

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
    ):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn is not None:
            raise NotImplementedError("LBFGS(line_search_fn=...) is not implemented yet")
        super().__init__(
            params,
            dict(
                lr=lr,
                max_iter=max_iter,
                max_eval=max_eval,
                tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change,
                history_size=history_size,
                line_search_fn=None,
            ),
        )
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _flat_grad(self):
        from ..creation import zeros
        from ..ops.shape import cat

        parts = [
            p.grad.reshape(-1)
            if p.grad is not None
            else zeros(p.numel(), dtype=p.dtype, device=p.device)
            for p in self._params
        ]
        return cat(parts, 0)

    def _add_step(self, step_size: float, direction) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(direction[offset : offset + n].view_as(p), alpha=step_size)
            offset += n

    def step(self, closure):
        if closure is None:
            raise RuntimeError("LBFGS requires a closure that reevaluates the model")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history = group["history_size"]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        with no_grad():
            flat_grad = self._flat_grad()
            if float(flat_grad.abs().max()) <= tol_grad:
                return orig_loss
            d, t = state.get("d"), state.get("t")
            old_dirs, old_steps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
            h_diag, prev_grad = state.get("H_diag"), state.get("prev_flat_grad")
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d = -flat_grad
                    old_dirs, old_steps, ro, h_diag = [], [], [], 1.0
                else:
                    y = flat_grad - prev_grad
                    s = d * t
                    ys = float(y.dot(s))
                    if ys > 1e-10:  # keep the curvature pair only if it is positive
                        if len(old_dirs) == history:
                            old_dirs.pop(0)
                            old_steps.pop(0)
                            ro.pop(0)
                        old_dirs.append(y)
                        old_steps.append(s)
                        ro.append(1.0 / ys)
                        h_diag = ys / float(y.dot(y))
                    # The two-loop recursion: d = -H g.
                    alphas = [0.0] * len(old_dirs)
                    q = -flat_grad
                    for i in range(len(old_dirs) - 1, -1, -1):
                        alphas[i] = float(old_steps[i].dot(q)) * ro[i]
                        q = q - old_dirs[i] * alphas[i]
                    r = q * h_diag
                    for i in range(len(old_dirs)):
                        beta = float(old_dirs[i].dot(r)) * ro[i]
                        r = r + old_steps[i] * (alphas[i] - beta)
                    d = r
                prev_grad = flat_grad.clone()
                prev_loss = loss
                if state["n_iter"] == 1:
                    t = min(1.0, 1.0 / float(flat_grad.abs().sum())) * lr
                else:
                    t = lr
                if float(flat_grad.dot(d)) > -tol_change:  # not a descent direction
                    break
                self._add_step(t, d)
                evaluated = 0
                if n_iter != max_iter:
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    evaluated = 1
                evals += evaluated
                state["func_evals"] += evaluated
                if n_iter == max_iter or evals >= max_eval:
                    break
                if float(flat_grad.abs().max()) <= tol_grad:
                    break
                if float((d * t).abs().max()) <= tol_change or abs(loss - prev_loss) < tol_change:
                    break
            state.update(
                d=d,
                t=t,
                old_dirs=old_dirs,
                old_stps=old_steps,
                ro=ro,
                H_diag=h_diag,
                prev_flat_grad=prev_grad,
                prev_loss=prev_loss,
            )
        return orig_loss
