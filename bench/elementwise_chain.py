"""A chain of 10 elementwise ops on 1M float32, fused by the CPU runtime into
one pass over memory, against the same chain in numpy (one pass and one new
array per op), numpy with preallocated `out=` buffers, the unfused janus
program, and PyTorch eager, all measured in the same run.

    python bench/elementwise_chain.py [--size 1000000] [--repeat 15]

Three chains of 10 ops: "epilogue" (scale and shift, relu, products with the
input, abs, maximum, clamp: cheap ops, where the cost is memory traffic),
"sqrt_div" (the same kind with a square root and a division, whose vector
throughput on this CPU dominates the fused loop and numpy alike) and
"transcendental" (tanh and exp, which the fused loop computes with its AVX2 +
FMA vector functions where the CPU has them, else with the C library's
scalar ones) and "mean_of_squares" (9 cheap ops and a mean, which ends the
fused group: the kernel folds each chunk into the mean and writes no
array, but runs on one thread, as a split would change the summation order).
The fused kernel splits its chunks across the program's threads
(`janus._C.cpu.set_threads`, by default one per core); the one-thread row
shows what fusion alone gives. PyTorch runs with its default threads.
Times are wall clock, the best of interleaved windows.
Target: fused >= 3x numpy.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import janus
from janus import _C

try:
    import torch
except ImportError:  # PyTorch is an optional peer
    torch = None


def epilogue(x, m):
    """10 ops; `m` is the module of maximum/abs/... (janus, numpy or torch)."""
    y = x * 1.5 + 0.5
    y = np.maximum(y, 0) if m is np else y.relu()
    y = m.abs(y * x - 0.25)
    y = m.maximum(y, x) * 0.75 - x
    return m.clip(y, -0.5, 0.5) if m is np else y.clamp(-0.5, 0.5)


def sqrt_div(x, m):
    y = x * 1.5 + 0.5
    y = np.maximum(y, 0) if m is np else y.relu()
    y = m.abs(y * x - 0.25)
    y = m.sqrt(y) / 3.0
    y = m.maximum(y, x)
    return m.clip(y, -0.5, 0.5) if m is np else y.clamp(-0.5, 0.5)


def transcendental(x, m):
    y = x * 1.5 + 0.5
    y = m.tanh(y) * x - 0.25
    y = m.exp(y * 0.5)
    y = m.maximum(y / 3.0, x)
    return m.clip(y, -0.5, 0.5) if m is np else y.clamp(-0.5, 0.5)


def mean_of_squares(x, m):
    """9 elementwise ops and a mean: the reduction ends the fused group, so
    the squares are never written to memory."""
    y = x * 1.5 + 0.5
    y = m.abs(y * x - 0.25)
    d = m.maximum(y, x) * 0.75 - x
    return (d * d).mean()


def _abs_of_product(buf: np.ndarray, x: np.ndarray) -> None:
    """buf = |buf * x - 0.25|, in place (`m.abs(y * x - 0.25)`)."""
    np.multiply(buf, x, out=buf)
    np.subtract(buf, 0.25, out=buf)
    np.abs(buf, out=buf)


def _blend(buf: np.ndarray, x: np.ndarray) -> None:
    """buf = max(buf, x) * 0.75 - x, in place."""
    np.maximum(buf, x, out=buf)
    np.multiply(buf, 0.75, out=buf)
    np.subtract(buf, x, out=buf)


def numpy_out(chain: str, x: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """The same chain with every result written into one preallocated buffer."""
    np.multiply(x, 1.5, out=buf)
    np.add(buf, 0.5, out=buf)
    if chain == "mean_of_squares":
        _abs_of_product(buf, x)
        _blend(buf, x)
        np.multiply(buf, buf, out=buf)
        return buf.mean()
    if chain == "epilogue":
        np.maximum(buf, 0, out=buf)
        _abs_of_product(buf, x)
        _blend(buf, x)
        return np.clip(buf, -0.5, 0.5, out=buf)
    if chain == "sqrt_div":
        np.maximum(buf, 0, out=buf)
        _abs_of_product(buf, x)
        np.sqrt(buf, out=buf)
    else:
        np.tanh(buf, out=buf)
        np.multiply(buf, x, out=buf)
        np.subtract(buf, 0.25, out=buf)
        np.multiply(buf, 0.5, out=buf)
        np.exp(buf, out=buf)
    np.divide(buf, 3.0, out=buf)
    np.maximum(buf, x, out=buf)
    return np.clip(buf, -0.5, 0.5, out=buf)


def best_ms(runners: dict, repeat: int) -> dict:
    """The fastest wall-clock ms per call of each runner, over `repeat` windows
    of each taken in turn (so a change in the machine's speed reaches every
    runner alike; the fused kernel splits across the cores, so the calling
    thread's CPU time would undercount it). A runner is (fn, threads): the
    janus program thread count it runs with."""
    numbers = {}
    for name, (fn, threads) in runners.items():
        _C.cpu.set_threads(threads)
        fn()
        numbers[name] = max(3, int(0.1 / max(timeit.timeit(fn, number=1), 1e-7)))
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(repeat):
        for name, (fn, threads) in runners.items():
            _C.cpu.set_threads(threads)
            ms = timeit.timeit(fn, number=numbers[name]) / numbers[name] * 1e3
            best[name] = min(best[name], ms)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    x = np.random.default_rng(0).uniform(-1, 1, args.size).astype(np.float32)
    buf = np.empty_like(x)
    chains = [
        ("epilogue", epilogue),
        ("sqrt_div", sqrt_div),
        ("transcendental", transcendental),
        ("mean_of_squares", mean_of_squares),
    ]
    for name, chain in chains:
        rec = janus.jit.recording(lambda t, c=chain: c(t, janus), janus.tensor(x))
        ops = rec.graph.node_count()
        fused = janus.jit.compile_graph(rec.graph)
        unfused = janus.jit.compile_graph(rec.graph, passes=["simplify", "cse", "dce"])
        assert fused.graph.node_count() == 1 and fused.fallback_ops() == []
        want = chain(x, np)
        np.testing.assert_allclose(fused(x)[0], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(numpy_out(name, x, buf), want, rtol=1e-5, atol=1e-6)
        threads = _C.cpu.get_threads()
        runners = {
            f"janus fused (1 node, {threads} thr)": (lambda f=fused: f(x), threads),
            "janus fused, 1 thread": (lambda f=fused: f(x), 1),
            f"janus unfused ({ops} nodes)": (lambda f=unfused: f(x), threads),
            "numpy": (lambda c=chain: c(x, np), threads),
            "numpy, out= buffers": (lambda n=name: numpy_out(n, x, buf), threads),
        }
        if torch is not None:
            tx = torch.from_numpy(x)
            runners["PyTorch eager"] = (lambda c=chain, t=tx: c(t, torch), threads)
        times = best_ms(runners, args.repeat)
        _C.cpu.set_threads(threads)
        base = next(iter(times.values()))
        print(f"\nchain '{name}': {ops} ops on {args.size:,} float32")
        print(f"{'runner':30s} {'ms':>8s} {'time / fused':>13s}")
        for runner, ms in times.items():
            print(f"{runner:30s} {ms:8.3f} {ms / base:13.2f}")


if __name__ == "__main__":
    main()
