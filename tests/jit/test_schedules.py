"""Learning-rate schedules and other numbers that change from call to call,
differentially: a scheduler stepped inside or outside the compiled step,
and hyperparameters that are data of each call."""

from __future__ import annotations

import numpy as np
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn


def _batch(seed=0):
    g = np.random.default_rng(seed)
    return janus.tensor(g.standard_normal((6, 4), np.float32)), janus.tensor(
        g.standard_normal((6, 2), np.float32)
    )


def _observed(model, opt, sched=None):
    def observed():
        seen = {"model": model, "opt": opt, "lrs": [g["lr"] for g in opt.param_groups]}
        if sched is not None:
            seen["epoch"] = sched.last_epoch
        return seen

    return observed


def test_a_scheduler_stepped_inside_the_step_runs_every_call():
    """`sched.step()` is janus code that keeps Python state (its epoch
    count). It used to run opaquely during the trace, and compiled calls
    skipped it: StepLR never decayed. Now it is a break; the call runs in
    Python after the compiled part, every call."""
    x, y = _batch()

    def make():
        model = nn.Linear(4, 2)
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = janus.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
            return loss

        return step, _observed(model, opt, sched)

    jf = run_both(make, [(x, y)] * 12)
    assert compiled_calls(jf) >= 6
    kinds = {b.kind for t in jf.report.compiles for b in t.breaks}
    assert "unsupported-call" in kinds and jf.report.compiles[-1].split is not None
