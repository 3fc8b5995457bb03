"""Where a compiled training step spends its time: each compiled program of a
bench/jit_step.py workload run with per-step timing on, totals by op kind
and the slowest nodes, against the step's wall time.

    python bench/profile_step.py [--workload lstm_lm] [--steps 20] [--top 15]
    python bench/profile_step.py --without fold_transposes
    python bench/profile_step.py --suite resnet

`--suite NAME` profiles a workload of the benchmark suite (`python -m
bench`, bench/workloads/) at its small size instead.

Profiled runs take the serial schedule; the wall-time line is measured in the
same run with profiling off, so "outside the programs" is guards, input
reads, commits and the Python pieces of split frames. `--without PASS`
instead times each compiled step graph compiled with every default pass
against the same graph compiled without PASS, in interleaved windows on the
same inputs (a pass's worth, measured in one run).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time

from jit_step import WORKLOADS, _weights

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # (`bench.*`)


def compiled_programs():
    from janus.jit import frontend

    for report in frontend.reports.values():
        for translation in report.compiles:
            entry = translation.entry
            if entry is not None and getattr(entry, "program", None) is not None:
                yield report.name, entry.program.program
    from bench import modes  # (the suite's step functions, compiled by janus.jit.jit)

    for function in modes.janus_compiled:
        for _, entry in getattr(function, "entries", ()):
            if getattr(entry, "program", None) is not None:
                yield getattr(function, "__name__", "step"), entry.program.program


def suite_step(janus, name: str):
    """A step of the suite's workload `name` (small size, CPU), compiled by
    janus-jit, as a function of no arguments."""
    import itertools

    from bench import modes, workloads

    workload = workloads.get(name)
    janus.manual_seed(0)
    step = workload.build(janus, workload.SIZES["small"], "cpu", modes.compiler("janus-jit"), 0)
    counter = itertools.count()
    return lambda: step(next(counter))


def compare_without(pass_name: str, windows: int = 15, runs: int = 10) -> None:
    import numpy as np

    from janus import _C
    from janus.jit import frontend
    from janus.jit.program import _NUMPY, compile_graph

    everything = _C.ir.pass_names()
    if pass_name not in everything:
        raise SystemExit(f"unknown pass {pass_name!r}: one of {everything}")
    rng = np.random.default_rng(0)
    for report in frontend.reports.values():
        for translation in report.compiles:
            entry = translation.entry
            if entry is None or getattr(entry, "program", None) is None:
                continue
            with_pass = compile_graph(entry.graph)
            without = compile_graph(entry.graph, [p for p in everything if p != pass_name])
            arrays = []
            for v in with_pass.graph.inputs():  # indices 0: in range for any gather
                dtype = _NUMPY[v.dtype]
                floats = np.issubdtype(dtype, np.floating)
                data = rng.standard_normal(v.shape) if floats else np.zeros(v.shape)
                arrays.append(np.asarray(data, dtype))
            times = {"with": [], "without": []}
            for _ in range(windows):
                for label, program in (("with", with_pass), ("without", without)):
                    start = time.perf_counter()
                    for _ in range(runs):
                        program(*arrays)
                    times[label].append((time.perf_counter() - start) / runs)
            a, b = (statistics.median(times[k]) for k in ("with", "without"))
            print(
                f"{report.name}: {a * 1e3:.2f} ms with {pass_name}, {b * 1e3:.2f} ms without "
                f"({b / a:.2f}x), {without.graph.node_count() - with_pass.graph.node_count()} "
                "fewer nodes"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="lstm_lm", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--without", metavar="PASS", help="time the step graphs without PASS")
    parser.add_argument("--suite", metavar="NAME", help="a workload of `python -m bench`")
    args = parser.parse_args()
    import janus

    if args.suite:
        step, make_args = suite_step(janus, args.suite), tuple
        args.workload = args.suite
    else:
        build = WORKLOADS[args.workload]
        weights = _weights(janus, build)
        model, step, inputs = build(janus)
        model.load_state_dict({k: janus.tensor(v) for k, v in weights.items()})
        make_args = inputs if callable(inputs) else (lambda: inputs)
    for _ in range(5):  # compiles on the second call
        step(*make_args())
    if args.without:
        compare_without(args.without)
        return

    start = time.perf_counter()
    for _ in range(args.steps):
        step(*make_args())
    wall = (time.perf_counter() - start) / args.steps

    programs = list(compiled_programs())
    for _, program in programs:
        program.set_profiling(True)
    for _ in range(args.steps):
        step(*make_args())
    by_op, nodes, inside = collections.Counter(), [], 0.0
    for name, program in programs:
        for op, outputs, seconds in program.profile():
            per_step = seconds / args.steps
            by_op[op] += per_step
            nodes.append((per_step, name, op, outputs))
            inside += per_step
        program.set_profiling(False)

    print(f"{args.workload}: {len(programs)} compiled programs, {wall * 1e3:.2f} ms/step wall")
    print(f"  inside programs (serial, profiled): {inside * 1e3:.2f} ms/step")
    print(f"  outside programs: {(wall - inside) * 1e3:.2f} ms/step (or overlap if negative)")
    print("\nby op kind (ms/step, share of time inside programs):")
    for op, seconds in by_op.most_common(args.top):
        print(f"  {op:28s} {seconds * 1e3:8.3f}  {seconds / inside:6.1%}")
    print("\nslowest nodes (ms/step):")
    for seconds, _name, op, outputs in sorted(nodes, reverse=True)[: args.top]:
        print(f"  {seconds * 1e3:8.3f}  {op:24s} {', '.join(outputs)[:70]}")


if __name__ == "__main__":
    main()
