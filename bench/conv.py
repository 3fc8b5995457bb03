"""conv2d forward and backward (input, weight and bias gradients): janus's
CPU executor (the recorded graph, compiled: im2col plus OpenBLAS GEMM) against
janus eager (numpy) and PyTorch's CPU eager mode when it is installed, on a
LeNet layer and two ResNet-block shapes, measured in the same run.

    python bench/conv.py [--repeat 5] [--shapes lenet_conv2 ...]

Prints milliseconds per forward+backward step (the fastest repeat) and the ratios eager / compiled
and torch / compiled (> 1 means the compiled janus graph is faster). Every
library runs on OPENBLAS_NUM_THREADS threads (1 unless set): OpenBLAS's
threads spin while they wait, which on a small shared machine can make one
product 15x slower than on one thread.
"""

from __future__ import annotations

import os

# Before numpy, janus (both load OpenBLAS) and torch are imported.
THREADS = int(os.environ.setdefault("OPENBLAS_NUM_THREADS", "1"))

import argparse  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

import janus  # noqa: E402

try:
    import torch

    torch.set_num_threads(THREADS)
except ImportError:  # the PyTorch column is left out
    torch = None

SHAPES = {
    # name: (input N, C, H, W), (out channels, kernel), stride, padding
    "lenet_conv1": ((64, 1, 28, 28), (6, 5), 1, 2),
    "lenet_conv2": ((64, 6, 14, 14), (16, 5), 1, 0),
    "resnet_56x56x64": ((8, 64, 56, 56), (64, 3), 1, 1),
    "resnet_14x14x256": ((8, 256, 14, 14), (256, 3), 1, 1),
    "resnet_down_28x28": ((8, 128, 56, 56), (128, 3), 2, 1),
}


def time_ms(fn, repeat: int) -> float:
    fn()
    number = max(1, int(0.2 / max(timeit.timeit(fn, number=1), 1e-7)))
    # The fastest repeat: on a shared machine the others measure the neighbours.
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e3


def step(lib, stride, padding):
    """conv2d with bias, then the gradients of <y, gy> for x, w and b."""

    def run(x, w, b, gy):
        y = lib.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)
        return (y, *lib.autograd.grad(y, (x, w, b), gy))

    return run


def bench_shape(name: str, repeat: int, rng) -> str:
    """One table row: the step on janus compiled, janus eager and PyTorch."""
    (n, c, h, w), (o, k), stride, padding = SHAPES[name]
    arrays = [
        rng.standard_normal((n, c, h, w)).astype(np.float32),
        (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32),
        rng.standard_normal(o).astype(np.float32),
    ]
    tensors = [janus.tensor(a, requires_grad=True) for a in arrays]
    y_shape = janus.nn.functional.conv2d(*tensors, stride=stride, padding=padding).shape
    gy = janus.tensor(rng.standard_normal(tuple(y_shape)).astype(np.float32))
    fn = step(janus, stride, padding)
    rec = janus.jit.recording(fn, *tensors, gy)
    compiled = janus.jit.compile_graph(rec.graph)
    assert not compiled.fallback_ops(), compiled.fallback_ops()
    # The graph's inputs: x, w, b, gy, then what it captured (autograd's copy of gy).
    feed = rec.input_arrays
    got = compiled(*feed)
    for g, want in zip(got, fn(*tensors, gy)):
        np.testing.assert_allclose(g, want.detach().numpy(), rtol=1e-3, atol=1e-3)
    t_comp = time_ms(lambda: compiled(*feed), repeat)
    t_eager = time_ms(lambda: fn(*tensors, gy), repeat)
    line = f"{name:18s} {t_comp:9.2f} {t_eager:9.2f} {t_eager / t_comp:11.2f}"
    if torch:
        tt = [torch.tensor(a, requires_grad=True) for a in arrays]
        tgy = torch.tensor(gy.numpy())
        tfn = step(torch, stride, padding)
        for g, want in zip(got, tfn(*tt, tgy)):
            np.testing.assert_allclose(g, want.detach().numpy(), rtol=1e-3, atol=1e-3)
        t_torch = time_ms(lambda: tfn(*tt, tgy), repeat)
        line += f" {t_torch:9.2f} {t_torch / t_comp:11.2f}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    peer = f"PyTorch {torch.__version__}" if torch else "PyTorch not installed"
    print(
        f"conv2d forward + backward, float32, ms per step (fastest of {args.repeat}), "
        f"{THREADS} thread(s), {peer}"
    )
    header = f"{'shape':18s} {'compiled':>9s} {'eager':>9s} {'eager/comp':>11s}"
    print(header + (f" {'torch':>9s} {'torch/comp':>11s}" if torch else ""))
    rng = np.random.default_rng(0)
    for name in args.shapes:
        print(bench_shape(name, args.repeat, rng), flush=True)


if __name__ == "__main__":
    main()
