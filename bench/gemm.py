"""GEMM of the CPU runtime (janus._C, through scipy-openblas64) against numpy's
matmul, on the shapes of an LSTM step and of MLP layers, in the same run.

    python bench/gemm.py [--rounds 3]

Prints microseconds per product and numpy / janus (>= 1 means janus is as fast).
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

from janus import _C

SHAPES = {
    # (m, k, n): LSTM step with batch 20, hidden 256: x @ W_ih.T and h @ W_hh.T.
    "lstm_step_ih": (20, 256, 1024),
    "lstm_step_hh": (20, 256, 1024),
    "lstm_head": (20, 256, 10000),
    "mlp_layer_small": (64, 784, 256),
    "mlp_layer_large": (256, 1024, 1024),
}


def time_us(fns, rounds: int, windows: int = 5) -> list[float]:
    """The fastest microseconds per call of each of `fns` over `rounds` blocks
    of `windows` timing windows each, the blocks taken in turn (a change in
    the machine's speed reaches every runner alike). Blocks, not single
    windows, alternate: numpy and janus each have their own OpenBLAS, whose
    idle threads spin for a while after a product and slow the other's
    threads; the fastest window of a block is past that."""
    numbers = []
    for fn in fns:
        fn()
        numbers.append(max(3, int(0.05 / max(timeit.timeit(fn, number=3) / 3, 1e-7))))
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for k, (fn, number) in enumerate(zip(fns, numbers)):
            for _ in range(windows):
                best[k] = min(best[k], timeit.timeit(fn, number=number) / number * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not _C.build_info()["blas"]:
        print("janus._C was built without BLAS: the figures below use the fallback loops")
    rng = np.random.default_rng(0)
    print(
        f"{'shape':18s} {'m x k x n':>18s} {'numpy us':>10s} {'janus us':>10s} {'numpy/janus':>12s}"
    )
    for name, (m, k, n) in SHAPES.items():
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        np.testing.assert_allclose(_C.matmul_2d(a, b), a @ b, rtol=1e-4, atol=1e-3)
        runners = [lambda a=a, b=b: a @ b, lambda a=a, b=b: _C.matmul_2d(a, b)]
        t_np, t_j = time_us(runners, args.rounds)
        print(f"{name:18s} {f'{m}x{k}x{n}':>18s} {t_np:10.1f} {t_j:10.1f} {t_np / t_j:12.2f}")


if __name__ == "__main__":
    main()
