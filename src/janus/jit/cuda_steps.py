"""What a lowered CUDA node is made of: `Launch` (a kernel of the generated
source) and `Gemm` (cuBLAS), and the launch geometry every kernel shares.
Kept apart so the code generator's modules (cuda_codegen.py, cuda_windows.py,
cuda_gather.py) and the program that runs them (cuda_program.py) agree on it."""

from __future__ import annotations

from dataclasses import dataclass

BLOCK = 256  # threads per block of every kernel
MAX_BLOCKS = 4096  # grid-stride loops cover the rest

# The assert id a kernel writes to the flag when an index is out of range.
# The run is discarded and the frame falls back to the eager op, which raises
# PyTorch's error for it.
INDEX_ASSERT = -1
INDEX_ASSERT_MESSAGE = "an index is out of range"


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
