"""CUDA source for a compiled graph: one kernel per node, its shapes baked in.

A graph's shapes are static, so every kernel is specialized to them: index
arithmetic is on constants, broadcasting is a stride of 0, a permute or a
slice is a strided read. `lower(graph)` turns each node into steps:
`Launch` (a kernel of the generated source) or `Gemm` (cuBLAS); the CUDA
program (cuda_program.py) compiles the source once with NVRTC and captures
the steps into a CUDA graph.

Every node writes its own contiguous buffer (views are materialized), so a
kernel's arguments never alias each other.

The source compiles as CUDA (NVRTC) and, through the prelude's host branch,
as plain C++ running one thread: the tests run the generated kernels that way
on the CPU against the eager ops, so a machine with no GPU checks the code
generator too.

A node this module has no kernel for raises `NoKernel`; the caller keeps the
graph off the GPU runtime (the frame runs eagerly on cupy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import (
    cuda_einsum,
    cuda_gather,
    cuda_index,
    cuda_layout,
    cuda_lines,
    cuda_losses,
    cuda_sort,
    cuda_windows,
)
from .cuda_elementwise import (
    CTYPE,
    ELEMENTWISE,
    NoKernel,
    elementwise_expr,
    is_float,
    literal,
    literal_type,
)
from .cuda_steps import (
    BLOCK,
    MAX_BLOCKS,
    Gemm,
    Launch,
    block_fold_lines,
    blocks_for,
    broadcast_strides,
    contiguous_strides,
    index_code,
)
from .program import FUSED_REDUCTIONS

PRELUDE = r"""
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define JANUS_KERNEL extern "C" __global__
#define JANUS_SHARED __shared__
#define JANUS_SYNC() __syncthreads()
#define JANUS_ATOMIC_ADD(p, v) atomicAdd((p), (v))
#define JANUS_INF __int_as_float(0x7f800000)
#elif !defined(JANUS_HOST_THREADS)  // host emulation (tests): one block of one thread
#include <cmath>
using namespace std;
#define JANUS_KERNEL extern "C"
#define JANUS_SHARED static
#define JANUS_SYNC() ((void)0)
#define JANUS_ATOMIC_ADD(p, v) (*(p) += (v))
#define JANUS_INF INFINITY
struct JanusDim { unsigned x; };
static const JanusDim threadIdx = {0}, blockIdx = {0}, blockDim = {1}, gridDim = {1};
#endif  // (JANUS_HOST_THREADS: tests/jit/cuda_host.py defines blocks of threads)
typedef long long i64;
#define JANUS_FOR(i, n) \
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (i64)gridDim.x * blockDim.x)
// NaN-propagating max and min, as numpy's maximum and minimum.
template <typename T> __device_or_host__ inline T janus_max(T a, T b) {
  return (a > b || a != a) ? a : b;
}
template <typename T> __device_or_host__ inline T janus_min(T a, T b) {
  return (a < b || a != a) ? a : b;
}
// Python's // and % on integers, as numpy (and the CPU runtime) do them: the
// quotient floored, the remainder with the divisor's sign, 0 for a zero
// divisor; the lowest int // -1 wraps to itself.
template <typename T> __device_or_host__ inline T janus_floordiv(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return (T)(0ull - (unsigned long long)a);
  T q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? (T)(q - 1) : q;
}
template <typename T> __device_or_host__ inline T janus_mod(T a, T b) {
  if (b == 0 || b == -1) return 0;
  T m = a % b;
  return (m != 0 && ((m < 0) != (b < 0))) ? (T)(m + b) : m;
}
// Philox4x32-10 block `index` of the stream of `seed`: the stream
// csrc/runtime/rng/philox.h defines (the CPU runtime and eager kernels draw
// from it too), so a graph's random numbers equal the eager ones.
struct JanusBlock { unsigned v[4]; };
__device_or_host__ inline JanusBlock janus_philox(unsigned long long seed,
                                                  unsigned long long index) {
  unsigned c0 = (unsigned)index, c1 = (unsigned)(index >> 32), c2 = 0, c3 = 0;
  unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
    unsigned long long p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;
    unsigned n0 = (unsigned)(p1 >> 32) ^ c1 ^ k0, n2 = (unsigned)(p0 >> 32) ^ c3 ^ k1;
    c1 = (unsigned)p1; c3 = (unsigned)p0; c0 = n0; c2 = n2;
  }
  JanusBlock b = {{c0, c1, c2, c3}};
  return b;
}
"""
# `__device_or_host__`: both, in CUDA; nothing on the host.
PRELUDE = (
    "#if defined(__CUDACC__) || defined(__CUDACC_RTC__)\n"
    "#define __device_or_host__ __device__\n#else\n#define __device_or_host__\n#endif\n" + PRELUDE
)


@dataclass
class Lowered:
    source: str
    steps: list  # per node: its list of Launch / Gemm
    types: dict  # value name -> (dtype, shape)
    kernels: list = field(default_factory=list)  # kernel names, in the source
    asserts: dict = field(default_factory=dict)  # assert id -> message
    scratch: list = field(default_factory=list)  # value names of temporaries no node outputs
    # Values no kernel writes, read in place in another: value -> that one
    # (its buffer must live while they are read).
    views: dict = field(default_factory=dict)

    @property
    def uses_rng(self) -> bool:
        """Whether a kernel reads the call's random-stream shift, ("rng",)."""
        return any(("rng",) in step.args for steps in self.steps for step in steps)


class _Source:
    """The kernels of one program, named k0, k1, ...; a kernel the program
    already has (the same step of an unrolled loop) is reused, which keeps
    NVRTC's work proportional to the distinct kernels."""

    def __init__(self):
        self.parts = [PRELUDE]
        self.names = []
        self.known: dict = {}

    def add(self, params: list, body: list) -> str:
        key = (tuple(params), tuple(body))
        if key in self.known:
            return self.known[key]
        name = f"k{len(self.names)}"
        self.names.append(name)
        self.known[key] = name
        self.parts.append(
            f"JANUS_KERNEL void {name}({', '.join(params)}) {{\n  " + "\n  ".join(body) + "\n}\n"
        )
        return name

    def text(self) -> str:
        return "\n".join(self.parts)


class _Lowering:
    def __init__(self, graph):
        self.types = {v.name: (v.dtype, tuple(v.shape)) for v in graph.inputs()}
        self.src = _Source()
        self.asserts = {}
        self.scratch_values = []  # per-program temporaries beside the node results
        self.nodes = graph.node_list()
        for op, _, _, outs, _ in self.nodes:
            for name, dtype, shape in outs:
                if any(d is None for d in shape):
                    raise NoKernel(f"{op}: %{name} has a data-dependent shape")
                self.types[name] = (dtype, tuple(shape))
        # Values no kernel writes (cuda_layout): value -> (the value it lies
        # in, strides, offset); and the addend each folding linear adds.
        self.views, self.addends = cuda_layout.in_place_reads(self, graph)

    def ctype(self, name: str) -> str:
        dtype = self.types[name][0]
        if dtype not in CTYPE:
            raise NoKernel(f"dtype {dtype}")
        return CTYPE[dtype]

    def shape(self, name: str) -> tuple:
        return self.types[name][1]

    def numel(self, name: str) -> int:
        return math.prod(self.shape(name))

    def scratch(self, name: str, dtype: str, shape=()) -> str:
        self.types[name] = (dtype, tuple(shape))
        self.scratch_values.append(name)
        return name

    # ----- kernels -----

    def map_kernel(self, out_names, shape, reads, expr_lines, results) -> Launch:
        """A kernel over the flat index of `shape`: `reads` are (value name,
        element strides, base offset); `expr_lines(loads)` gives the body's
        statements from one C expression per read; `results` are the C
        expressions stored to each output, in order."""
        params, args = [], []
        for k, (name, _, _) in enumerate(reads):
            params.append(f"const {self.ctype(name)}* a{k}")
            args.append(name)
        for k, name in enumerate(out_names):
            params.append(f"{self.ctype(name)}* r{k}")
            args.append(name)
        index, offsets = index_code(shape, [s for _, s, _ in reads], [b for _, _, b in reads])
        loads = [f"a{k}[{off}]" for k, off in enumerate(offsets)]
        body_lines = index + expr_lines(loads)
        stores = [f"r{k}[i] = {value};" for k, value in enumerate(results)]
        work = math.prod(shape)
        body = [f"JANUS_FOR(i, {work}LL) {{", *("  " + line for line in body_lines + stores), "}"]
        return Launch(self.src.add(params, body), blocks_for(work), args)

    def copy(self, src: str, out: str, strides, base=0) -> Launch:
        """out (contiguous) gets src read at element `strides` from `base`."""
        ct = self.ctype(out)
        return self.map_kernel(
            [out],
            self.shape(out),
            [(src, strides, base)],
            lambda loads: [f"{ct} v = ({ct}){loads[0]};"],
            ["v"],
        )

    def operand_read(self, operand: str, out_shape):
        """(value name, strides broadcasting it to `out_shape`, base offset);
        a split's result is read where it lies in the split's source."""
        strides = broadcast_strides(self.shape(operand), out_shape)
        if operand not in self.views:
            return (operand, strides, 0)
        source, own, base = self.views[operand]
        lead = len(out_shape) - len(own)
        return (source, [0 if s == 0 else own[d - lead] for d, s in enumerate(strides)], base)

    def elementwise(self, op, operands, attrs, out) -> list:
        shape, out_ct = self.shape(out), self.ctype(out)
        reads, exprs = [], []
        for operand in operands:
            if isinstance(operand, tuple):
                value = operand[1]
                ct = literal_type(value)
                exprs.append((literal(value, ct), ct))
            else:
                exprs.append((len(reads), self.ctype(operand)))
                reads.append(self.operand_read(operand, shape))

        def body(loads):
            cexprs = [loads[e] if isinstance(e, int) else e for e, _ in exprs]
            value = elementwise_expr(op, cexprs, [t for _, t in exprs], out_ct, attrs)
            return [f"{out_ct} v = ({out_ct}){value};"]

        return [self.map_kernel([out], shape, reads, body, ["v"])]

    def fused(self, operands, attrs, outs) -> list:
        """One map kernel for the group's elementwise instructions. Reductions
        ending the body (csrc/ir/structural.h; the CPU pipeline makes them)
        run after it as reduction kernels over their operands, which the map
        kernel writes to scratch buffers."""
        body_ops = attrs["body"]
        n_map = len(body_ops)
        while n_map and body_ops[n_map - 1][0] in FUSED_REDUCTIONS:
            n_map -= 1
        pairs_out = list(zip(outs, attrs["results"]))
        mapped = [o for o, r in pairs_out if r < n_map]
        if mapped:
            shape = self.shape(mapped[0])
        else:
            shape = tuple(np.broadcast_shapes(*(self.shape(v) for v in operands)))
        if any(self.shape(o) != shape for o in mapped):
            raise NoKernel("a fused group with results of different shapes")
        reads = []
        for operand in operands:
            in_shape = self.shape(operand)
            if np.broadcast_shapes(in_shape, shape) != shape:
                raise NoKernel("a fused input larger than the group's results")
            reads.append(self.operand_read(operand, shape))
        map_outs = list(mapped)
        results = [f"({self.ctype(o)})t{r}" for o, r in pairs_out if r < n_map]
        folds = []  # (reduced scratch value, output, reduction instruction)
        for o, r in pairs_out:
            if r < n_map:
                continue
            op, _, (ref,), pairs = body_ops[r]
            t = int(ref[1:])
            name = f"{o}_fold{t}"
            if name not in self.types:
                self.scratch(name, body_ops[t][1], shape)
                map_outs.append(name)
                results.append(f"({CTYPE[body_ops[t][1]]})t{t}")
            folds.append((name, o, op, dict(pairs)))

        def body(loads):
            lines, temps = [], []
            for k, (op, dtype, args, pairs) in enumerate(body_ops[:n_map]):
                if op not in ELEMENTWISE and op != "clone":  # (a clone is its operand)
                    raise NoKernel(f"{op} in a fused group")
                exprs, types = [], []
                for a in args:
                    if isinstance(a, str) and a.startswith("in"):
                        j = int(a[2:])
                        exprs.append(loads[j])
                        types.append(self.ctype(operands[j]))
                    elif isinstance(a, str):
                        j = int(a[1:])
                        exprs.append(f"t{j}")
                        types.append(temps[j])
                    elif a is None:
                        continue
                    else:
                        ct = literal_type(a)
                        exprs.append(literal(a, ct))
                        types.append(ct)
                ct = CTYPE[dtype]
                if op == "clone":
                    value = exprs[0]
                else:
                    value = elementwise_expr(op, exprs, types, ct, dict(pairs))
                lines.append(f"{ct} t{k} = ({ct}){value};")
                temps.append(ct)
            return lines

        steps = [self.map_kernel(map_outs, shape, reads, body, results)]
        for name, o, op, pairs in folds:
            steps += self.reduction(name, o, pairs.get("dims"), pairs.get("keepdim", False), op)
        return steps

    @staticmethod
    def view_geometry(shape, view) -> tuple:
        """(shape, element strides, element offset) of `view` (a function of a
        numpy array returning a view of it, or one element) applied to a
        contiguous `shape`; numpy's indexing rules decide. No stand-in holds
        more than one dim's worth of elements, so large tensors cost nothing."""
        nd = len(shape)
        # Every element of `probe` aliases one: reading it is safe, and it
        # tells a view from one element, which numpy returns as a number.
        probe = np.broadcast_to(np.zeros((), np.int64), shape)
        if not isinstance(view(probe), np.ndarray):
            # The element's coordinate along dim d, read through the same
            # indexing from a grid of that dim's indices.
            coords = [
                int(
                    view(
                        np.broadcast_to(
                            np.arange(n).reshape([-1 if k == d else 1 for k in range(nd)]), shape
                        )
                    )
                )
                for d, n in enumerate(shape)
            ]
            return (), [], sum(c * st for c, st in zip(coords, contiguous_strides(shape)))
        # A view's strides and offset are pointer arithmetic on a stand-in
        # that is never read.
        item = 8
        stand_in = np.lib.stride_tricks.as_strided(
            np.zeros(1, np.int64),
            shape=shape,
            strides=[st * item for st in contiguous_strides(shape)],
        )
        v = view(stand_in)
        if v.size == 0:  # (`x[:, :0]`: no element to read)
            return tuple(v.shape), [0] * v.ndim, 0
        if not np.may_share_memory(v, stand_in):
            raise NoKernel("an index that copies")
        offset = (
            v.__array_interface__["data"][0] - stand_in.__array_interface__["data"][0]
        ) // item
        return tuple(v.shape), [st // item for st in v.strides], offset

    def view_copy(self, src: str, out: str, view) -> Launch:
        """out = view(src), a strided read of src."""
        shape, strides, offset = self.view_geometry(self.shape(src), view)
        if shape != self.shape(out):
            raise NoKernel(f"view shape {shape} differs from the graph's {self.shape(out)}")
        return self.copy(src, out, strides, offset)

    def index_basic_backward(self, g: str, out: str, spec) -> list:
        """out = zeros, then out[spec] = g (broadcast to the view)."""
        from ..ops.indexing import _decode

        shape, ct = self.shape(out), self.ctype(out)
        n = math.prod(shape)
        fill = self.src.add([f"{ct}* r0"], [f"JANUS_FOR(i, {n}LL) r0[i] = ({ct})0;"])
        view_shape, strides, offset = self.view_geometry(shape, lambda v: v[_decode(spec, ())])
        index, (dst, src) = index_code(
            view_shape, [strides, broadcast_strides(self.shape(g), view_shape)], [offset, 0]
        )
        work = math.prod(view_shape)
        body = [
            f"JANUS_FOR(i, {work}LL) {{",
            *("  " + line for line in index),
            f"  r0[{dst}] = ({ct})a0[{src}];",
            "}",
        ]
        write = self.src.add([f"const {self.ctype(g)}* a0", f"{ct}* r0"], body)
        return [Launch(fill, blocks_for(n), [out]), Launch(write, blocks_for(work), [g, out])]

    def reduction(self, x, out, dims, keepdim, kind) -> list:
        shape = self.shape(x)
        nd = len(shape)
        dims = (
            list(range(nd))
            if dims is None
            else [d % nd for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
        )
        kept = [d for d in range(nd) if d not in dims]
        strides = contiguous_strides(shape)
        kept_shape = [shape[d] for d in kept]
        red_shape = [shape[d] for d in dims]
        n_out, n_red = math.prod(kept_shape), math.prod(red_shape)
        ct = self.ctype(out)
        acc = "double" if is_float(ct) or kind in ("mean", "norm2") else ct
        if kind in ("all", "any"):
            acc = "bool"
        lowest = "-JANUS_INF" if is_float(acc) else "(-9223372036854775807LL - 1)"
        highest = "JANUS_INF" if is_float(acc) else "9223372036854775807LL"
        # (initial value, fold an element v into acc, merge two partials a and
        # b, final value from acc)
        init, fold, merge, finish = {
            "sum": ("0", "acc + v", "a + b", "acc"),
            "mean": ("0", "acc + v", "a + b", f"acc / {n_red}"),
            "norm2": ("0", "acc + v * v", "a + b", "sqrt(acc)"),
            "prod": ("1", "acc * v", "a * b", "acc"),
            "amax": (lowest, "janus_max(acc, v)", "janus_max(a, b)", "acc"),
            "amin": (highest, "janus_min(acc, v)", "janus_min(a, b)", "acc"),
            "all": ("true", "acc && v", "a && b", "acc"),
            "any": ("false", "acc || v", "a || b", "acc"),
        }[kind]
        out_index, (out_off,) = index_code(
            kept_shape, [[strides[d] for d in kept]], var="o", prefix="ko"
        )
        red_index, (red_off,) = index_code(
            red_shape, [[strides[d] for d in dims]], var="r", prefix="ro"
        )
        body = [
            f"JANUS_SHARED {acc} partial[{BLOCK}];",
            f"for (i64 o = blockIdx.x; o < {n_out}LL; o += gridDim.x) {{",
            *("  " + line for line in out_index),
            f"  {acc} acc = ({acc}){init};",
            f"  for (i64 r = threadIdx.x; r < {n_red}LL; r += blockDim.x) {{",
            *("    " + line for line in red_index),
            f"    {acc} v = ({acc})a0[{out_off} + {red_off}];",
            f"    acc = {fold};",
            "  }",
            *block_fold_lines("acc", acc, merge),
            f"  if (threadIdx.x == 0) {{ acc = partial[0]; r0[o] = ({ct})({finish}); }}",
            "  JANUS_SYNC();",
            "}",
        ]
        params = [f"const {self.ctype(x)}* a0", f"{ct}* r0"]
        return [Launch(self.src.add(params, body), max(1, min(MAX_BLOCKS, n_out)), [x, out])]

    def softmax(self, x, out, dim, log) -> list:
        shape = self.shape(x)
        dim %= len(shape)
        n, inner = shape[dim], math.prod(shape[dim + 1 :])
        rows = math.prod(shape) // n
        ct = self.ctype(out)
        store = "(v - m) - log(s)" if log else "exp(v - m) / s"
        body = [
            f"JANUS_FOR(row, {rows}LL) {{",
            f"  i64 base = (row / {inner}) * {n * inner} + row % {inner};",
            "  double m = -JANUS_INF, s = 0;",
            f"  for (i64 j = 0; j < {n}; ++j) m = janus_max(m, (double)a0[base + j * {inner}]);",
            f"  for (i64 j = 0; j < {n}; ++j) s += exp((double)a0[base + j * {inner}] - m);",
            f"  for (i64 j = 0; j < {n}; ++j) {{",
            f"    double v = a0[base + j * {inner}];",
            f"    r0[base + j * {inner}] = ({ct})({store});",
            "  }",
            "}",
        ]
        params = [f"const {self.ctype(x)}* a0", f"{ct}* r0"]
        return [Launch(self.src.add(params, body), blocks_for(rows), [x, out])]

    def index_add(self, operands, attrs, out) -> list:
        x, index, src = operands
        dim = attrs["dim"] % max(1, len(self.shape(x)))
        alpha = attrs.get("alpha", 1)
        shape = self.shape(x)
        outer, size, inner = math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1 :])
        n = self.numel(index)
        ct = self.ctype(out)
        if ct not in ("float", "double"):
            raise NoKernel("index_add on integers")
        steps = [self.copy(x, out, contiguous_strides(shape))]
        scale = "" if alpha == 1 else f"{literal(alpha, ct)} * "
        # (An index out of range is never written: it flags the run, and the
        # eager op raises. Unchecked, it wrote past the buffer.)
        body = [
            f"JANUS_FOR(i, {outer * n * inner}LL) {{",
            f"  i64 o = i / {n * inner}, j = (i / {inner}) % {n}, k = i % {inner};",
            *("  " + line for line in cuda_gather.checked_index(self, "a1[j]", size)),
            f"  JANUS_ATOMIC_ADD(&r0[(o * {size} + at) * {inner} + k], {scale}a0[i]);",
            "}",
        ]
        params = [f"const {self.ctype(src)}* a0", f"const {self.ctype(index)}* a1", f"{ct}* r0"]
        params.append("int* fl")
        args = [src, index, out, ("flag",)]
        steps.append(Launch(self.src.add(params, body), blocks_for(outer * n * inner), args))
        return steps

    def constant(self, attrs, out) -> list:
        values = np.asarray(attrs["value"]).ravel()
        ct = self.ctype(out)
        n = self.numel(out)
        if values.size not in (1, n) or values.size > 4096:
            raise NoKernel("a large constant")
        table = ", ".join(literal(v.item(), ct) for v in values)
        pick = "0" if values.size == 1 else "i"
        body = [
            f"const {ct} table[{values.size}] = {{{table}}};",
            f"JANUS_FOR(i, {n}LL) r0[i] = table[{pick}];",
        ]
        return [Launch(self.src.add([f"{ct}* r0"], body), blocks_for(n), [out])]

    def philox(self, out: str, attrs: dict, normal: bool) -> list:
        """Random numbers from word `offset` + the call's shift (a value the
        program writes to the ("rng",) slot before each replay) of the
        stream of `seed`: one thread per 4-word block, as the eager kernels
        (kernels/philox.cu) draw them."""
        ct, n = self.ctype(out), self.numel(out)
        if ct not in ("float", "double"):
            raise NoKernel(f"random {ct}")
        seed = int(attrs["seed"]) & (2**64 - 1)
        first = f"(unsigned long long)({int(attrs['offset'])}LL + rng[0]) / 4"  # first block
        block = f"JanusBlock b = janus_philox({seed}ull, {first} + t);"
        scale = f"({ct})(1.0 / 16777216.0)"
        if normal:  # Box-Muller on word pairs, in the element type
            per, lines = 4, [
                "  for (int pair = 0; pair < 2; ++pair) {",
                "    i64 i = 4 * t + 2 * pair; if (i >= n) break;",
                f"    {ct} u1 = ({ct})((b.v[2 * pair] >> 8) + 1) * {scale};",
                f"    {ct} u2 = ({ct})(b.v[2 * pair + 1] >> 8) * {scale};",
                f"    {ct} radius = sqrt(({ct})-2 * log(u1));",
                f"    {ct} angle = ({ct})6.283185307179586476925286766559 * u2;",
                "    r0[i] = radius * cos(angle);",
                "    if (i + 1 < n) r0[i + 1] = radius * sin(angle);",
                "  }",
            ]  # fmt: skip
        elif ct == "float":
            per, lines = 4, [
                "  for (int lane = 0; lane < 4; ++lane) {",
                "    i64 i = 4 * t + lane;",
                f"    if (i < n) r0[i] = (float)(b.v[lane] >> 8) * {scale};",
                "  }",
            ]  # fmt: skip
        else:  # two doubles per block, 53 bits from two words each
            per, lines = 2, [
                "  for (int half = 0; half < 2; ++half) {",
                "    i64 i = 2 * t + half; if (i >= n) break;",
                "    unsigned long long bits = ((unsigned long long)(b.v[2 * half] >> 5) << 26)"
                " + (b.v[2 * half + 1] >> 6);",
                "    r0[i] = (double)bits * (1.0 / 9007199254740992.0);",
                "  }",
            ]  # fmt: skip
        threads = -(-n // per)
        body = [f"const i64 n = {n};", f"JANUS_FOR(t, {threads}LL) {{", "  " + block, *lines, "}"]
        kernel = self.src.add([f"{ct}* r0", "const long long* rng"], body)
        return [Launch(kernel, blocks_for(threads), [out, ("rng",)])]

    def matmul(self, a, b, out, trans_a=False, trans_b=False, beta=0.0) -> list:
        """Steps for out (+)= op(a) @ op(b) with numpy's matmul semantics,
        op(x) = x, or x with its last two dims swapped when transposed (a
        matrix stored transposed, read through cuBLAS's flag). A vector is
        a one-row (a) or one-column (b) matrix, whose dim the result drops
        (the same memory). Batch dims that broadcast otherwise than a 2-D
        operand shared by every batch are expanded into a scratch copy of
        the operand first."""
        sa, sb = self.shape(a), self.shape(b)
        if (len(sa) == 1 and trans_a) or (len(sb) == 1 and trans_b):
            raise NoKernel("matmul of a transposed vector")
        sa = (1, *sa) if len(sa) == 1 else sa
        sb = (*sb, 1) if len(sb) == 1 else sb
        steps = []
        if len(sa) > 2 and len(sb) > 2 and sa[:-2] != sb[:-2]:
            batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
            expanded = []
            for x, shape in ((a, sa), (b, sb)):
                full = (*batch, *shape[-2:])
                if shape != full:
                    wide = self.scratch(f"{out}.{x}.expanded", self.types[x][0], full)
                    steps.append(self.copy(x, wide, broadcast_strides(shape, full)))
                    x, shape = wide, full
                expanded.append((x, shape))
            (a, sa), (b, sb) = expanded
        return steps + [self.gemm(a, b, out, trans_a, trans_b, beta, sa, sb)]

    def gemm(self, a, b, out, trans_a, trans_b, beta, sa, sb) -> Gemm:
        """One (batched) cuBLAS product of a and b, of the matrix shapes sa
        and sb (a 2-D one shared by every batch of the other; otherwise the
        same batch dims)."""
        dtype = self.types[out][0]
        if dtype not in ("f32", "f64") or self.types[a][0] != dtype or self.types[b][0] != dtype:
            raise NoKernel(f"matmul of {self.types[a][0]} and {self.types[b][0]}")
        m, k = (sa[-1], sa[-2]) if trans_a else (sa[-2], sa[-1])
        n = sb[-2] if trans_b else sb[-1]
        if len(sb) == 2 and not trans_a:  # fold a's batch dims into its rows
            m, batch, stride_a, stride_b = math.prod(sa[:-1]), 1, 0, 0
        elif len(sb) == 2:  # a's matrices stored transposed: one product each, b shared
            batch, stride_a, stride_b = math.prod(sa[:-2]), m * k, 0
        elif len(sa) == 2:  # a shared by every batch of b
            batch, stride_a, stride_b = math.prod(sb[:-2]), 0, sb[-2] * sb[-1]
        else:
            batch = math.prod(sa[:-2])
            stride_a, stride_b = m * k, sb[-2] * sb[-1]
        dt = "float32" if dtype == "f32" else "float64"
        return Gemm(
            trans_a, trans_b, m, n, k, batch, stride_a, stride_b, m * n, beta, dt, [a, b, out]
        )

    # ----- dispatch -----

    def node(self, op, operands, attrs, outs) -> list:
        out = outs[0] if outs else None
        values = [o for o in operands if not isinstance(o, tuple)]
        if op == "add" and out in self.views:  # (folded: its linear computes it)
            return []
        if op == "fused":
            return self.fused(values, attrs, outs)
        if op in ELEMENTWISE:
            return self.elementwise(op, operands, attrs, out)
        if op in ("clone", "overwrite"):
            source = operands[-1]
            if isinstance(source, tuple):  # a number (`x[i] = 1.5`, `x.fill_(0)`)
                ct = self.ctype(out)
                value = literal(source[1], ct)
                return [self.map_kernel([out], self.shape(out), [], lambda loads: [], [value])]
            return [self.copy(source, out, broadcast_strides(self.shape(source), self.shape(out)))]
        if op == "tril_mask":  # true on and below diagonal k of the last two dims
            shape = self.shape(out)
            rows, cols = (shape[-2], shape[-1]) if len(shape) >= 2 else (1, shape[-1])
            row, col = f"((i / {cols}) % {rows})", f"(i % {cols})"
            k = int(attrs["k"])
            return [self.map_kernel([out], shape, [], lambda loads: [], [f"{col} - {row} <= {k}"])]
        if op == "to_device":
            # Inside a program every value is in device memory (a CPU input
            # is a host input copied in, a constant is made there): a move to
            # the GPU is a copy. A CPU result cannot come out of a CUDA program.
            if not str(attrs["device"]).startswith("cuda"):
                raise NoKernel(f"a move to {attrs['device']}")
            return [self.copy(values[0], out, contiguous_strides(self.shape(out)))]
        if op == "expand":
            return [
                self.copy(values[0], out, broadcast_strides(self.shape(values[0]), self.shape(out)))
            ]
        if op == "reshape":
            return [self.copy(values[0], out, contiguous_strides(self.shape(out)))]
        if op == "permute":
            dims = attrs["dims"]
            return [self.view_copy(values[0], out, lambda v: v.transpose(dims))]
        if op == "index_basic":
            from ..ops.indexing import _decode

            spec = attrs["spec"]
            return [self.view_copy(values[0], out, lambda v: v[_decode(spec, ())])]
        if op == "index_basic_backward":
            return self.index_basic_backward(values[0], out, attrs["spec"])
        if op == "split":
            if outs[0] in self.views:  # (read in place by every reader)
                return []
            return cuda_layout.split(self, values[0], outs, attrs)
        if op == "cat":
            return cuda_layout.cat(self, values, attrs, out)
        if op in ("sum", "mean", "norm2", "prod", "amax", "amin", "all", "any"):
            return self.reduction(
                values[0], out, attrs.get("dims"), attrs.get("keepdim", False), op
            )
        if op in ("softmax", "log_softmax"):
            return self.softmax(values[0], out, attrs["dim"], op == "log_softmax")
        if op == "nll_loss":
            return cuda_losses.nll_loss(self, _with_none(operands, 3), attrs, out)
        if op == "nll_loss_backward":
            return cuda_losses.nll_loss_backward(self, _with_none(operands, 3), attrs, out)
        if op == "embedding":  # (padding_idx only changes the gradient)
            return cuda_gather.embedding(self, values[0], values[1], out)
        if op in cuda_gather.GATHER_OPS:
            return cuda_gather.lower_gather(self, op, operands, values, attrs, out)
        if op in cuda_windows.CONV_OPS:
            return cuda_windows.lower_conv(self, op, values, attrs, out)
        if op in cuda_lines.LINE_OPS:
            return cuda_lines.lower_line_op(self, op, values, attrs, outs)
        if op in cuda_index.INDEX_OPS:
            return cuda_index.lower_index(self, op, operands, attrs, out)
        if op in cuda_sort.SORT_OPS:
            return cuda_sort.lower_sort(self, op, values, attrs, outs)
        if op == "flip":
            dims = attrs["dims"]
            return [self.view_copy(values[0], out, lambda v: np.flip(v, dims))]
        if op in cuda_windows.POOL_OPS:
            return cuda_windows.lower_pool(self, op, values, attrs, outs)
        if op == "index_add":
            return self.index_add(values, attrs, out)
        if op == "constant":
            return self.constant(attrs, out)
        if op == "matmul":  # (fold_transposes marks operands stored transposed)
            trans_a, trans_b = bool(attrs.get("transpose_a")), bool(attrs.get("transpose_b"))
            return self.matmul(values[0], values[1], out, trans_a, trans_b)
        if op == "einsum":
            return cuda_einsum.einsum(self, values, attrs["equation"], out)
        if op == "linear":
            x, w = values[0], values[1]
            folded = self.addends.get(out)
            if folded is not None:  # out = bias + r, then out += x @ w.T
                shape, ct = self.shape(out), self.ctype(out)
                reads = [self.operand_read(v, shape) for v in (*values[2:], folded)]

                def terms(loads):
                    return [f"{ct} v = {' + '.join(loads)};"]

                init = self.map_kernel([out], shape, reads, terms, ["v"])
                return [init, *self.matmul(x, w, out, trans_b=True, beta=1.0)]
            if len(values) == 3:  # out = bias, then out += x @ w.T
                b = values[2]
                bias = self.copy(b, out, broadcast_strides(self.shape(b), self.shape(out)))
                return [bias, *self.matmul(x, w, out, trans_b=True, beta=1.0)]
            return self.matmul(x, w, out, trans_b=True)
        if op in ("philox_uniform", "philox_normal"):
            return self.philox(out, attrs, op == "philox_normal")
        if op == "assert":
            cond = values[0]
            n = self.numel(cond)
            ident = int(attrs["id"])
            self.asserts[ident] = attrs.get("message", "")
            # Every element must hold. The flag keeps a failed assert's id;
            # the host reads it once after the run (any failure discards the
            # run, so which id wins a race between threads or streams does
            # not matter).
            body = [f"JANUS_FOR(i, {n}LL) if (!a0[i]) r0[0] = {ident};"]
            params = [f"const {self.ctype(cond)}* a0", "int* r0"]
            return [Launch(self.src.add(params, body), blocks_for(n), [cond, ("flag",)])]
        raise NoKernel(op)


def _with_none(operands, n) -> list:
    return list(operands) + [("const", None)] * (n - len(operands))


def lower(graph) -> Lowered:
    """The kernels and steps of `graph` (after the default passes). Raises
    NoKernel naming the first node the CUDA runtime cannot run."""
    low = _Lowering(graph)
    steps = []
    for op, operands, attrs, outs, regions in low.nodes:
        if regions:
            raise NoKernel(f"{op} (control flow)")
        try:
            steps.append(low.node(op, operands, attrs, [o[0] for o in outs]))
        except NoKernel as why:
            raise NoKernel(f"{op}: {why}") from None
    views = {name: source for name, (source, _, _) in low.views.items()}
    return Lowered(
        low.src.text(), steps, low.types, low.src.names, low.asserts, low.scratch_values, views
    )
