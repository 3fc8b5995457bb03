"""What a lowered CUDA node is made of: `Launch` (a kernel of the generated
source) and `Gemm` (cuBLAS), and the launch geometry every kernel shares.
Kept apart so the code generator's modules (cuda_codegen.py, cuda_windows.py,
cuda_gather.py, cuda_lines.py) and the program that runs them
(cuda_program.py) agree on it; also the index arithmetic they share."""

from __future__ import annotations

from dataclasses import dataclass

BLOCK = 256  # threads per block of every kernel
MAX_BLOCKS = 4096  # grid-stride loops cover the rest

# The assert id a kernel writes to the flag when an index is out of range.
# The run is discarded and the frame falls back to the eager op, which raises
# PyTorch's error for it.
INDEX_ASSERT = -1
INDEX_ASSERT_MESSAGE = "an index is out of range"
# ... and when a boolean mask (or nonzero) selects another number of elements
# than the graph, whose shapes are static, was made for (the CPU runtime's
# ShapeSpeculationError): the frame falls back and runs as usual.
COUNT_ASSERT = -2
COUNT_ASSERT_MESSAGE = "a data-dependent shape differs from the one the graph was made for"


@dataclass
class Launch:
    kernel: str
    blocks: int
    args: list  # value names (buffers), or ("flag",) for the assert flag


@dataclass
class Gemm:
    """Row-major C[m, n] = A' @ B' (+ beta * C), A' = A or A.T, B' likewise,
    `batch` times at the given element strides; `offsets` are element offsets
    of A, B and C into their buffers."""

    trans_a: bool
    trans_b: bool
    m: int
    n: int
    k: int
    batch: int
    stride_a: int
    stride_b: int
    stride_c: int
    beta: float
    dtype: str
    args: list  # value names: a, b, c
    offsets: tuple = (0, 0, 0)


def blocks_for(work: int) -> int:
    return max(1, min(MAX_BLOCKS, -(-work // BLOCK)))


def contiguous_strides(shape) -> list:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def broadcast_strides(shape, out_shape) -> list:
    """Element strides that read a contiguous `shape` at each index of
    `out_shape` (numpy broadcasting: right-aligned, size-1 dims repeat)."""
    lead = len(out_shape) - len(shape)
    own = contiguous_strides(shape)
    return [0 if d < lead or shape[d - lead] == 1 else own[d - lead] for d in range(len(out_shape))]


def index_code(shape, operand_strides, bases=None, var="i", prefix="o") -> tuple[list, list]:
    """Code that turns the flat index `var` over `shape` into one element
    offset per operand (strides per operand, one per dim of `shape`; offset
    variables are named `prefix`0, `prefix`1, ...)."""
    bases = bases or [0] * len(operand_strides)
    plain = contiguous_strides(shape)
    offsets = []
    for strides, base in zip(operand_strides, bases):
        # A contiguous read of the whole shape is the flat index itself.
        same = all(s == p or size == 1 for s, p, size in zip(strides, plain, shape))
        offsets.append((f"({base} + {var})" if base else var) if same else None)
    lines = []
    if any(o is None for o in offsets):
        names = [f"{prefix}{k}" for k in range(len(offsets))]
        q = f"q{prefix}"
        lines.append(
            f"i64 {q} = {var}; "
            + " ".join(f"i64 {names[k]} = {bases[k]};" for k, o in enumerate(offsets) if o is None)
        )
        for d in reversed(range(len(shape))):
            if shape[d] == 1:
                continue
            adds = [
                f"{names[k]} += d * {operand_strides[k][d]};"
                for k, o in enumerate(offsets)
                if o is None and operand_strides[k][d]
            ]
            if adds:
                lines.append(f"{{ i64 d = {q} % {shape[d]}; {q} /= {shape[d]}; {' '.join(adds)} }}")
            else:
                lines.append(f"{q} /= {shape[d]};")
        offsets = [names[k] if o is None else o for k, o in enumerate(offsets)]
    return lines, offsets


def block_fold_lines(value: str, acc: str, merge: str) -> list:
    """Kernel lines (indented for a loop body) that store each thread's
    `value` in the shared array `partial` and fold the block's values into
    partial[0], `merge` combining two of them named a and b (of C type
    `acc`). Every thread of the block must run them."""
    return [
        f"  partial[threadIdx.x] = {value};",
        "  JANUS_SYNC();",
        "  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {",
        "    if (threadIdx.x < s) {",
        f"      {acc} a = partial[threadIdx.x], b = partial[threadIdx.x + s];",
        f"      partial[threadIdx.x] = {merge};",
        "    }",
        "    JANUS_SYNC();",
        "  }",
    ]
