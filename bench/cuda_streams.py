"""Several streams against one, on a branchy graph at batch 1 (Nimble's case:
small kernels that leave the GPU idle when run one after another).

    python bench/cuda_streams.py [--branches 4] [--width 1024] [--depth 3]

Each of the branches is `depth` layers of x @ W then tanh on a (1, width)
input; their results are summed. The same graph is compiled twice, with the
Nimble stream assignment and with one stream, and each replay is timed
(median of 200, synchronized). An Inception-style convolution block waits
for the CUDA runtime's convolution kernels.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=4)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    import cupy as cp

    import janus
    from janus.jit.cuda_program import CudaProgram

    rng = np.random.default_rng(0)
    x = janus.tensor(rng.standard_normal((1, args.width), dtype=np.float32))
    ws = [
        janus.tensor(rng.standard_normal((args.width, args.width), dtype=np.float32) * 0.03)
        for _ in range(args.branches * args.depth)
    ]

    def block(x, *ws):
        total = None
        for b in range(args.branches):
            h = x
            for d in range(args.depth):
                h = (h @ ws[b * args.depth + d]).tanh()
            total = h if total is None else total + h
        return total

    graph, _ = janus.jit.record(block, x, *ws)
    arrays = [cp.asarray(t.numpy()) for t in (x, *ws)]
    rows = {}
    for name, streams in (("several streams", True), ("one stream", False)):
        program = CudaProgram(graph, streams=streams)
        for _ in range(5):
            program.call(arrays)
        cp.cuda.Device().synchronize()
        times = []
        for _ in range(args.calls):
            start = time.perf_counter()
            program.call(arrays)
            cp.cuda.Device().synchronize()
            times.append(time.perf_counter() - start)
        rows[name] = (statistics.median(times) * 1e6, program.n_streams)
    print(f"{args.branches} branches x {args.depth} layers, width {args.width}, batch 1")
    for name, (us, n) in rows.items():
        print(f"  {name:16s} {us:8.1f} us per call ({n} streams)")
    speedup = rows["one stream"][0] / rows["several streams"][0]
    print(f"  speedup of several streams: {speedup:.2f}x")


if __name__ == "__main__":
    main()
