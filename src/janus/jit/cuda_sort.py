"""CUDA kernels for sort, topk and unique (janus.ops.sorting): values and
int64 indices along one dim, in the eager op's order: ascending puts NaN
after every number, descending before; equal values keep their index order.

That order is total on (value, index), so each element's place is the
number of elements of its line that come before it: one thread per
element counts them, and writes the element there (topk: when the place is
under k). No two elements share a place, so the result is exactly the
stable sort, with no data-dependent control flow between threads. The count
is quadratic in the line length: past `_MAX_COMPARISONS` per graph the node
has no kernel, and the frame runs the eager op (cupy's sort).

unique (of the whole tensor, numpy's: sorted, NaNs one value) sorts, numbers
the first element of each run of equal values in order (cuda_index's
`mask_positions`, which flags a count of distinct values other than the
recorded one: the call falls back, as the CPU runtime's speculation does),
and then each sorted element finds its run's number.
"""

from __future__ import annotations

from .cuda_elementwise import NoKernel, is_float
from .cuda_index import mask_positions
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


def _same(ct: str, a: str, b: str) -> str:
    """C expression: a and b are one value to unique (NaN equals NaN)."""
    return f"({a} == {b} || ({a} != {a} && {b} != {b}))" if is_float(ct) else f"({a} == {b})"


def unique(low, x: str, attrs: dict, outs: list) -> list:
    """numpy's unique of all of x: its distinct values in order to outs[0],
    then (as asked) each element's number among them, in x's shape, and
    how many elements each has."""
    if attrs.get("dim") is not None:
        raise NoKernel("unique along a dim")
    n, ct = low.numel(x), low.ctype(x)
    if n * n > _MAX_COMPARISONS:
        raise NoKernel(f"unique of {n} elements (too many for a counting sort)")
    count = low.shape(outs[0])[0]
    tag = f"{outs[0]}_{len(low.scratch_values)}"
    ordered = low.scratch(f"{tag}_sorted", low.types[x][0], [n])
    taken_from = low.scratch(f"{tag}_from", "i64", [n])
    rank = [
        f"JANUS_FOR(j, {n}LL) {{",
        f"  {ct} w = a0[j];",
        "  i64 place = 0;",
        f"  for (i64 i = 0; i < {n}LL; ++i) {{",
        f"    {ct} v = a0[i];",
        f"    if ({_before(ct, False)}) ++place;",
        "  }",
        "  r0[place] = w; r1[place] = j;",
        "}",
    ]
    params = [f"const {ct}* a0", f"{ct}* r0", "i64* r1"]
    steps = [Launch(low.src.add(params, rank), blocks_for(n), [x, ordered, taken_from])]
    first = f"e == 0 || !{_same(ct, 'a0[e]', 'a0[e - 1]')}"
    scan, runs = mask_positions(low, ordered, count, first)
    steps += scan
    inverse = bool(attrs.get("return_inverse"))
    counts = bool(attrs.get("return_counts"))
    # Each sorted element: its run starts where the numbering is >= 0.
    body = [
        f"JANUS_FOR(i, {n}LL) {{",
        "  i64 start = i;",
        "  while (a2[start] < 0) --start;",
        f"  i64 k = a2[start]; if (k >= {count}LL) continue;",
        "  if (i == start) {",
        "    r0[k] = a0[i];",
    ]
    if counts:
        body += [
            f"    i64 end = i + 1; while (end < {n}LL && a2[end] < 0) ++end;",
            "    rc[k] = end - i;",
        ]
    body.append("  }")
    if inverse:
        body.append("  ri[a1[i]] = k;")
    body.append("}")
    params = [f"const {ct}* a0", "const i64* a1", "const i64* a2", f"{ct}* r0"]
    args = [ordered, taken_from, runs, outs[0]]
    extra = iter(outs[1:])  # (inverse, then counts, as asked)
    if inverse:
        params.append("i64* ri")
        args.append(next(extra))
    if counts:
        params.append("i64* rc")
        args.append(next(extra))
    steps.append(Launch(low.src.add(params, body), blocks_for(n), args))
    return steps


SORT_OPS = ("sort", "topk", "unique")


def lower_sort(low, op: str, values: list, attrs: dict, outs: list) -> list:
    x = values[0]
    if op == "unique":
        return unique(low, x, attrs, outs)
    shape = low.shape(x)
    dim = attrs["dim"] % max(1, len(shape))
    if op == "sort":
        return select(low, x, outs, dim, bool(attrs["descending"]), shape[dim] if shape else 1)
    if low.ctype(x) == "bool":
        raise NoKernel("topk of booleans")  # (the eager op raises)
    return select(low, x, outs, dim, bool(attrs["largest"]), int(attrs["k"]))
