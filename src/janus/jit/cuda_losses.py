"""CUDA kernels for the negative log-likelihood loss and its gradient
(janus.ops.softmax's nll_loss and nll_loss_backward): 2-D log-probabilities,
int targets, optional class weights, ignore_index, and the "none", "sum"
and "mean" reductions, as eagerly. A target out of range flags the run
(INDEX_ASSERT), as eager raises IndexError.
"""

from __future__ import annotations

from .cuda_elementwise import NoKernel
from .cuda_gather import checked_index
from .cuda_steps import Launch, blocks_for


def _reads(low, logp_or_g, target, weight) -> tuple:
    """(params, args, C expression of row i's class weight) of an
    nll_loss kernel: a0 the first operand, a1 the targets, a2 the class
    weights if any, fl the assert flag (a target out of range)."""
    params = [f"const {low.ctype(logp_or_g)}* a0", f"const {low.ctype(target)}* a1"]
    args = [logp_or_g, target]
    if isinstance(weight, tuple):
        return params + ["int* fl"], args + [("flag",)], "1.0"
    params += [f"const {low.ctype(weight)}* a2", "int* fl"]
    return params, args + [weight, ("flag",)], "(double)a2[t]"


def nll_loss(low, operands, attrs, out) -> list:
    """-logp[i, t_i] * weight[t_i], 0 where t_i is ignored, summed or
    averaged over the weights of the rows not ignored; a target out of
    range flags the run (eager raises IndexError)."""
    logp, target, weight = operands
    if len(low.shape(logp)) != 2:
        raise NoKernel("nll_loss over more than 2 dims")
    rows, classes = low.shape(logp)
    ct = low.ctype(out)
    ignore = int(attrs["ignore_index"])
    reduction = attrs["reduction"]
    params, args, w = _reads(low, logp, target, weight)
    check = checked_index(low, "a1[i]", classes, "t", wrap=False)
    if reduction == "none":
        body = [
            f"JANUS_FOR(i, {rows}LL) {{",
            f"  if (a1[i] == {ignore}) {{ r0[i] = ({ct})0; continue; }}",
            *("  " + line for line in check),
            f"  r0[i] = ({ct})(-(double)a0[i * {classes} + t] * {w});",
            "}",
        ]
    else:
        # One thread: losses are summed in a fixed order, as eagerly.
        body = [
            "if (blockIdx.x == 0 && threadIdx.x == 0) {",
            "  double total = 0, count = 0;",
            f"  for (i64 i = 0; i < {rows}; ++i) {{",
            f"    if (a1[i] == {ignore}) continue;",
            *("    " + line for line in check),
            f"    total -= (double)a0[i * {classes} + t] * {w}; count += {w};",
            "  }",
            f"  r0[0] = ({ct})({'total / count' if reduction == 'mean' else 'total'});",
            "}",
        ]
    return [
        Launch(
            low.src.add(params + [f"{ct}* r0"], body),
            1 if reduction != "none" else blocks_for(rows),
            args + [out],
        )
    ]


def nll_loss_backward(low, operands, attrs, out) -> list:
    """-weight[t_i] * g (over the total weight for a mean) at each row's
    target, 0 elsewhere and on ignored rows."""
    g, target, weight = operands
    rows, classes = low.shape(out)
    ct = low.ctype(out)
    ignore = int(attrs["ignore_index"])
    reduction = attrs["reduction"]
    grad = f"(double)a0[i / {classes}]" if reduction == "none" else "(double)a0[0]"
    params, args, w = _reads(low, g, target, weight)
    steps = []
    if reduction == "mean":  # the weight of the targets not ignored, once
        total = low.scratch(f"{out}.count", "f64")
        body = [
            "if (blockIdx.x == 0 && threadIdx.x == 0) {",
            "  double n = 0;",
            f"  for (i64 j = 0; j < {rows}; ++j) {{",
            f"    i64 t = a1[j]; if (t == {ignore} || t < 0 || t >= {classes}) continue;",
            f"    n += {w};",
            "  }",
            "  r0[0] = n;",
            "}",
        ]
        steps.append(Launch(low.src.add(params + ["double* r0"], body), 1, args + [total]))
        grad = f"{grad} / a3[0]"
        params, args = params + ["const double* a3"], args + [total]
    check = checked_index(low, f"a1[i / {classes}]", classes, "t", wrap=False)
    body = [
        f"JANUS_FOR(i, {rows * classes}LL) {{",
        f"  if (a1[i / {classes}] == {ignore}) {{ r0[i] = ({ct})0; continue; }}",
        *("  " + line for line in check),
        f"  r0[i] = t == i % {classes} ? ({ct})(-{grad} * {w}) : ({ct})0;",
        "}",
    ]
    kernel = low.src.add(params + [f"{ct}* r0"], body)
    steps.append(Launch(kernel, blocks_for(rows * classes), args + [out]))
    return steps
