"""Recording eager runs as IR: every op of the table lowers, text round-trips,
and whole training steps (forward, backward, update) become one graph."""

import os
import sys

import numpy as np
import pytest

import janus
from harness import backward_with, flat_outputs, grad_weights, make_inputs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from op_db import CASES  # noqa: E402


def _run_case(case):
    for args, kwargs in case.samples:
        inputs = make_inputs(args, janus, case.grad)
        outs = flat_outputs(case.fn(janus, *inputs, **kwargs))
        if case.grad:
            backward_with(outs, grad_weights(outs), janus)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_case_records_to_a_valid_graph_that_round_trips(case):
    graph, _ = janus.jit.record(lambda: _run_case(case))
    assert graph.verify() == []
    text = str(graph)
    assert str(janus._C.ir.Graph.parse(text)) == text


def test_a_training_step_is_one_graph():
    janus.manual_seed(0)
    model = janus.nn.Sequential(janus.nn.Linear(4, 8), janus.nn.Tanh(), janus.nn.Linear(8, 2))
    opt = janus.optim.SGD(model.parameters(), lr=0.1)
    x, y = janus.randn(5, 4), janus.tensor([0, 1, 1, 0, 1])

    def step(x, y):
        opt.zero_grad()
        loss = janus.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    graph, loss = janus.jit.record(step, x, y)
    text = str(graph)
    assert graph.verify() == [] and "nll_loss_backward" in text and "linear(" in text
    assert text.count("graph(%in0: f32[5,4], %in1: i64[5]") == 1  # then the parameters
    # The parameter updates are effects: graph outputs after the loss, each the
    # result of an overwrite, so the passes keep backward and update alive;
    # then the four new .grad tensors.
    assert text.count("overwrite(") >= 4 and text.strip().splitlines()[-2].count("%") == 9
    before = graph.node_count()
    for name in janus._C.ir.pass_names():
        graph.run_pass(name)
    after = str(graph)
    assert graph.verify() == [] and graph.node_count() <= before
    assert "nll_loss_backward" in after and after.count("overwrite(") >= 4


def test_memory_planning_on_a_recorded_lstm_step():
    janus.manual_seed(0)
    cell, head = janus.nn.LSTMCell(8, 16), janus.nn.Linear(16, 10)
    tokens = janus.tensor(np.random.default_rng(0).integers(0, 10, (6, 4)))
    embed = janus.nn.Embedding(10, 8)

    def step(tokens):
        h = c = janus.zeros(4, 16)
        loss = 0.0
        for t in range(5):
            h, c = cell(embed(tokens[t]), (h, c))
            loss = loss + janus.nn.functional.cross_entropy(head(h), tokens[t + 1])
        loss.backward()
        return loss

    graph, _ = janus.jit.record(step, tokens)
    plan = graph.plan_memory()
    assert plan["dynamic"] == [] and 0 < plan["arena_bytes"] < plan["unshared_bytes"]
    streams = graph.assign_streams()
    assert streams["streams"] >= 2  # forward and backward branches overlap


def test_in_place_updates_of_outside_tensors_become_outputs():
    w = janus.ones(3)
    state = janus.zeros(3)

    def update(x):
        state.add_(x)  # an outside tensor changed in place
        local = x * 2
        local.mul_(3)  # a tensor of fn's own: not an effect
        return local.sum()

    graph, _ = janus.jit.record(update, w)
    text = str(graph)
    assert text.strip().splitlines()[-2].count("%") == 2  # the sum and the new state
    assert graph.verify() == []


def test_record_rejects_non_tensor_inputs():
    with pytest.raises(TypeError, match="not a Tensor"):
        janus.jit.record(lambda x: x, 3)
