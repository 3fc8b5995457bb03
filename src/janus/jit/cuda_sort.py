"""CUDA kernels for sort and topk (janus.ops.sorting): values and int64
indices along one dim, in the eager op's order: ascending puts NaN after
every number, descending before; equal values keep their index order.

That order is total on (value, index), so each element's place is the
number of elements of its line that come before it: one thread per
element counts them, and writes the element there (topk: when the place is
under k). No two elements share a place, so the result is exactly the
stable sort, with no data-dependent control flow between threads. The count
is quadratic in the line length: past `_MAX_COMPARISONS` per graph the node
has no kernel, and the frame runs the eager op (cupy's sort).
"""

from __future__ import annotations

from .cuda_elementwise import NoKernel, is_float
from .cuda_lines import _line_start, _lines
from .cuda_steps import Launch, blocks_for

_MAX_COMPARISONS = 1 << 32


def _before(ct: str, descending: bool) -> str:
    """C expression: element (v, i) comes before (w, j) of the same line."""
    a, b = ("w", "v") if descending else ("v", "w")
    less = f"{a} < {b}"
    if is_float(ct):  # NaN is above every number, and equal to NaN
        less = f"({less} || ({b} != {b} && {a} == {a}))"
    ties = f"!({b} < {a})" + (f" && !({a} != {a} && {b} == {b})" if is_float(ct) else "")
    return f"{less} || (i < j && {ties})"


def select(low, x: str, outs: list, dim: int, descending: bool, k: int) -> list:
    """The first `k` of each line of `x` along `dim` in sort order:
    values to outs[0], their positions along `dim` to outs[1]."""
    shape = low.shape(x)
    outer, size, inner = _lines(shape, dim)
    lines = outer * inner
    if lines * size * size > _MAX_COMPARISONS:
        raise NoKernel(f"a sort of {lines} lines of {size} (too long for a counting sort)")
    ct = low.ctype(x)
    work = lines * size
    body = [
        f"JANUS_FOR(e, {work}LL) {{",
        f"  i64 line = e / {size}, j = e % {size};",
        "  " + _line_start("line", size, inner),
        f"  {ct} w = a0[base + j * {inner}];",
        "  i64 place = 0;",
        f"  for (i64 i = 0; i < {size}; ++i) {{",
        f"    {ct} v = a0[base + i * {inner}];",
        f"    if ({_before(ct, descending)}) ++place;",
        "  }",
        f"  if (place < {k}) {{",
        f"    i64 at = (line / {inner}) * {k * inner} + line % {inner} + place * {inner};",
        "    r0[at] = w; r1[at] = j;",
        "  }",
        "}",
    ]
    params = [f"const {ct}* a0", f"{ct}* r0", f"{low.ctype(outs[1])}* r1"]
    return [Launch(low.src.add(params, body), blocks_for(work), [x, *outs])]


SORT_OPS = ("sort", "topk")


def lower_sort(low, op: str, values: list, attrs: dict, outs: list) -> list:
    x = values[0]
    shape = low.shape(x)
    dim = attrs["dim"] % max(1, len(shape))
    if op == "sort":
        return select(low, x, outs, dim, bool(attrs["descending"]), shape[dim] if shape else 1)
    if low.ctype(x) == "bool":
        raise NoKernel("topk of booleans")  # (the eager op raises)
    return select(low, x, outs, dim, bool(attrs["largest"]), int(attrs["k"]))
