"""CUDA lowering of einsum (janus.ops.linalg: explicit or implicit output, no
'...', no letter twice in one operand) as packs and batched GEMMs, the plan
the CPU runtime follows (csrc/runtime/cpu/lower_einsum.cpp), so both sum in
the same order.

Operands are contracted left to right. Each contraction packs its two
operands into contiguous (batch, M, K) and (batch, K, N) buffers, summing
the letters no later operand or the output needs, and repeating size-1 dims
that broadcast; cuBLAS then multiplies them batch by batch. Letters of a
product: batch (in both, needed later), M (left only), N (right only), K (in
both, not needed later). A last pack puts the letters in the output's
order (unless the last product is in that order already); a single operand
is just that pack. A pack of an operand already laid out as asked is
skipped.
"""

from __future__ import annotations

import itertools
import math

from .cuda_elementwise import NoKernel, is_float
from .cuda_steps import Gemm, Launch, blocks_for, contiguous_strides, index_code


class _Labeled:
    """A buffer as einsum sees it: a letter per dim, a stride per letter."""

    def __init__(self, name: str, letters: str, strides: dict):
        self.name, self.letters, self.strides = name, letters, strides


def _contiguous(name: str, letters: str, sizes: dict) -> _Labeled:
    strides = contiguous_strides([sizes[c] for c in letters])
    return _Labeled(name, letters, dict(zip(letters, strides)))


def _is_laid_out(t: _Labeled, order: str, sizes: dict) -> bool:
    want = contiguous_strides([sizes[c] for c in order])
    return order == t.letters and all(t.strides[c] == s for c, s in zip(order, want))


def _pack(low, t: _Labeled, order: str, summed: str, sizes: dict, out: str) -> Launch:
    """out[i] = the sum over `summed` of t at the letters `order` of i."""
    shape = [sizes[c] for c in order]
    index, (offset,) = index_code(shape, [[t.strides.get(c, 0) for c in order]])
    ct = low.ctype(out)
    body = [f"JANUS_FOR(i, {math.prod(shape)}LL) {{", *("  " + line for line in index)]
    if summed:
        sum_shape = [sizes[c] for c in summed]
        sum_index, (sum_offset,) = index_code(
            sum_shape, [[t.strides.get(c, 0) for c in summed]], var="s", prefix="so"
        )
        body += [
            f"  {ct} acc = 0;",
            f"  for (i64 s = 0; s < {math.prod(sum_shape)}LL; ++s) {{",
            *("    " + line for line in sum_index),
            f"    acc += a0[{offset} + {sum_offset}];",
            "  }",
            "  r0[i] = acc;",
        ]
    else:
        body.append(f"  r0[i] = a0[{offset}];")
    body.append("}")
    params = [f"const {low.ctype(t.name)}* a0", f"{ct}* r0"]
    return Launch(low.src.add(params, body), blocks_for(math.prod(shape)), [t.name, out])


def _roles(left: str, right: str, later: str) -> tuple:
    """The letters of one contraction by role: batch (in both, needed
    `later`), M (left only), K (in both, not needed later), N (right only),
    and the letters each side sums away (in it alone, not needed later)."""
    batch = "".join(c for c in left if c in right and c in later)
    k = "".join(c for c in left if c in right and c not in later)
    m = "".join(c for c in left if c not in right and c in later)
    sum_left = "".join(c for c in left if c not in right and c not in later)
    n = "".join(c for c in right if c not in left and c in later)
    sum_right = "".join(c for c in right if c not in left and c not in later)
    return batch, m, k, n, sum_left, sum_right


def einsum(low, values: list, equation: str, out: str) -> list:
    from ..ops.linalg import _parse_einsum

    subs, output = _parse_einsum(equation, len(values))
    dtype = low.types[out][0]
    ct = low.ctype(out)
    if not is_float(ct) or any(low.types[v][0] != dtype for v in values):
        raise NoKernel(f"operands of {', '.join(low.types[v][0] for v in values)}")
    sizes: dict = {}
    for sub, v in zip(subs, values):
        shape = low.shape(v)
        if len(shape) != len(sub):
            raise NoKernel("subscripts and rank differ")
        for c, size in zip(sub, shape):
            if size not in (1, sizes.get(c, size)) and sizes[c] != 1:
                raise NoKernel("operands that do not broadcast")
            sizes[c] = max(sizes.get(c, size), size)
    if 0 in sizes.values():
        raise NoKernel("an empty dim")
    if tuple(sizes[c] for c in output) != low.shape(out):
        raise NoKernel("an output shape that differs from the graph's")
    operands = []
    for sub, v in zip(subs, values):
        shape, strides = low.shape(v), contiguous_strides(low.shape(v))
        # A size-1 dim of a longer letter repeats: stride 0.
        own = {c: 0 if size < sizes[c] else s for c, size, s in zip(sub, shape, strides)}
        operands.append(_Labeled(v, sub, own))

    steps, acc = [], operands[0]
    fresh = itertools.count()

    def scratch(letters: str) -> str:
        return low.scratch(f"{out}_e{next(fresh)}", dtype, [sizes[c] for c in letters])

    def packed(t: _Labeled, order: str, summed: str) -> str:
        if not summed and _is_laid_out(t, order, sizes):
            return t.name
        into = scratch(order)
        steps.append(_pack(low, t, order, summed, sizes, into))
        return into

    for i, right in enumerate(operands[1:], 1):
        later = output + "".join(o.letters for o in operands[i + 1 :])
        batch, m, k, n, sum_left, sum_right = _roles(acc.letters, right.letters, later)
        a = packed(acc, batch + m + k, sum_left)
        b = packed(right, batch + k + n, sum_right)
        last = i == len(operands) - 1
        # (The last product already in the output's order is the output.)
        product = out if last and batch + m + n == output else scratch(batch + m + n)
        B, M, N, K = (math.prod(sizes[c] for c in s) for s in (batch, m, n, k))
        dt = "float32" if dtype == "f32" else "float64"
        steps.append(Gemm(False, False, M, N, K, B, M * K, K * N, M * N, 0.0, dt, [a, b, product]))
        acc = _contiguous(product, batch + m + n, sizes)
    if acc.name == out:
        return steps
    summed = "".join(c for c in acc.letters if c not in output)
    steps.append(_pack(low, acc, output, summed, sizes, out))
    return steps
