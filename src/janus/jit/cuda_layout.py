"""CUDA layout along one dim, and values read where another lies.

`cat` and `split` are one kernel each: every element finds the operand (or
result) its position along the dim falls in by a binary search over the
parts, compiled into the kernel (an unrolled LSTM stacks 35 operands: one
launch, not 35).

`in_place_reads` finds the values no kernel needs to write:
- the results of a split that only elementwise kernels read (an LSTM cell's
  gates, read by its fused group): those kernels read each part where it
  lies in the split's source;
- add(linear(x, W, b), r) where the add is the linear's only reader: the
  linear computes b + r + x @ W.T (its bias kernel adds r, cuBLAS the
  product) and the add's result is the linear's buffer. Only where r is
  ready before the linear runs, whatever the streams: made by one of its
  ancestors, or an input (an RNN's stacked x_t W_ih plus h_{t-1} W_hh:
  every step but the first).
The CUDA program's memory plan aliases such a value to its source, which so
lives while it is read.
"""

from __future__ import annotations

import itertools
import math

from .cuda_elementwise import ELEMENTWISE
from .cuda_steps import Launch, blocks_for, contiguous_strides

# Nodes whose kernels read every operand through `operand_read` (strides and
# an offset), so that a split's result can be read where it lies.
_READ_IN_PLACE = frozenset(ELEMENTWISE) | {"fused"}


def in_place_reads(low, graph) -> tuple:
    """(views, addends): views maps each value no kernel writes to (the
    value it lies in, element strides, offset); addends maps the result of
    each linear that computes a folded add to the add's other addend."""
    kept = {v.name for v in graph.outputs()}
    producer, readers = {}, {}  # value -> node index; value -> reading node indices
    for at, (_, operands, _, outs, _) in enumerate(low.nodes):
        for name, _, _ in outs:
            producer[name] = at
        for operand in operands:
            if isinstance(operand, str):
                readers.setdefault(operand, []).append(at)
    addends, views = {}, {}
    for add_out, (linear_out, r) in _folded_adds(low, producer, readers, kept).items():
        addends[linear_out] = r
        views[add_out] = (linear_out, contiguous_strides(low.shape(linear_out)), 0)
    for op, operands, attrs, outs, _ in low.nodes:
        names = [o[0] for o in outs]
        if (
            op != "split"
            or not isinstance(operands[0], str)
            or any(
                n in kept or not {low.nodes[at][0] for at in readers.get(n, ())} <= _READ_IN_PLACE
                for n in names
            )
        ):
            continue
        shape = low.shape(operands[0])
        dim, strides = attrs["dim"] % len(shape), contiguous_strides(shape)
        source = views.get(operands[0], (operands[0],))[0]  # (a folded add: the linear's)
        for name, (first, _) in zip(names, _spans(attrs["sizes"])):
            views[name] = (source, strides, first * strides[dim])
    return views, addends


def _folded_adds(low, producer, readers, kept) -> dict:
    """add_out -> (the linear's result, the other addend r)."""
    folds = {}
    for at, (op, operands, attrs, outs, _) in enumerate(low.nodes):
        if op != "add" or attrs or len(operands) != 2 or len(outs) != 1:
            continue
        out = outs[0][0]
        for a, r in (operands, operands[::-1]):
            if not (isinstance(a, str) and isinstance(r, str)) or a not in producer:
                continue
            linear = producer[a]
            if (
                low.nodes[linear][0] == "linear"
                and readers.get(a) == [at]
                and a not in kept
                and out not in kept
                and low.types[a] == low.types[out] == low.types[r]
                and (r not in producer or _depends(low, linear, producer[r], readers))
            ):
                folds[out] = (a, r)
                break
    return folds


def _depends(low, node: int, first: int, readers: dict) -> bool:
    """Whether node `node` depends on node `first`'s results."""
    seen, stack = set(), [first]
    while stack:
        at = stack.pop()
        for name, _, _ in low.nodes[at][3]:
            for reader in readers.get(name, ()):
                if reader == node:
                    return True
                if reader not in seen and reader < node:
                    seen.add(reader)
                    stack.append(reader)
    return False


def _spans(sizes) -> list:
    """(first position, size) of each part along the dim."""
    starts = [0, *itertools.accumulate(sizes)]
    return list(zip(starts, sizes))


def cat(low, operands, attrs, out) -> list:
    """One kernel over the result: each element reads its operand."""
    shape = low.shape(out)
    dim = attrs["dim"] % len(shape)
    ct = low.ctype(out)
    parts = _parts(low, operands, [low.shape(a)[dim] for a in operands])
    params = [f"const {low.ctype(a)}* a{k}" for k, (a, _, _) in enumerate(parts)]
    leaves = [f"r0[i] = ({ct})a{k}[{{element}}];" for k in range(len(parts))]
    args = [a for a, _, _ in parts] + [out]
    return _along_dim(low, shape, dim, parts, leaves, params + [f"{ct}* r0"], args)


def split(low, x, outs, attrs) -> list:
    """One kernel over `x`: each element goes to its result."""
    shape = low.shape(x)
    dim = attrs["dim"] % len(shape)
    parts = _parts(low, outs, attrs["sizes"])
    params = [f"const {low.ctype(x)}* a0"]
    params += [f"{low.ctype(o)}* r{k}" for k, (o, _, _) in enumerate(parts)]
    leaves = [f"r{k}[{{element}}] = a0[i];" for k in range(len(parts))]
    return _along_dim(low, shape, dim, parts, leaves, params, [x] + [o for o, _, _ in parts])


def _parts(low, names, sizes) -> list:
    """(value, first position along the dim, size) of each part with elements."""
    return [(n, first, size) for n, (first, size) in zip(names, _spans(sizes)) if low.numel(n)]


def _along_dim(low, shape, dim, parts, leaves, params, args) -> list:
    """A kernel over `shape` that runs, for element i at position `pos`
    along `dim` (`o` the index before dim, `rest` after it), the leaf of the
    part that `pos` falls in, `{element}` in it being the element's index in
    that part."""
    if not parts:
        return []
    slab, total = math.prod(shape[dim + 1 :]), shape[dim]

    def search(lo: int, hi: int, depth: int) -> list:
        pad = "  " * depth
        if hi - lo == 1:
            _, first, size = parts[lo]
            element = f"(o * {size} + pos - {first}) * {slab} + rest"
            return [pad + leaves[lo].format(element=element)]
        mid = (lo + hi) // 2
        return [
            f"{pad}if (pos < {parts[mid][1]}) {{",
            *search(lo, mid, depth + 1),
            f"{pad}}} else {{",
            *search(mid, hi, depth + 1),
            f"{pad}}}",
        ]

    work = math.prod(shape)
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        f"  i64 o = i / {total * slab}LL, pos = (i / {slab}LL) % {total}LL,",
        f"      rest = i % {slab}LL;",
        *search(0, len(parts), 1),
        "}",
    ]
    return [Launch(low.src.add(params, body), blocks_for(work), args)]
