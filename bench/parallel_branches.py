"""Independent branches on the CPU executor's thread pool against the serial
schedule, measured in the same run: a 4-branch Inception-style block and two
independent GEMM chains, recorded from eager runs and compiled with the
default passes. Modes:

- serial: one thread runs the schedule (threads=1); OpenBLAS uses its own
  threads inside each GEMM (its default: one per core);
- parallel: the branches run on `--threads` workers (0: one per core), each
  worker with its share of the cores for OpenBLAS.

Prints the median time per call of each mode and serial / parallel (above 1:
the pool is faster), with both results checked bit for bit. On a machine
whose cores other work also uses, the ratio moves from run to run: repeat.

    python bench/parallel_branches.py [--threads 0] [--repeat 7] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import janus
from janus import _C


def inception_block(batch: int):
    """GoogLeNet's block 3a at a small size: 1x1; 1x1 then 3x3; 1x1 then 5x5;
    3x3 max pool then 1x1; the four concatenated along channels."""
    janus.manual_seed(0)
    nn = janus.nn
    c = 64
    b1 = nn.Sequential(nn.Conv2d(c, 32, 1), nn.ReLU())
    b2 = nn.Sequential(nn.Conv2d(c, 48, 1), nn.ReLU(), nn.Conv2d(48, 64, 3, padding=1), nn.ReLU())
    b3 = nn.Sequential(nn.Conv2d(c, 8, 1), nn.ReLU(), nn.Conv2d(8, 16, 5, padding=2), nn.ReLU())
    b4 = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), nn.Conv2d(c, 16, 1), nn.ReLU())

    def block(x):
        return janus.cat([b1(x), b2(x), b3(x), b4(x)], 1)

    with janus.no_grad():
        graph, _ = janus.jit.record(block, janus.randn(batch, c, 28, 28))
    return graph


def gemm_chains(size: int, depth: int = 4):
    """Two chains of `depth` GEMMs with tanh between, sharing nothing."""
    janus.manual_seed(0)
    weights = [janus.randn(size, size) / size**0.5 for _ in range(2 * depth)]

    def chains(x, y):
        for k in range(depth):
            x = (x @ weights[k]).tanh()
            y = (y @ weights[depth + k]).tanh()
        return x, y

    graph, _ = janus.jit.record(chains, janus.randn(size, size), janus.randn(size, size))
    return graph


def time_call(compiled, arrays, repeat: int, number: int) -> float:
    compiled(*arrays)  # warm-up: first touches of the arena
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            compiled(*arrays)
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def measure(name: str, graph, threads: int, repeat: int) -> None:
    serial = janus.jit.compile_graph(graph, threads=1)
    parallel = janus.jit.compile_graph(graph, threads=threads)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(tuple(v.shape)).astype(np.float32) for v in serial.graph.inputs()]
    want, got = serial(*arrays), parallel(*arrays)
    identical = all(np.array_equal(a, b) for a, b in zip(want, got))
    # Calls per window: about 0.2 s of serial work.
    once = time_call(serial, arrays, 1, 1)
    number = max(1, int(0.2 / max(once, 1e-6)))
    # Alternate the modes so drifting load on a shared machine hits both.
    t_serial, t_parallel = [], []
    for _ in range(repeat):
        t_serial.append(time_call(serial, arrays, 1, number))
        t_parallel.append(time_call(parallel, arrays, 1, number))
    s, p = statistics.median(t_serial), statistics.median(t_parallel)
    mib = 1 / 2**20
    print(
        f"{name}: {serial.graph.node_count()} nodes, {parallel.program.workers} workers, "
        f"arena {serial.program.arena_bytes * mib:.1f} MiB serial / "
        f"{parallel.program.arena_bytes * mib:.1f} MiB parallel"
    )
    print(f"  serial   {s * 1e3:9.3f} ms")
    print(f"  parallel {p * 1e3:9.3f} ms")
    print(f"  serial / parallel: {s / p:.2f}   (bit-identical: {identical})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="workers (0: one per core)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8, help="Inception block batch size")
    parser.add_argument("--gemm", type=int, default=256, help="GEMM chain matrix size")
    args = parser.parse_args()
    threads = args.threads or _C.cpu.get_threads()
    print(
        f"cores: {os.cpu_count()}, workers: {threads}, "
        f"OpenBLAS threads (serial mode): {_C.cpu.get_blas_threads()}"
    )
    measure(
        f"Inception block (batch {args.batch}, 64x28x28)",
        inception_block(args.batch),
        threads,
        args.repeat,
    )
    measure(
        f"two GEMM chains (4 x {args.gemm}^3 each)", gemm_chains(args.gemm), threads, args.repeat
    )


if __name__ == "__main__":
    main()
