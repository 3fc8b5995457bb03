"""CUDA kernels for ops that walk lines of a tensor: argmax/argmin and
max/min along a dim (values and indices), cumsum and cumprod (one thread per
line, in order, as numpy accumulates), and the two-pass reductions var and
logsumexp (one block per result, as cuda_codegen's reductions); and
one_hot. (tril_mask depends on shapes alone: constant folding removes it.)

A line is the elements of one result along `dim`: `outer * inner` lines of
`size` elements, element j of line (o, k) at (o * size + j) * inner + k.
"""

from __future__ import annotations

import math

from .cuda_elementwise import NoKernel, is_float
from .cuda_gather import checked_index
from .cuda_steps import (
    BLOCK,
    MAX_BLOCKS,
    Launch,
    block_fold_lines,
    blocks_for,
    contiguous_strides,
    index_code,
)


def _lines(shape, dim):
    """(outer, size, inner) of `shape` around `dim` (a 0-d tensor is one line of one)."""
    if not shape:
        return 1, 1, 1
    dim %= len(shape)
    return math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1 :])


def _line_start(outer_inner: str, size: int, inner: int) -> str:
    return f"i64 base = ({outer_inner} / {inner}) * {size * inner} + {outer_inner} % {inner};"


def arg_extreme(low, x: str, outs: list, dim, largest: bool) -> list:
    """Index (and value, for max_dim) of the first maximum (minimum) along
    `dim`, NaN counting as the extreme: numpy's and PyTorch's argmax."""
    shape = low.shape(x)
    if dim is None:
        shape, dim = (math.prod(shape),), 0
    outer, size, inner = _lines(shape, dim)
    if size == 0:
        raise NoKernel("an extremum over an empty dim")
    ct = low.ctype(x)
    better = "v > best" if largest else "v < best"
    if is_float(ct):
        better = f"({better} || (v != v && best == best))"
    lines = outer * inner
    body = [
        f"JANUS_FOR(line, {lines}LL) {{",
        "  " + _line_start("line", size, inner),
        f"  {ct} best = a0[base]; i64 at = 0;",
        f"  for (i64 j = 1; j < {size}; ++j) {{",
        f"    {ct} v = a0[base + j * {inner}];",
        f"    if ({better}) {{ best = v; at = j; }}",
        "  }",
        *(["  r0[line] = best; r1[line] = at;"] if len(outs) == 2 else ["  r0[line] = at;"]),
        "}",
    ]
    params = [f"const {ct}* a0"] + [f"{low.ctype(o)}* r{k}" for k, o in enumerate(outs)]
    return [Launch(low.src.add(params, body), blocks_for(lines), [x, *outs])]


def scan(low, x: str, out: str, dim: int, product: bool) -> list:
    shape = low.shape(x)
    outer, size, inner = _lines(shape, dim)
    ct = low.ctype(out)
    if ct == "bool":
        raise NoKernel("a scan of booleans")
    op = "*" if product else "+"
    lines = outer * inner
    body = [
        f"JANUS_FOR(line, {lines}LL) {{",
        "  " + _line_start("line", size, inner),
        f"  {ct} acc = ({ct}){1 if product else 0};",
        f"  for (i64 j = 0; j < {size}; ++j) {{",
        f"    acc = ({ct})(acc {op} ({ct})a0[base + j * {inner}]);",
        f"    r0[base + j * {inner}] = acc;",
        "  }",
        "}",
    ]
    params = [f"const {low.ctype(x)}* a0", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), blocks_for(lines), [x, out])]


def two_pass(low, x: str, out: str, dims, kind: str, correction: int = 1) -> list:
    """var or logsumexp over `dims`: one block per result, a block-wide
    reduction per pass (the mean or the maximum, then the sum)."""
    shape = low.shape(x)
    nd = len(shape)
    dims = list(range(nd)) if dims is None else [d % max(1, nd) for d in dims]
    kept = [d for d in range(nd) if d not in dims]
    strides = contiguous_strides(shape)
    n_out = math.prod(shape[d] for d in kept)
    n_red = math.prod(shape[d] for d in dims)
    ct = low.ctype(out)
    if not is_float(ct):
        raise NoKernel(f"{kind} of {ct}")
    out_index, (out_off,) = index_code(
        [shape[d] for d in kept], [[strides[d] for d in kept]], var="o", prefix="ko"
    )
    red_index, (red_off,) = index_code(
        [shape[d] for d in dims], [[strides[d] for d in dims]], var="r", prefix="ro"
    )

    def block_fold(init: str, fold: str, merge: str) -> list:
        """Lines that leave the block's fold of every reduced v in `partial[0]`."""
        return [
            f"  acc = {init};",
            f"  for (i64 r = threadIdx.x; r < {n_red}LL; r += blockDim.x) {{",
            *("    " + line for line in red_index),
            f"    double v = (double)a0[{out_off} + {red_off}];",
            f"    acc = {fold};",
            "  }",
            *block_fold_lines("acc", "double", merge),
        ]

    if kind == "var":
        first = block_fold("0", "acc + v", "a + b")
        center = f"  double mean = partial[0] / {max(n_red, 1)}; JANUS_SYNC();"
        second = block_fold("0", "acc + (v - mean) * (v - mean)", "a + b")
        result = f"partial[0] / {n_red - correction}.0"
    else:
        first = block_fold("-JANUS_INF", "janus_max(acc, v)", "janus_max(a, b)")
        center = (
            "  double peak = partial[0]; JANUS_SYNC();"
            " if (!(peak > -JANUS_INF && peak < JANUS_INF)) peak = 0;"
        )
        second = block_fold("0", "acc + exp(v - peak)", "a + b")
        result = "log(partial[0]) + peak"
    body = [
        f"JANUS_SHARED double partial[{BLOCK}];",
        f"for (i64 o = blockIdx.x; o < {n_out}LL; o += gridDim.x) {{",
        *("  " + line for line in out_index),
        "  double acc;",
        *first,
        center,
        *second,
        f"  if (threadIdx.x == 0) r0[o] = ({ct})({result});",
        "  JANUS_SYNC();",
        "}",
    ]
    params = [f"const {low.ctype(x)}* a0", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), max(1, min(MAX_BLOCKS, n_out)), [x, out])]


def one_hot(low, x: str, out: str, classes: int) -> list:
    """Zeros, then a one at each index; an index outside [0, classes)
    flags the run (the eager op raises)."""
    n, ct = low.numel(x), low.ctype(out)
    zero = low.src.add([f"{ct}* r0"], [f"JANUS_FOR(i, {n * classes}LL) r0[i] = 0;"])
    body = [
        f"JANUS_FOR(i, {n}LL) {{",
        *("  " + line for line in checked_index(low, "a0[i]", classes, wrap=False)),
        f"  r0[i * {classes} + at] = 1;",
        "}",
    ]
    mark = low.src.add([f"const {low.ctype(x)}* a0", f"{ct}* r0", "int* fl"], body)
    return [
        Launch(zero, blocks_for(n * classes), [out]),
        Launch(mark, blocks_for(n), [x, out, ("flag",)]),
    ]


LINE_OPS = ("argmax", "max_dim", "cumsum", "cumprod", "var", "logsumexp", "one_hot")


def lower_line_op(low, op: str, values: list, attrs: dict, outs: list) -> list:
    if op in ("argmax", "max_dim"):
        return arg_extreme(low, values[0], outs, attrs.get("dim"), attrs.get("largest", True))
    if op in ("cumsum", "cumprod"):
        return scan(low, values[0], outs[0], attrs["dim"], op == "cumprod")
    if op in ("var", "logsumexp"):
        correction = int(attrs.get("correction", 1))
        return two_pass(low, values[0], outs[0], attrs.get("dims"), op, correction)
    return one_hot(low, values[0], outs[0], int(attrs["num_classes"]))
