"""CUDA kernels for the ops that read or write at indices held in a tensor:
embedding, gather, index_select, scatter, scatter_add (janus.ops.indexing)
and constant padding (janus.ops.resize).

A negative index is wrapped once where the eager op does (gather, scatter);
an index out of range is never dereferenced: the kernel writes `INDEX_ASSERT` to the assert
flag, the run is discarded (nothing is committed) and the frame falls back
to the eager op, which raises PyTorch's error.
"""

from __future__ import annotations

import math

from .cuda_elementwise import NoKernel, literal, literal_type
from .cuda_steps import INDEX_ASSERT, INDEX_ASSERT_MESSAGE, Launch, blocks_for, contiguous_strides


def checked_index(low, load: str, size: int, var: str = "at", wrap: bool = True) -> list:
    """C lines that set `var` from `load` (a negative one wrapped once when
    `wrap`, as gather and scatter do; index_select and embedding refuse
    it), or flag it and skip the element."""
    low.asserts[INDEX_ASSERT] = INDEX_ASSERT_MESSAGE
    wrapped = f" if ({var} < 0) {var} += {size};" if wrap else ""
    return [
        f"i64 {var} = (i64){load};{wrapped}",
        f"if ({var} < 0 || {var} >= {size}) {{ fl[0] = {INDEX_ASSERT}; continue; }}",
    ]


def _coordinates(shape, var: str = "i", prefix: str = "c") -> list:
    """C lines that split the flat index `var` over `shape` into c0, c1, ..."""
    strides = contiguous_strides(shape)
    return [
        f"i64 {prefix}{d} = ({var} / {stride}) % {size};"
        for d, (size, stride) in enumerate(zip(shape, strides))
    ]


def _offset(coords: list, strides) -> str:
    terms = [f"{c} * {s}" for c, s in zip(coords, strides) if s]
    return " + ".join(terms) or "0"


def embedding(low, weight: str, indices: str, out: str) -> list:
    rows, width = low.shape(weight)
    n = low.numel(indices)
    ct = low.ctype(out)
    body = [
        f"JANUS_FOR(i, {n * width}LL) {{",
        *("  " + line for line in checked_index(low, f"a1[i / {width}]", rows, "row", wrap=False)),
        f"  r0[i] = a0[row * {width} + i % {width}];",
        "}",
    ]
    params = [f"const {ct}* a0", f"const {low.ctype(indices)}* a1", f"{ct}* r0", "int* fl"]
    return [
        Launch(low.src.add(params, body), blocks_for(n * width), [weight, indices, out, ("flag",)])
    ]


def _take(low, x: str, index: str, out: str, dim: int, load: str, wrap: bool) -> list:
    """out[c] = x[c with c[dim] = the index at `load`] over out's shape;
    `load` reads the index from a1 at the output coordinates c0, c1, ..."""
    shape, x_shape = low.shape(out), low.shape(x)
    nd = len(shape)
    coords = [f"c{d}" if d != dim else "at" for d in range(nd)]
    work = math.prod(shape)
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        *("  " + line for line in _coordinates(shape)),
        *("  " + line for line in checked_index(low, load, x_shape[dim], wrap=wrap)),
        f"  r0[i] = a0[{_offset(coords, contiguous_strides(x_shape))}];",
        "}",
    ]
    ct = low.ctype(out)
    params = [f"const {low.ctype(x)}* a0", f"const {low.ctype(index)}* a1", f"{ct}* r0", "int* fl"]
    return [Launch(low.src.add(params, body), blocks_for(work), [x, index, out, ("flag",)])]


def gather(low, x: str, index: str, out: str, dim: int) -> list:
    """out[c] = x[c with c[dim] = index[c]] over the index's shape."""
    nd = len(low.shape(index))
    if nd != len(low.shape(x)) or nd == 0:
        raise NoKernel("gather with an index of another rank, or of none")
    return _take(low, x, index, out, dim % nd, "a1[i]", wrap=True)


def index_select(low, x: str, index: str, out: str, dim: int) -> list:
    """out[..., j, ...] = x[..., index[j], ...] along `dim`."""
    nd = len(low.shape(out))
    if nd == 0:
        raise NoKernel("index_select of a 0-d tensor")
    return _take(low, x, index, out, dim % nd, f"a1[c{dim % nd}]", wrap=False)


def scatter(low, operands: list, out: str, dim: int, add: bool) -> list:
    """out = x, then out[c with c[dim] = index[c]] = (or +=) src[c] over the
    index's shape (src: a tensor at least that large, or a scalar)."""
    x, index, src = operands
    shape, x_shape = low.shape(index), low.shape(x)
    nd = len(shape)
    if nd != len(x_shape) or nd == 0:
        raise NoKernel("scatter with an index of another rank")
    dim %= nd
    ct = low.ctype(out)
    if add and ct not in ("float", "double"):
        raise NoKernel("scatter_add on integers")
    steps = [low.copy(x, out, contiguous_strides(x_shape))]
    coords = [f"c{d}" if d != dim else "at" for d in range(nd)]
    plain = [f"c{d}" for d in range(nd)]
    params = [f"const {low.ctype(index)}* a1", f"{ct}* r0", "int* fl"]
    args = [index, out, ("flag",)]
    if isinstance(src, tuple):  # a scalar
        value = literal(src[1], literal_type(src[1]))
    else:
        if len(low.shape(src)) != nd:
            raise NoKernel("scatter with a source of another rank")
        value = f"a0[{_offset(plain, contiguous_strides(low.shape(src)))}]"
        params.insert(0, f"const {low.ctype(src)}* a0")
        args.insert(0, src)
    target = f"r0[{_offset(coords, contiguous_strides(x_shape))}]"
    store = f"JANUS_ATOMIC_ADD(&{target}, ({ct}){value});" if add else f"{target} = ({ct}){value};"
    work = math.prod(shape)
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        *("  " + line for line in _coordinates(shape)),
        *("  " + line for line in checked_index(low, "a1[i]", x_shape[dim])),
        "  " + store,
        "}",
    ]
    steps.append(Launch(low.src.add(params, body), blocks_for(work), args))
    return steps


def constant_pad(low, x: str, out: str, pads, value) -> list:
    """out[c] = x[c - low pads] where that lies inside x, else `value`
    (negative pads crop)."""
    shape, x_shape = low.shape(out), low.shape(x)
    nd = len(shape)
    before = [0] * nd
    for i in range(len(pads) // 2):
        before[nd - 1 - i] = pads[2 * i]
    ct = low.ctype(out)
    lines = _coordinates(shape)
    inside = []
    for d in range(nd):
        if before[d] or shape[d] != x_shape[d]:
            lines.append(f"c{d} -= {before[d]};")
            inside.append(f"c{d} >= 0 && c{d} < {x_shape[d]}")
    offset = _offset([f"c{d}" for d in range(nd)], contiguous_strides(x_shape))
    fill = literal(value, ct) if value is not None else f"({ct})0"
    read = f"({' && '.join(inside)}) ? ({ct})a0[{offset}] : {fill}" if inside else f"a0[{offset}]"
    work = math.prod(shape)
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        *("  " + line for line in lines),
        f"  r0[i] = {read};",
        "}",
    ]
    params = [f"const {low.ctype(x)}* a0", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), blocks_for(work), [x, out])]


GATHER_OPS = ("gather", "index_select", "scatter", "scatter_add", "constant_pad")


def lower_gather(low, op: str, operands: list, values: list, attrs: dict, out: str) -> list:
    if op == "gather":
        return gather(low, values[0], values[1], out, attrs["dim"])
    if op == "index_select":
        return index_select(low, values[0], values[1], out, attrs["dim"])
    if op in ("scatter", "scatter_add"):
        return scatter(low, list(operands), out, attrs["dim"], op == "scatter_add")
    return constant_pad(low, values[0], out, attrs["pads"], attrs.get("value", 0.0))
