"""Dispatch cost of the CPU executor: a graph of 1,000 tiny ops (8 floats
each: elementwise, a reduction, reshapes) run by `janus._C.cpu.Program`,
unfused, so every node is one scheduled kernel. Reports nanoseconds per node
(target: under 100) next to the per-op cost of the same ops issued one by one
from Python through numpy and PyTorch eager, measured in the same run.

    python bench/dispatch.py [--nodes 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import time
import timeit

import numpy as np

from janus import _C

try:
    import torch
except ImportError:  # PyTorch is an optional peer
    torch = None

# One step of the chain: (IR op, constant operand or None, attributes); each
# takes the previous value (and the input %x where the constant is "x").
STEPS = [
    ("add", "x", {}),
    ("mul", 0.5, {}),
    ("relu", None, {}),
    ("sub", "x", {}),
    ("neg", None, {}),
    ("reshape", None, {"shape": (2, 4)}),
    ("amax", None, {"dims": (1,), "keepdim": True}),  # f32[2,1]
    ("expand", None, {"shape": (2, 4)}),
    ("reshape", None, {"shape": (8,)}),
    ("maximum", "x", {}),
]
SHAPE_AFTER = {"reshape": None, "amax": [2, 1], "expand": [2, 4]}


def build_graph(nodes: int):
    g = _C.ir.Graph()
    x = g.add_input("x", "f32", [8])
    value, shape = x, [8]
    for k in range(nodes):
        op, operand, attrs = STEPS[k % len(STEPS)]
        operands = [value] + ([] if operand is None else [x if operand == "x" else operand])
        if op == "reshape":
            shape = list(attrs["shape"])
        elif op in SHAPE_AFTER:
            shape = SHAPE_AFTER[op]
        [value] = g.add_node(op, operands, attrs, [("f32", shape)])
    g.set_outputs([value])
    return g


def numpy_chain(x: np.ndarray, nodes: int) -> np.ndarray:
    v = x
    for k in range(nodes):
        op = STEPS[k % len(STEPS)][0]
        if op == "add":
            v = v + x
        elif op == "mul":
            v = v * 0.5
        elif op == "relu":
            v = np.maximum(v, 0)
        elif op == "sub":
            v = v - x
        elif op == "neg":
            v = -v
        elif op == "reshape":
            v = v.reshape(STEPS[k % len(STEPS)][2]["shape"])
        elif op == "amax":
            v = v.max(axis=1, keepdims=True)
        elif op == "expand":
            v = np.broadcast_to(v, (2, 4))
        else:
            v = np.maximum(v, x)
    return v


def torch_chain(x, nodes: int):
    v = x
    for k in range(nodes):
        op = STEPS[k % len(STEPS)][0]
        if op == "add":
            v = v + x
        elif op == "mul":
            v = v * 0.5
        elif op == "relu":
            v = torch.relu(v)
        elif op == "sub":
            v = v - x
        elif op == "neg":
            v = -v
        elif op == "reshape":
            v = v.reshape(STEPS[k % len(STEPS)][2]["shape"])
        elif op == "amax":
            v = v.amax(dim=1, keepdim=True)
        elif op == "expand":
            v = v.expand(2, 4)
        else:
            v = torch.maximum(v, x)
    return v


def best_seconds(fn, repeat: int) -> float:
    """The fastest of `repeat` timings, in CPU time of this thread: on a shared
    machine wall time also counts the waits for a core (every runner here
    computes on the calling thread)."""
    fn()
    number = max(3, int(0.1 / max(timeit.timeit(fn, number=3, timer=time.thread_time) / 3, 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=repeat, timer=time.thread_time)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    graph = build_graph(args.nodes)
    program = _C.cpu.Program(graph)
    assert program.steps == args.nodes and program.fallback_ops() == []
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    out = np.empty(8, np.float32)
    program.run([x], [out])
    np.testing.assert_allclose(out, numpy_chain(x, args.nodes), rtol=1e-6)

    # The fixed cost of one run() call (argument checks, the GIL), measured on
    # a one-node program, is subtracted so that the figure is per node.
    one = _C.cpu.Program(build_graph(1))
    t_call = best_seconds(lambda: one.run([x], [out]), args.repeat)
    t_run = best_seconds(lambda: program.run([x], [out]), args.repeat)
    per_node = (t_run - t_call) / (args.nodes - 1) * 1e9
    t_numpy = best_seconds(lambda: numpy_chain(x, args.nodes), args.repeat) / args.nodes * 1e9
    print(f"graph: {args.nodes} nodes over f32[8] ({', '.join(s[0] for s in STEPS)}, repeated)")
    print(f"{'runner':34s} {'ns/node':>9s} {'ratio to janus':>15s}")
    print(f"{'janus._C.cpu.Program (unfused)':34s} {per_node:9.1f} {1.0:15.2f}")
    print(f"{'  one run() call, fixed cost':34s} {t_call * 1e9:9.0f} {'(ns per call)':>15s}")
    print(f"{'numpy, op by op from Python':34s} {t_numpy:9.1f} {t_numpy / per_node:15.2f}")
    if torch is not None:
        torch.set_num_threads(1)
        tx = torch.from_numpy(x)
        t_torch = best_seconds(lambda: torch_chain(tx, args.nodes), args.repeat)
        t_torch = t_torch / args.nodes * 1e9
        print(f"{'PyTorch eager, op by op':34s} {t_torch:9.1f} {t_torch / per_node:15.2f}")
    print(f"target: < 100 ns/node: {'met' if per_node < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
