"""Several streams against one, on branchy graphs at batch 1 (Nimble's case:
small kernels that leave the GPU idle when run one after another).

    python bench/cuda_streams.py [--block matmul|inception]
                                 [--branches 4] [--width 1024] [--depth 3]

`matmul`: each of the branches is `depth` layers of x @ W then tanh on a
(1, width) input; their results are summed. `inception`: GoogLeNet's
inception (3a) block on a (1, 192, 28, 28) map: a 1x1 convolution, 1x1 then
3x3, 1x1 then 5x5, and 3x3 max pooling then 1x1, concatenated. The same
graph is compiled twice, with the Nimble stream assignment and with one
stream, and each replay is timed (median of 200, synchronized).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def matmul_block(args, rng):
    import janus

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

    title = f"{args.branches} branches x {args.depth} layers, width {args.width}, batch 1"
    return block, [x, *ws], title


# (out channels, in channels, kernel) of the inception (3a) convolutions.
INCEPTION = [(64, 192, 1), (96, 192, 1), (128, 96, 3), (16, 192, 1), (32, 16, 5), (32, 192, 1)]


def inception_block(args, rng):
    import janus
    import janus.nn.functional as F

    x = janus.tensor(rng.standard_normal((1, 192, 28, 28), dtype=np.float32))
    params = []
    for o, c, k in INCEPTION:
        w = rng.standard_normal((o, c, k, k), dtype=np.float32) / np.float32(np.sqrt(c * k * k))
        params.append(janus.tensor(w))
        params.append(janus.tensor(np.zeros(o, np.float32)))

    def block(x, w1, b1, w2a, b2a, w2b, b2b, w3a, b3a, w3b, b3b, w4, b4):
        one = F.conv2d(x, w1, b1).relu()
        three = F.conv2d(F.conv2d(x, w2a, b2a).relu(), w2b, b2b, padding=1).relu()
        five = F.conv2d(F.conv2d(x, w3a, b3a).relu(), w3b, b3b, padding=2).relu()
        pool = F.conv2d(F.max_pool2d(x, 3, 1, 1), w4, b4).relu()
        return janus.cat([one, three, five, pool], 1)

    return block, [x, *params], "inception (3a) block, batch 1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", default="matmul", choices=("matmul", "inception"))
    parser.add_argument("--branches", type=int, default=4)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    import cupy as cp

    import janus
    from janus.jit.cuda_program import CudaProgram

    rng = np.random.default_rng(0)
    make = matmul_block if args.block == "matmul" else inception_block
    block, inputs, title = make(args, rng)
    graph, _ = janus.jit.record(block, *inputs)
    arrays = [cp.asarray(t.numpy()) for t in inputs]
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
        kernels = sum(program.kernel_ms()) * 1e3
        rows[name] = (statistics.median(times) * 1e6, program.replay_ms() * 1e3, kernels,
                      program.n_streams)  # fmt: skip
    print(title)
    for name, (us, replay, kernels, n) in rows.items():
        print(
            f"  {name:16s} {us:8.1f} us per call, {replay:8.1f} us per replay on the GPU "
            f"({n} streams); its kernels alone sum to {kernels:.1f} us"
        )
    multi, one = rows["several streams"], rows["one stream"]
    print(f"  speedup of several streams: {one[0] / multi[0]:.2f}x per call, "
          f"{one[1] / multi[1]:.2f}x per replay")  # fmt: skip


if __name__ == "__main__":
    main()
