"""CUDA kernels for advanced indexing (janus.ops.indexing):
    index(x, *idx) {spec}                          out = x[key]
    index_put(x, values, *idx) {spec, accumulate}  out = x; out[key] = (or +=) values
with numpy's rules, as the eager op and the CPU runtime
(csrc/runtime/cpu/lower_advanced_index.cpp) follow them.

The key's geometry is fixed when the graph is lowered: every element of
x[key] at result coordinates (p, b, q) lies at x offset
    base + pre(p) + adv(b) + post(q)
where p and q are the basic dims (slices, None, the dims the key leaves)
before and after B, the broadcast shape of the index tensors, and adv(b)
reads each index tensor at b. B stands where the first advanced entry does
when those entries are adjacent in the key, else in front; with a tensor in
the key, an integer counts as a 0-d advanced entry. Each index read is
wrapped once if negative and checked: one out of range is never
dereferenced; it sets the assert flag and the frame falls back to the eager
op, which raises PyTorch's error.

A boolean mask (the key's only tensor) covers as many dims as it has, and
stands for the coordinates of its true elements. Their number is the shape
the graph was made for (speculated when it was recorded): a kernel numbers
the true elements in order (`mask_positions`, one block scanning chunks)
and flags a run whose count differs, which falls back to the eager op. x[mask]
gathers each selected element to its number; `x[mask] = v` writes where the
mask is true, reading `v` at the element's number where `v` differs along
the selected elements. nonzero lists the numbered elements' coordinates.

index_put without `accumulate` writes each selected element once per
index; where an index repeats, which write wins is unspecified on the GPU
(as in PyTorch's CUDA kernel); with `accumulate` the adds are atomic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cuda_elementwise import NoKernel, is_float, literal, literal_type
from .cuda_gather import checked_index
from .cuda_steps import (
    BLOCK,
    COUNT_ASSERT,
    COUNT_ASSERT_MESSAGE,
    Launch,
    blocks_for,
    broadcast_strides,
    contiguous_strides,
    index_code,
)


@dataclass
class IndexTensor:
    name: str
    shape: tuple
    size: int  # of the x dim it indexes
    stride: int  # of that dim, in elements


@dataclass
class Plan:
    """Where each element of x[key] is in x (see the module's docstring)."""

    base: int = 0
    pre: list = field(default_factory=list)  # (size, stride) of the basic dims before B
    post: list = field(default_factory=list)  # ... and after it
    tensors: list = field(default_factory=list)  # IndexTensor, for integer index tensors
    b_shape: tuple = ()
    mask: tuple | None = None  # (name, shape, x strides of the dims it covers)


def _broadcast(shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise NoKernel("index tensors whose shapes do not broadcast") from None


def _value_strides(shape, out_shape) -> list:
    """broadcast_strides of values of `shape` written at a key selecting
    `out_shape`; NoKernel where they do not broadcast to it."""
    if _broadcast([shape, out_shape]) != tuple(out_shape):
        raise NoKernel(f"values of shape {tuple(shape)} for a key selecting {tuple(out_shape)}")
    return broadcast_strides(shape, out_shape)


def plan_key(low, x_shape, spec, tensors: list) -> Plan:
    """The plan of x[key] for `spec` over `x_shape`; `tensors` are the key's
    index tensors (value names), in order."""
    kinds = [entry[0] for entry in spec]
    consumed = sum(1 for k in kinds if k in ("i", "s"))  # x dims the entries take
    for name in tensors:  # (a mask takes as many as it has)
        consumed += len(low.shape(name)) if low.types[name][0] == "bool" else 1
    if consumed > len(x_shape) or kinds.count("e") > 1 or kinds.count("t") != len(tensors):
        raise NoKernel("a key that does not fit the tensor")
    entries = list(spec) + ([] if "e" in kinds else [("e",)])
    x_strides = contiguous_strides(x_shape)
    advanced = bool(tensors)
    plan = Plan()
    seen, adjacent, last = False, True, -1
    dim, names = 0, iter(tensors)
    for pos, entry in enumerate(entries):
        kind = entry[0]
        basic = plan.post if seen else plan.pre
        if kind == "t" or (kind == "i" and advanced):
            if seen and last != pos - 1:
                adjacent = False
            seen, last = True, pos
        if kind == "e":
            for _ in range(len(x_shape) - consumed):
                basic.append((x_shape[dim], x_strides[dim]))
                dim += 1
        elif kind == "n":
            basic.append((1, 0))
        elif kind == "s":
            start, stop, step = slice(*entry[1:]).indices(x_shape[dim])
            plan.base += start * x_strides[dim]
            basic.append((len(range(start, stop, step)), step * x_strides[dim]))
            dim += 1
        elif kind == "i":
            n = entry[1]
            if not -x_shape[dim] <= n < x_shape[dim]:
                raise NoKernel("an integer index out of range")  # (the eager op raises)
            plan.base += (n % x_shape[dim]) * x_strides[dim]
            dim += 1
        else:  # "t"
            name = next(names)
            shape = low.shape(name)
            if low.types[name][0] == "bool":
                if len(tensors) != 1 or "i" in kinds:
                    raise NoKernel("a boolean mask with other indices")
                covered = x_shape[dim : dim + len(shape)]
                if tuple(covered) != tuple(shape):
                    raise NoKernel("a mask whose shape differs from the dims it covers")
                plan.mask = (name, shape, x_strides[dim : dim + len(shape)])
                dim += len(shape)
            elif is_float(low.ctype(name)):
                raise NoKernel("an index tensor of floats")
            else:
                plan.tensors.append(IndexTensor(name, shape, x_shape[dim], x_strides[dim]))
                dim += 1
    if not adjacent:  # B goes in front of every basic dim
        plan.pre, plan.post = [], plan.pre + plan.post
    plan.b_shape = _broadcast([t.shape for t in plan.tensors])
    return plan


def _result_shape(plan: Plan) -> tuple:
    return (*(s for s, _ in plan.pre), *plan.b_shape, *(s for s, _ in plan.post))


def _offset_lines(low, plan: Plan, shape, x_var: str) -> tuple[list, list]:
    """Lines that set `x_var` to the x offset of the key's element at flat
    index `i` over `shape` (the result's), reading and checking every index
    tensor (as a{first}, a{first + 1}, ... in the kernel's parameters)."""
    nb, npre = len(plan.b_shape), len(plan.pre)
    x_over = [s for _, s in plan.pre] + [0] * nb + [s for _, s in plan.post]
    t_over = [
        [0] * npre + broadcast_strides(t.shape, plan.b_shape) + [0] * len(plan.post)
        for t in plan.tensors
    ]
    lines, offsets = index_code(shape, [x_over, *t_over])
    lines.append(f"i64 {x_var} = {plan.base} + {offsets[0]};")
    return lines, offsets[1:]


def _index_reads(low, plan: Plan, offsets, first: int, x_var: str) -> list:
    lines = []
    for k, (t, offset) in enumerate(zip(plan.tensors, offsets)):
        at = f"at{k}"
        lines += checked_index(low, f"a{first + k}[{offset}]", t.size, at)
        lines.append(f"{x_var} += {at} * {t.stride};")
    return lines


def mask_positions(low, mask: str, count: int, truth: str = "a0[e]") -> tuple[list, str]:
    """(steps, name of an i64 scratch value): for each element of `mask`, its
    number among the true ones (in C order), or -1 where it is false
    (`truth`: the C test of element e). One block: each thread counts a
    chunk, thread 0 turns the counts into starting numbers and flags a total
    other than `count`, then each thread numbers its chunk."""
    n = low.numel(mask)
    positions = low.scratch(f"{mask}_at{len(low.scratch_values)}", "i64", [n])
    low.asserts[COUNT_ASSERT] = COUNT_ASSERT_MESSAGE
    body = [
        f"JANUS_SHARED i64 partial[{BLOCK}];",
        "if (blockIdx.x != 0) return;",
        f"i64 chunk = ({n}LL + blockDim.x - 1) / blockDim.x;",
        f"i64 lo = threadIdx.x * chunk, hi = lo + chunk < {n}LL ? lo + chunk : {n}LL;",
        "i64 seen = 0;",
        f"for (i64 e = lo; e < hi; ++e) seen += ({truth}) ? 1 : 0;",
        "partial[threadIdx.x] = seen;",
        "JANUS_SYNC();",
        "if (threadIdx.x == 0) {",
        "  i64 run = 0;",
        "  for (unsigned t = 0; t < blockDim.x; ++t) {",
        "    i64 v = partial[t]; partial[t] = run; run += v;",
        "  }",
        f"  if (run != {count}LL) fl[0] = {COUNT_ASSERT};",
        "}",
        "JANUS_SYNC();",
        "i64 at = partial[threadIdx.x];",
        f"for (i64 e = lo; e < hi; ++e) {{ bool t = ({truth}); r0[e] = t ? at : -1; at += t; }}",
    ]
    params = [f"const {low.ctype(mask)}* a0", "i64* r0", "int* fl"]
    return [Launch(low.src.add(params, body), 1, [mask, positions, ("flag",)])], positions


def _mask_region(plan: Plan) -> tuple:
    """(region shape, x strides over it, mask strides over it, number of
    dims before the mask's): the pre dims, the mask's own, the post dims."""
    mask, mask_shape, mask_x_strides = plan.mask
    pre, post = [s for s, _ in plan.pre], [s for s, _ in plan.post]
    shape = (*pre, *mask_shape, *post)
    x_over = [s for _, s in plan.pre] + list(mask_x_strides) + [s for _, s in plan.post]
    m_over = [0] * len(pre) + contiguous_strides(mask_shape) + [0] * len(post)
    return shape, x_over, m_over, len(pre)


def _masked_index(low, x: str, plan: Plan, out: str) -> list:
    """x[mask]: each selected element to its number along the result's B dim."""
    mask = plan.mask[0]
    out_shape = low.shape(out)
    npre = len(plan.pre)
    count = out_shape[npre]
    steps, positions = mask_positions(low, mask, count)
    shape, x_over, m_over, _ = _mask_region(plan)
    post = out_shape[npre + 1 :]
    # The result's offset: pre coordinates, the number, post coordinates.
    out_strides = contiguous_strides(out_shape)
    o_over = out_strides[:npre] + [0] * len(plan.mask[1]) + out_strides[npre + 1 :]
    lines, (src, at, dst) = index_code(shape, [x_over, m_over, o_over])
    work = math.prod(shape)
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        *("  " + line for line in lines),
        f"  i64 k = a1[{at}]; if (k < 0 || k >= {count}) continue;",
        f"  r0[{dst} + k * {math.prod(post)}] = a0[{plan.base} + {src}];",
        "}",
    ]
    params = [f"const {low.ctype(x)}* a0", "const i64* a1", f"{low.ctype(out)}* r0"]
    steps.append(Launch(low.src.add(params, body), blocks_for(work), [x, positions, out]))
    return steps


def nonzero(low, x: str, out: str) -> list:
    """The coordinates of x's nonzero elements, in C order, one row each."""
    count, nd = low.shape(out)
    steps, positions = mask_positions(low, x, count, "a0[e] != 0")
    shape = low.shape(x)
    n = low.numel(x)
    strides = contiguous_strides(shape)
    coords = [f"r0[k * {nd} + {d}] = (i / {strides[d]}) % {size};" for d, size in enumerate(shape)]
    body = [
        f"JANUS_FOR(i, {n}LL) {{",
        f"  i64 k = a1[i]; if (k < 0 || k >= {count}) continue;",
        *("  " + line for line in coords),
        "}",
    ]
    params = ["const i64* a1", "i64* r0"]
    steps.append(Launch(low.src.add(params, body), blocks_for(n), [positions, out]))
    return steps


def index(low, operands: list, attrs: dict, out: str) -> list:
    x, *tensors = operands
    plan = plan_key(low, low.shape(x), attrs["spec"], tensors)
    if plan.mask is not None:
        return _masked_index(low, x, plan, out)
    shape = _result_shape(plan)
    if shape != low.shape(out):
        raise NoKernel(f"a key whose result {shape} differs from the graph's {low.shape(out)}")
    lines, offsets = _offset_lines(low, plan, shape, "src")
    work = math.prod(shape)
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        *("  " + line for line in lines + _index_reads(low, plan, offsets, 1, "src")),
        "  r0[i] = a0[src];",
        "}",
    ]
    ct = low.ctype(out)
    params = [f"const {low.ctype(x)}* a0"]
    params += [f"const {low.ctype(t.name)}* a{k + 1}" for k, t in enumerate(plan.tensors)]
    params += [f"{ct}* r0", "int* fl"]
    args = [x, *(t.name for t in plan.tensors), out, ("flag",)]
    return [Launch(low.src.add(params, body), blocks_for(work), args)]


def index_put(low, operands: list, attrs: dict, out: str) -> list:
    x, values, *tensors = operands
    x_shape = low.shape(x)
    plan = plan_key(low, x_shape, attrs["spec"], tensors)
    accumulate = bool(attrs["accumulate"])
    ct = low.ctype(out)
    if accumulate and not is_float(ct):
        raise NoKernel("index_put with accumulate on integers")
    steps = [low.copy(x, out, contiguous_strides(x_shape))]
    params, args = [f"{ct}* r0", "int* fl"], [out, ("flag",)]
    if plan.mask is not None:
        mask, mask_shape, _ = plan.mask
        shape, x_over, m_over, npre = _mask_region(plan)  # mask dims in x's
        post = shape[npre + len(mask_shape) :]
        read = [x_over, m_over]
        along = None  # v's stride along the selected elements, where it differs along them
        if not isinstance(values, tuple):
            v_shape = low.shape(values)
            differs = len(v_shape) > len(post) and v_shape[len(v_shape) - len(post) - 1] != 1
            # x[mask]'s shape, the count standing at 1 (or at v's, where v has it)
            count = v_shape[len(v_shape) - len(post) - 1] if differs else 1
            v_result = _value_strides(v_shape, (*shape[:npre], count, *post))
            along = v_result[npre] if differs else None
            read.append(v_result[:npre] + [0] * len(mask_shape) + v_result[npre + 1 :])
        lines, offsets = index_code(shape, read)
        if along is not None:  # each selected element reads v at its number
            scan, positions = mask_positions(low, mask, count)
            steps = scan + steps
            lines += [f"i64 k = at[{offsets[1]}]; if (k < 0 || k >= {count}) continue;"]
            params.insert(0, "const i64* at")
            args.insert(0, positions)
            offsets[2] = f"{offsets[2]} + k * {along}"
        else:
            lines += [f"if (!mask[{offsets[1]}]) continue;"]
            params.insert(0, "const bool* mask")
            args.insert(0, mask)
        lines += [f"i64 dst = {plan.base} + {offsets[0]};"]
        value_offset = offsets[2] if len(offsets) > 2 else None
    else:
        shape = _result_shape(plan)
        lines, offsets = _offset_lines(low, plan, shape, "dst")
        lines += _index_reads(low, plan, offsets, 1, "dst")
        params[:0] = [f"const {low.ctype(t.name)}* a{k + 1}" for k, t in enumerate(plan.tensors)]
        args[:0] = [t.name for t in plan.tensors]
        value_offset = None
        if not isinstance(values, tuple):
            v_shape = low.shape(values)
            v_lines, (value_offset,) = index_code(
                shape, [_value_strides(v_shape, shape)], prefix="vo"
            )
            lines = v_lines + lines
    if isinstance(values, tuple):  # a number
        value = literal(values[1], literal_type(values[1]))
    else:
        value = f"vals[{value_offset}]"
        params.insert(0, f"const {low.ctype(values)}* vals")
        args.insert(0, values)
    value = f"({ct}){value}"
    store = f"JANUS_ATOMIC_ADD(&r0[dst], {value});" if accumulate else f"r0[dst] = {value};"
    work = math.prod(shape)
    body = [f"JANUS_FOR(i, {work}LL) {{", *("  " + line for line in lines), "  " + store, "}"]
    steps.append(Launch(low.src.add(params, body), blocks_for(work), args))
    return steps


INDEX_OPS = ("index", "index_put", "nonzero")


def lower_index(low, op: str, operands: list, attrs: dict, out: str) -> list:
    """(index_put's values may be a number: its operand is ("const", v).)"""
    if op == "index":
        return index(low, list(operands), attrs, out)
    if op == "nonzero":
        return nonzero(low, operands[0], out)
    return index_put(low, list(operands), attrs, out)
