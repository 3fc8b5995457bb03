"""The benchmark suite cannot rot: every workload trains two steps in janus
eager, with the same losses as PyTorch eager (when installed) from the same
weights and data; the JIT-mode selection and the report's loss check are
exercised too. Runs in seconds."""

import functools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import janus
from bench import modes, report, run_one, timing, workloads


@pytest.fixture(autouse=True)
def restore_jit_hook():
    """janus-eager runs turn janus's import-time JIT off; later tests expect
    the hook as it was."""
    was_on = janus.jit.is_enabled()
    yield
    janus.jit.enable() if was_on else janus.jit.disable()


def eager(fn, trace_unsafe=None):
    return fn


def losses(F, name, steps=2, compile=eager):
    """Losses of the first steps; janus runs without its import-time JIT
    unless `compile` is janus-jit's."""
    workload = workloads.get(name)
    hook = F is janus and janus.jit.is_enabled() and compile is eager
    if hook:
        janus.jit.disable()
    try:
        F.manual_seed(0)
        step = workload.build(F, workload.SIZES["small"], "cpu", compile, 0)
        return [step(i).item() for i in range(steps)]
    finally:
        if hook:
            janus.jit.enable()


@functools.cache
def janus_losses(name):
    return losses(janus, name)


@pytest.mark.parametrize("name", workloads.NAMES)
def test_workload_trains(name):
    first, second = janus_losses(name)
    assert np.isfinite([first, second]).all()
    assert first != second  # the second step sees the updated weights


@pytest.mark.parametrize("name", workloads.NAMES)
def test_workload_trains_like_pytorch(name):
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(janus_losses(name), losses(torch, name), rtol=1e-4, atol=1e-5)


def test_weights_depend_on_seed_and_name_only():
    net = workloads.get("mlp").model(janus, workloads.get("mlp").SIZES["small"])
    from bench.workloads import weights

    a, b = weights.initial_arrays(net, 0), weights.initial_arrays(net, 0)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["0.weight"], weights.initial_arrays(net, 1)["0.weight"])
    assert not np.array_equal(a["0.weight"][:10, :10], a["2.weight"][:10, :10])


@pytest.mark.skipif(hasattr(janus.jit, "jit"), reason="janus.jit.jit replaces the trace")
def test_janus_jit_mode_traces_only_where_safe():
    with pytest.raises(modes.Unsupported, match="tree"):
        losses(janus, "treelstm", compile=modes.compiler("janus-jit"))
    # The trace records on call 2 and replays from call 3: same losses as eager.
    np.testing.assert_allclose(
        losses(janus, "mlp", 4, modes.compiler("janus-jit")), losses(janus, "mlp", 4), rtol=1e-5
    )


@pytest.mark.skipif(not hasattr(janus.jit, "jit"), reason="needs janus.jit.jit")
def test_janus_jit_mode_compiles_and_matches_eager():
    modes.janus_compiled.clear()
    compiled = losses(janus, "mlp", 4, modes.compiler("janus-jit"))
    np.testing.assert_allclose(compiled, losses(janus, "mlp", 4), rtol=1e-5)
    summary = modes.jit_summary()
    assert summary["graphs"] >= 1 and summary["functions_without_graph"] == 0


def test_run_one_measures_and_reports_loss(monkeypatch):
    monkeypatch.setattr(run_one, "plan", lambda workload, size: timing.Plan(1, 2, 1))
    result = run_one.run("mlp", "janus-eager")
    assert result["status"] == "ok" and result["steps"] == 4
    assert result["ms_min"] <= result["ms_per_iter"] <= result["ms_max"]
    assert result["loss"] == pytest.approx(losses(janus, "mlp", 4)[-1], rel=1e-6)
    assert run_one.run("mlp", "torch-compile-ro")["status"].startswith("unavailable")


def test_report_flags_a_disagreeing_loss():
    def record(mode, ms, loss):
        return {"workload": "w", "mode": mode, "status": "ok", "ms_per_iter": ms, "loss": loss}

    records = [record("torch-eager", 10.0, 2.0), record("janus-eager", 5.0, 2.0001)]
    records.append(record("janus-jit", 1.0, 2.1))
    assert report.annotate(records, {}) == "torch-eager"
    assert [r["ratio"] for r in records] == [1.0, 0.5, 0.1]
    assert report.failures(records) == [records[2]]


def test_the_jit_step_workloads_train_the_same_with_the_hook_as_eagerly():
    """bench/jit_step.py's workloads (the TreeLSTM's recursion through
    comprehensions, the epoch over a DataLoader with a break per batch) for
    enough steps that the hook compiles and splits them, against eager."""
    from bench import jit_step
    from janus.jit import frontend

    for build in (jit_step.tree_lstm, jit_step.mlp_epoch):
        losses = {}
        for mode in ("eager", "jit"):
            janus.jit.enable() if mode == "jit" else janus.jit.disable()
            janus.manual_seed(0)
            _, step, args = build(janus)
            make_args = args if callable(args) else (lambda args=args: args)
            losses[mode] = [step(*make_args()) for _ in range(16)]
        np.testing.assert_allclose(losses["jit"], losses["eager"], rtol=1e-5)
        # The comprehension over a tree node's children splits at its loop
        # with nothing compiled before the split, and the rest (the
        # recursion) never compiles: it is dropped, not kept as an entry
        # that only costs (checked before the next enable() resets entries).
        codes = list(frontend.reports)
        children = [c for c in codes if "node.<locals>.<listcomp>" in c.co_qualname]
        assert all(janus._C.capture.stats(c)["entries"] == 0 for c in children)
