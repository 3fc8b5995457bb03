"""Optimizers and schedulers against PyTorch, and their state dicts."""

import contextlib
import io

import numpy as np
import pytest

import janus
from harness import assert_close, no_host_reads, torch_or_skip

rng = np.random.default_rng(2)
W0 = rng.standard_normal((3, 4)).astype(np.float32)
B0 = rng.standard_normal(4).astype(np.float32)
GRADS = [
    (rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32))
    for _ in range(6)
]

CONFIGS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum_dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    "sgd_nesterov_maximize": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_amsgrad_decay": ("Adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.5)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_centered_momentum": (
        "RMSprop",
        dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
    ),
    "adagrad": (
        "Adagrad",
        dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.05),
    ),
    "adagrad_maximize": ("Adagrad", dict(lr=0.1, maximize=True)),
    "adadelta": ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1)),
}


def run(L, name, kwargs, steps=6, change_lr_at=3, guard=contextlib.nullcontext):
    w = L.tensor(W0.copy(), requires_grad=True)
    b = L.tensor(B0.copy(), requires_grad=True)
    opt = getattr(L.optim, name)(
        [{"params": [w]}, {"params": [b], "lr": kwargs["lr"] / 2}], **kwargs
    )
    for step, (gw, gb) in enumerate(GRADS[:steps]):
        if step == change_lr_at:
            opt.param_groups[0]["lr"] *= 0.5  # learning-rate changes by hand
        opt.zero_grad()
        w.grad, b.grad = L.tensor(gw), L.tensor(gb)
        with guard():
            opt.step()
    return w.detach().numpy().copy(), b.detach().numpy().copy(), opt


@pytest.mark.parametrize("config", list(CONFIGS))
def test_updates_match_pytorch(config):
    torch = torch_or_skip()
    name, kwargs = CONFIGS[config]
    jw, jb, jopt = run(janus, name, kwargs)
    tw, tb, topt = run(torch, name, kwargs)
    assert_close(jw, tw, rtol=1e-5, atol=1e-6, what="weight")
    assert_close(jb, tb, rtol=1e-5, atol=1e-6, what="bias")
    js, ts = jopt.state_dict(), topt.state_dict()
    assert [g["params"] for g in js["param_groups"]] == [g["params"] for g in ts["param_groups"]]
    assert set(js["state"]) == set(ts["state"])
    for key in ts["state"]:
        assert set(js["state"][key]) == set(ts["state"][key])


@pytest.mark.parametrize("config", list(CONFIGS))
def test_steps_read_no_tensor_data_and_still_match_pytorch(config):
    """A step is tensor math only (no `.item()`), so a compiled training step
    keeps its update in the graph instead of breaking it."""
    torch = torch_or_skip()
    name, kwargs = CONFIGS[config]
    jw, jb, _ = run(janus, name, kwargs, guard=no_host_reads)
    tw, tb, _ = run(torch, name, kwargs)
    assert_close(jw, tw, rtol=1e-5, atol=1e-6, what="weight")
    assert_close(jb, tb, rtol=1e-5, atol=1e-6, what="bias")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_tensor_learning_rate_steps_like_the_float(config):
    """lr may be a 0-d tensor, as in PyTorch (the JIT passes a changing lr to
    a traced step so): the same updates, with no read of its data."""
    name, kwargs = CONFIGS[config]
    fw, fb, _ = run(janus, name, kwargs)
    as_tensor = dict(kwargs, lr=janus.tensor(kwargs["lr"], dtype=janus.float64))
    tw, tb, _ = run(janus, name, as_tensor, guard=no_host_reads)
    assert_close(tw, fw, rtol=1e-6, atol=1e-7, what="weight")
    assert_close(tb, fb, rtol=1e-6, atol=1e-7, what="bias")


@pytest.mark.parametrize("config", ["sgd_momentum_dampening", "adam_amsgrad_decay", "rmsprop"])
def test_state_dict_round_trip_continues_identically(config):
    name, kwargs = CONFIGS[config]
    w = janus.tensor(W0.copy(), requires_grad=True)
    opt = getattr(janus.optim, name)([w], **kwargs)
    for gw, _ in GRADS[:3]:
        w.grad = janus.tensor(gw)
        opt.step()
    buffer = io.BytesIO()
    janus.save({"w": w.detach(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = janus.load(buffer)
    w2 = saved["w"].clone().requires_grad_()
    opt2 = getattr(janus.optim, name)([w2], **kwargs)
    opt2.load_state_dict(saved["opt"])
    for gw, _ in GRADS[3:]:
        w.grad, w2.grad = janus.tensor(gw), janus.tensor(gw)
        opt.step()
        opt2.step()
    assert_close(w2, w, rtol=0, atol=0)


def test_closure_and_zero_grad():
    w = janus.tensor([1.0, 2.0], requires_grad=True)
    opt = janus.optim.SGD([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    assert w.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_bad_arguments_raise():
    w = janus.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        janus.optim.Adam([w], lr=-1)
    with pytest.raises(TypeError):
        janus.optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        janus.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="beta"):
        janus.optim.Adam([w], betas=(1.5, 0.9))


SCHEDULERS = {
    "step": ("StepLR", dict(step_size=3, gamma=0.5)),
    "multistep": ("MultiStepLR", dict(milestones=[2, 5], gamma=0.1)),
    "exponential": ("ExponentialLR", dict(gamma=0.9)),
    "cosine": ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
    "lambda": ("LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch))),
}


@pytest.mark.parametrize("sched", list(SCHEDULERS))
def test_scheduler_values_match_pytorch(sched):
    torch = torch_or_skip()
    name, kwargs = SCHEDULERS[sched]
    values = []
    for L in (janus, torch):
        opt = L.optim.SGD([L.zeros(1, requires_grad=True)], lr=0.1)
        scheduler = getattr(L.optim.lr_scheduler, name)(opt, **kwargs)
        seen = []
        for _ in range(12):
            opt.step()
            scheduler.step()
            seen.append(scheduler.get_last_lr()[0])
        values.append(seen)
    np.testing.assert_allclose(values[0], values[1], rtol=1e-12)


def test_scheduler_state_dict_round_trip():
    opt = janus.optim.SGD([janus.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = janus.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    for _ in range(3):
        scheduler.step()
    state = scheduler.state_dict()
    opt2 = janus.optim.SGD([janus.zeros(1, requires_grad=True)], lr=0.1)
    scheduler2 = janus.optim.lr_scheduler.StepLR(opt2, 2, 0.5)
    scheduler2.load_state_dict(state)
    assert scheduler2.last_epoch == 3 and scheduler2.get_last_lr() == scheduler.get_last_lr()


def test_reduce_lr_on_plateau_matches_pytorch():
    torch = torch_or_skip()
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    seen = []
    for L in (janus, torch):
        opt = L.optim.SGD([L.zeros(1, requires_grad=True)], lr=1.0)
        scheduler = L.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=1, cooldown=1, min_lr=0.1
        )
        lrs = []
        for m in metrics:
            scheduler.step(m)
            lrs.append(opt.param_groups[0]["lr"])
        seen.append(lrs)
    assert seen[0] == seen[1]


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_one_cycle_matches_pytorch(three_phase, optimizer):
    torch = torch_or_skip()
    seen = []
    for L in (janus, torch):
        kwargs = dict(lr=0.1, momentum=0.9) if optimizer == "SGD" else dict(lr=0.1)
        opt = getattr(L.optim, optimizer)([L.zeros(1, requires_grad=True)], **kwargs)
        scheduler = L.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1.0, total_steps=20, three_phase=three_phase, anneal_strategy="cos"
        )
        values = []
        for _ in range(19):
            opt.step()
            scheduler.step()
            group = opt.param_groups[0]
            values.append((group["lr"], group.get("momentum", group.get("betas", (0,))[0])))
        seen.append(values)
    np.testing.assert_allclose(seen[0], seen[1], rtol=1e-12)


@pytest.mark.parametrize("history_size", [100, 3])
def test_lbfgs_matches_pytorch(history_size):
    torch = torch_or_skip()
    data = rng.standard_normal((20, 4)).astype(np.float64)
    target = (data @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * np.sin(data[:, 0])).astype(np.float64)
    results = []
    for L in (janus, torch):
        w = L.zeros(4, dtype=L.float64, requires_grad=True)
        b = L.zeros(1, dtype=L.float64, requires_grad=True)
        opt = L.optim.LBFGS([w, b], lr=0.5, max_iter=7, history_size=history_size)
        x, y = L.tensor(data), L.tensor(target)

        def closure(opt=opt, w=w, b=b, x=x, y=y, L=L):
            opt.zero_grad()
            loss = ((x @ w + b - y) ** 2).mean() + 0.01 * (w**4).sum()
            loss.backward()
            return loss

        losses = [opt.step(closure).item() for _ in range(4)]
        results.append((losses, w.detach().numpy().copy(), b.detach().numpy().copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-9)
    assert_close(results[0][1], results[1][1], rtol=1e-9, atol=1e-12)
    assert_close(results[0][2], results[1][2], rtol=1e-9, atol=1e-12)


def test_loaded_state_takes_the_parameters_dtype_like_pytorch():
    torch = torch_or_skip()
    seen = []
    for L in (janus, torch):
        w = L.tensor(W0.copy(), requires_grad=True)
        opt = L.optim.Adam([w], lr=0.1)
        w.grad = L.tensor(GRADS[0][0])
        opt.step()
        saved = opt.state_dict()
        saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg"].double()
        saved["state"][0]["exp_avg_sq"] = L.tensor([[1, 2, 3, 4]] * 3)  # int64
        opt.load_state_dict(saved)
        state = opt.state[w]
        seen.append([str(state[k].dtype).split(".")[-1] for k in sorted(state)])
        w.grad = L.tensor(GRADS[1][0])
        opt.step()
        seen[-1].append(w.detach().numpy().copy())
    assert seen[0][:-1] == seen[1][:-1]
    assert_close(seen[0][-1], seen[1][-1], what="weight after a step")
