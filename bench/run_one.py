"""Runs one workload in one mode, in this process, and prints its result.

    python -m bench.run_one WORKLOAD MODE [--device cpu] [--size small] [--seed 0]

`python -m bench` starts one such process per (workload, mode), so modes do not
share memory peaks, thread pools or compiler caches. Progress goes to stdout
as `progress DONE TOTAL` lines; the last line is the result as JSON: the
timings of `timing.measure`, `peak_memory_mb`, and `status` ("ok",
"unavailable: why", "not supported: why").
"""

from __future__ import annotations

import argparse
import json
import sys

from . import memory, modes, timing, workloads

WARMUP, WINDOWS = 3, 7


def plan(workload, size: str) -> timing.Plan:
    return timing.Plan(WARMUP, WINDOWS, workload.STEPS_PER_WINDOW[size])


def build(workload, mode: str, device: str, size: str, seed: int):
    """The workload's step function in `mode`."""
    modes.check(mode, device)
    modes.check_device(mode, device)
    if mode == "jax-jit":
        return workload.build_jax(workload.SIZES[size], seed)
    F = modes.framework(mode)
    F.manual_seed(seed)
    return workload.build(F, workload.SIZES[size], device, modes.compiler(mode), seed)


def run(
    name: str,
    mode: str,
    device: str = "cpu",
    size: str = "small",
    seed: int = 0,
    progress=lambda done, total: None,
) -> dict:
    workload = workloads.get(name)
    try:
        step = build(workload, mode, device, size, seed)
    except modes.Unavailable as e:
        return {"status": f"unavailable: {e}"}
    except modes.Unsupported as e:
        return {"status": f"not supported: {e}"}
    memory.reset(modes.package(mode), device)
    result = timing.measure(step, plan(workload, size), progress)
    result["peak_memory_mb"] = memory.peak_mb(modes.package(mode), device)
    result["status"] = "ok"
    if mode == "janus-jit":
        _describe_janus_jit(result)
    return result


def _describe_janus_jit(result: dict) -> None:
    """Adds what janus's JIT compiled; a run in which some step function got
    no graph at all ran (partly) eagerly, so its time is not the JIT's."""
    if modes.fallback_ops() is not None:
        result["fallback_ops"] = modes.fallback_ops()
    summary = modes.jit_summary()
    if summary is None:
        return
    result["jit"] = summary
    if summary["functions_without_graph"]:
        why = summary["first_reason"] or "no graph"
        result["status"] = f"not supported: janus.jit ran a step function eagerly ({why})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=workloads.NAMES)
    parser.add_argument("mode", choices=modes.MODES)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", default="small", choices=("small", "large"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def progress(done, total):
        print(f"progress {done} {total}", flush=True)

    result = run(args.workload, args.mode, args.device, args.size, args.seed, progress)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
