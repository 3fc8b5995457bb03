"""Random training steps: hypothesis picks a model (layers, normalization,
dropout), an optimizer and its options, a learning-rate schedule, and the
optional parts of a step (how gradients are cleared, an extra penalty,
clipping, several updates per call, a manual update under no_grad, a loss
logged with .item(), a branch on the loss), and runs the step eagerly and
compiled. Forward, backward and update form one graph around the breaks, so
after every call the parameters, gradients and optimizer state must be
eager's."""

from __future__ import annotations

import textwrap

from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import compiled_calls, generated, resume_hits, run_both

import janus
import janus.nn as nn

LAYERS = (
    "nn.Linear(4, 4)",
    "nn.Tanh()",
    "nn.ReLU()",
    "nn.Sigmoid()",
    "nn.LayerNorm(4)",
    "nn.Dropout(0.25)",
    "nn.GELU()",
)
OPTIMIZERS = (
    "janus.optim.SGD(params, lr=0.1)",
    "janus.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=0.01)",
    "janus.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)",
    "janus.optim.Adam(params, lr=0.01)",
    "janus.optim.AdamW(params, lr=0.01, weight_decay=0.1)",
    "janus.optim.RMSprop(params, lr=0.01, momentum=0.5)",
    "janus.optim.Adagrad(params, lr=0.1)",
)
SCHEDULES = (
    None,
    "janus.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)",
    "janus.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)",
    "janus.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)",
)
CLEARS = ("opt.zero_grad()", "opt.zero_grad(set_to_none=False)", "model.zero_grad()")
LOSSES = (
    "((model(x) - y) ** 2).mean()",
    "nn.functional.smooth_l1_loss(model(x), y)",
    "nn.functional.cross_entropy(model(x), labels)",
)


@st.composite
def training_program(draw):
    updates = draw(st.integers(1, 2))
    body = [draw(st.sampled_from(CLEARS)), f"loss = {draw(st.sampled_from(LOSSES))}"]
    if draw(st.booleans()):
        body.append("loss = loss + 0.01 * sum(p.pow(2).sum() for p in model.parameters())")
    body.append("loss.backward()")
    if draw(st.booleans()):
        body.append("nn.utils.clip_grad_norm_(model.parameters(), 0.5)")
    body.append("opt.step()")
    if draw(st.booleans()):
        body += ["with janus.no_grad():", "    for p in model.parameters():"]
        body.append("        p.mul_(0.99)")
    if draw(st.booleans()):
        body.append("losses.append(loss.item())")
    if draw(st.booleans()):  # a decision on tensor data: a break
        body += ["if loss.item() > 0.5:", "    flags.append(k)"]
    lines = ["def step(x, y, labels, k):"]
    if updates == 1:
        lines += ["    " + line for line in body]
    else:
        lines += [f"    for _ in range({updates}):", *["        " + line for line in body]]
    if draw(st.booleans()):
        lines.append("    sched.step()")
    lines.append("    return loss.detach()")
    layers = draw(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=4))
    return {
        "source": "\n".join(lines) + "\n",
        "model": f"nn.Sequential(nn.Linear(3, 4), {', '.join(layers)})",
        "optimizer": draw(st.sampled_from(OPTIMIZERS)),
        "schedule": draw(st.sampled_from(SCHEDULES)),
        "train": draw(st.booleans()),
    }


@generated(30)
@given(program=training_program())
def test_generated_training_steps_agree(program):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)
    source = program["source"]
    if program["schedule"] is None:
        source = source.replace("    sched.step()\n", "")

    def make():
        namespace = {"janus": janus, "nn": nn, "losses": [], "flags": []}
        model = eval(program["model"], namespace)
        model.train(program["train"])
        namespace["params"] = model.parameters()
        opt = eval(program["optimizer"], namespace)
        namespace.update(model=model, opt=opt)
        if program["schedule"] is not None:
            namespace["sched"] = eval(program["schedule"], namespace)
        exec(compile(source, "<generated>", "exec"), namespace)

        def observed():
            return {
                "model": model,
                "opt": opt,
                "lr": opt.param_groups[0]["lr"],
                "losses": namespace["losses"],
                "flags": namespace["flags"],
            }

        return namespace["step"], observed

    def calls(j):
        janus.manual_seed(100 + j)
        return janus.randn(5, 3), janus.randn(5, 4), janus.randint(0, 4, (5,)), j

    calls.count = 6
    try:
        jf = run_both(make, calls, rtol=1e-4, atol=1e-5)
    except AssertionError as failure:
        described = "\n".join(f"{k}: {v}" for k, v in program.items() if k != "source")
        raise AssertionError(f"{failure}\n{described}\n{textwrap.indent(source, '  ')}") from None
    test_generated_training_steps_agree.compiled.append(compiled_calls(jf) + resume_hits(jf))


test_generated_training_steps_agree.compiled = []  # (how many calls ran a graph: for probes)
