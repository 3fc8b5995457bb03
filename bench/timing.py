"""Timing one workload in one mode: the first call (where most compilers
compile), a warm-up, then several timed windows of the same number of steps.

Every mode runs the same steps on the same data, so the loss after the last
step must agree across modes. A step's loss is read back (`.item()`) at the
end of each window, which also waits for asynchronous work (JAX, CUDA).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    warmup: int  # steps after the first call, untimed
    windows: int  # timed windows
    window: int  # steps per window

    @property
    def steps(self) -> int:
        return 1 + self.warmup + self.windows * self.window


def measure(step, plan: Plan, progress=lambda done, total: None) -> dict:
    """Runs step(0), ..., step(plan.steps - 1); returns the timings (ms) and
    the last loss."""
    i, clock = 0, time.perf_counter
    start = clock()
    loss = step(i).item()
    first = clock() - start
    progress(1, plan.steps)
    for i in range(1, 1 + plan.warmup):
        loss = step(i)
    loss = loss.item() if plan.warmup else loss
    warm = clock() - start
    progress(i + 1, plan.steps)
    times = []
    for _ in range(plan.windows):
        begin = clock()
        for _ in range(plan.window):
            i += 1
            loss = step(i)
        loss = loss.item()
        times.append((clock() - begin) / plan.window * 1e3)
        progress(i + 1, plan.steps)
    median = statistics.median(times)
    return {
        "ms_per_iter": median,
        "ms_min": min(times),
        "ms_max": max(times),
        "spread": (max(times) - min(times)) / 2 / median,
        "first_call_ms": first * 1e3,
        # Time to reach steady speed beyond the steady cost of those steps:
        # compile cost wherever it happens (a trace compiles on a later call).
        "startup_ms": max(0.0, warm * 1e3 - (1 + plan.warmup) * median),
        "loss": float(loss),
        "steps": plan.steps,
    }
