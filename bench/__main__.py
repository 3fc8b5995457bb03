"""The benchmark suite: every workload in every mode, against PyTorch eager.

    python -m bench [--workload NAME ...] [--mode MODE ...] [--device cpu|cuda]
                    [--size small|large] [--out DIR] [--no-chart]

Each (workload, mode) runs in its own process (`bench/run_one.py`). Prints
Markdown tables (ms/iter, time relative to PyTorch eager, first-call and
start-up cost, peak memory, loss after the same steps) and writes them with
the JSON results and a bar chart (PNG) to DIR. Exits with status 1 when a
run failed or a loss disagrees with the reference.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from . import chart, machine, modes, report, workloads
from .progress import ProgressBar


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--workload", nargs="+", choices=workloads.NAMES, default=workloads.NAMES)
    parser.add_argument("--mode", nargs="+", choices=modes.MODES, default=modes.MODES)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", default="small", choices=("small", "large"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per framework (default 1: stable ratios on a shared machine; "
        "0 keeps each library's default)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=180,
        help="seconds one (workload, mode) run may take before it is stopped (default 180)",
    )
    parser.add_argument("--no-chart", action="store_true")
    return parser.parse_args(argv)


def thread_env(threads: int) -> dict:
    """Environment variables that limit numpy's BLAS, PyTorch and XLA to
    `threads` threads (none for 0)."""
    if threads <= 0:
        return {}
    n = str(threads)
    env = {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}
    if threads == 1:  # XLA's CPU client has no flag for another count
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def _error_line(stderr: str) -> str | None:
    """The exception line of a traceback in `stderr` (warnings come after it)."""
    lines = stderr.strip().splitlines()
    headers = [k for k, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if headers:  # the last traceback is the exception that ended the run
        tail = lines[headers[-1] + 1 :]
        tail = [line for line in tail if line and not line[0].isspace()]
        return tail[0] if tail else None
    return lines[-1] if lines else None


def run_child(workload: str, mode: str, args, on_progress) -> dict:
    """Runs `bench.run_one` in a fresh process; returns its result record."""
    command = [sys.executable, "-m", "bench.run_one", workload, mode]
    command += ["--device", args.device, "--size", args.size, "--seed", str(args.seed)]
    env = dict(os.environ, **thread_env(args.threads))
    # Compilers start cold, as on a user's first run: no on-disk cache from
    # an earlier run (Inductor keeps one in /tmp by default).
    cache = tempfile.TemporaryDirectory(prefix="bench-cache-")
    env["TORCHINDUCTOR_CACHE_DIR"] = env["TRITON_CACHE_DIR"] = cache.name
    if mode == "jax-jit" and args.device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    # stderr to a file: a pipe nobody reads while stdout is read could fill up
    # (compilers log a lot) and block the child.
    stderr = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=root
    )
    watchdog = threading.Timer(args.time_limit, process.kill)
    watchdog.start()
    result, done, total = None, 0, 0
    try:
        for line in process.stdout:
            if line.startswith("progress "):
                done, total = map(int, line.split()[1:])
                on_progress(done / total)
            elif line.startswith("{"):
                result = json.loads(line)
        code = process.wait()
        stderr.seek(0)
        errors = stderr.read()
    finally:
        timed_out = not watchdog.is_alive() and result is None
        watchdog.cancel()
        stderr.close()
        cache.cleanup()
    if timed_out:
        steps = f"{done} of {total} steps done" if total else "in the first call"
        result = {"status": f"timeout: stopped after {args.time_limit:.0f} s, {steps}"}
    elif code != 0 or result is None:
        result = {"status": f"error: {_error_line(errors) or f'exit status {code}'}"}
    return {"workload": workload, "mode": mode, **result}


def run_all(args) -> list:
    """One record per (workload, mode), in that order; unavailable modes are
    recorded without starting a process."""
    records = []
    jobs = []
    for workload in args.workload:
        for mode in args.mode:
            try:
                modes.check(mode, args.device)
                jobs.append((workload, mode))
            except modes.Unavailable as e:
                records.append({"workload": workload, "mode": mode, "status": f"unavailable: {e}"})
    bar = ProgressBar(len(jobs))
    for k, (workload, mode) in enumerate(jobs):
        label = f"{workload} / {mode}"
        bar.show(k, label)
        record = run_child(workload, mode, args, lambda f, k=k, label=label: bar.show(k + f, label))
        records.append(record)
        summary = f"{record['ms_per_iter']:.2f} ms/iter" if record["status"] == "ok" else ""
        bar.log(f"{label}: {summary or record['status']}")
    bar.close()
    position = {pair: i for i, pair in enumerate(itertools.product(args.workload, args.mode))}
    return sorted(records, key=lambda r: position[(r["workload"], r["mode"])])


def write_outputs(args, text: str, records: list, info: dict, reference, command: str) -> None:
    """The tables (.md), the JSON and the chart (.png) under args.out."""
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.device}-{args.size}"
    stem.with_suffix(".md").write_text(text + "\n")
    settings = {
        "device": args.device,
        "size": args.size,
        "seed": args.seed,
        "threads": args.threads,
        "command": command,
    }
    report.write_json(stem.with_suffix(".json"), records, info, settings)
    written = [stem.with_suffix(".md"), stem.with_suffix(".json")]
    if reference and not args.no_chart:
        title = f"janus benchmarks ({args.device}, {args.size})"
        if chart.save(stem.with_suffix(".png"), records, reference, title):
            written.append(stem.with_suffix(".png"))
    print("\nwrote " + ", ".join(str(p) for p in written), file=sys.stderr)


def main(argv=None) -> int:
    args = parse(argv)
    records = run_all(args)
    tolerances = {
        w: getattr(workloads.get(w), "TOLERANCE", report.DEFAULT_TOLERANCE) for w in args.workload
    }
    reference = report.annotate(records, tolerances)
    info = machine.describe()
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = report.markdown(records, reference, machine.summary(info), command.strip())
    print(text)
    write_outputs(args, text, records, info, reference, command.strip())
    bad = report.failures(records)
    for r in bad:
        why = (
            r["status"]
            if r["status"] != "ok"
            else f"loss {r['loss']:.5f} disagrees with {reference}"
        )
        print(f"FAILED {r['workload']} / {r['mode']}: {why}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
