"""Shape and dtype inference (csrc/passes/infer_types.cpp) against recorded
programs: with every node result's type erased from the text form, inference
from the graph inputs alone must give back every type the eager run recorded.
Run over every op-table test case (forward and backward), so a C++ rule that
disagrees with its op's Python `meta` rule, or an op without one, fails here."""

import os
import re
import sys

import pytest

import janus
from harness import backward_with, flat_outputs, grad_weights, make_inputs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
from op_db import CASES  # noqa: E402

Graph = janus._C.ir.Graph
_TYPED = re.compile(r"(%[\w.]+): \w+\[[^\]]*\](?:@[\w:]+)?")


def erase_result_types(text: str) -> str:
    """The text form with every node result's type left out (inputs keep
    theirs, and constants, whose type no rule gives)."""
    lines = text.splitlines()
    body = []
    for line in lines[1:]:
        results, eq, rest = line.partition(" = ")
        erase = eq and not rest.startswith("constant(")
        body.append(_TYPED.sub(r"\1", results) + eq + rest if erase else line)
    return "\n".join(lines[:1] + body) + "\n"


def check_inference_reproduces(graph) -> None:
    text = str(graph)
    erased = erase_result_types(text)
    assert erased != text or not graph.nodes  # the types really were removed
    assert str(Graph.parse(erased)) == text


def _run_case(case):
    for args, kwargs in case.samples:
        inputs = make_inputs(args, janus, case.grad)
        outs = flat_outputs(case.fn(janus, *inputs, **kwargs))
        if case.grad:
            backward_with(outs, grad_weights(outs), janus)


def test_erasing_leaves_untyped_results_that_inference_fills():
    graph, _ = janus.jit.record(lambda x: (x * 2).relu().sum(), janus.ones(3))
    erased = erase_result_types(str(graph))
    assert "%0 = mul(%in0, 2)" in erased
    assert "%in0: f32[3]" in erased
    check_inference_reproduces(graph)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_inference_reproduces_every_recorded_type(case):
    graph, _ = janus.jit.record(lambda: _run_case(case))
    text = str(graph)
    inferred = Graph.parse(erase_result_types(text))
    if str(inferred) == text:
        return
    # Where sizes depend on the data (nonzero, masks, unique), inference gives
    # fresh symbols where the recording has sizes: the recorded graph must
    # still check against the rules.
    assert "?s" in str(inferred), f"inference differs:\n{inferred}\nrecorded:\n{text}"
    assert str(Graph.parse(text)) == text


def test_data_dependent_sizes_are_fresh_symbols():
    mask = janus.tensor([[True, False], [True, True]])
    graph, _ = janus.jit.record(lambda m: m.nonzero(), mask)
    assert "%0: i64[?s0,2] = nonzero(%in0)" in str(Graph.parse(erase_result_types(str(graph))))
    assert str(Graph.parse(str(graph))) == str(graph)  # the recorded size agrees


def _training_step(model, loss_fn, x, y):
    opt = janus.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return janus.jit.recording(step, x, y).graph


def test_mlp_training_step():
    janus.manual_seed(0)
    model = janus.nn.Sequential(
        janus.nn.Linear(20, 32), janus.nn.ReLU(), janus.nn.Linear(32, 10), janus.nn.LogSoftmax(1)
    )
    graph = _training_step(
        model, janus.nn.functional.nll_loss, janus.randn(8, 20), janus.randint(0, 10, (8,))
    )
    check_inference_reproduces(graph)


def test_cnn_training_step():
    janus.manual_seed(0)
    nn = janus.nn
    model = nn.Sequential(
        nn.Conv2d(3, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2),
        nn.ReLU(),
        nn.AvgPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 10),
    )
    graph = _training_step(
        model, nn.functional.cross_entropy, janus.randn(4, 3, 16, 16), janus.randint(0, 10, (4,))
    )
    check_inference_reproduces(graph)


def test_lstm_step():
    janus.manual_seed(0)
    cell = janus.nn.LSTMCell(6, 12)
    embed = janus.nn.Embedding(30, 6)
    head = janus.nn.Linear(12, 30)
    tokens = janus.randint(0, 30, (5, 4))

    def unroll(tokens):
        h = c = janus.zeros(4, 12)
        loss = 0.0
        for t in range(tokens.shape[0] - 1):
            h, c = cell(embed(tokens[t]), (h, c))
            loss = loss + janus.nn.functional.cross_entropy(head(h), tokens[t + 1])
        loss.backward()
        return loss

    graph = janus.jit.recording(unroll, tokens).graph
    check_inference_reproduces(graph)


def test_a_symbolic_batch_flows_through_an_mlp():
    janus.manual_seed(0)
    model = janus.nn.Sequential(janus.nn.Linear(20, 32), janus.nn.Tanh(), janus.nn.Linear(32, 10))
    graph, _ = janus.jit.record(lambda x: model(x).softmax(-1).sum(-1), janus.randn(8, 20))
    erased = erase_result_types(str(graph)).replace("%in0: f32[8,20]", "%in0: f32[?B,20]")
    inferred = str(Graph.parse(erased))
    assert "%in0: f32[?B,20]" in inferred
    assert re.search(r": f32\[\?B\] = sum\(", inferred), inferred


def test_a_wrong_recorded_type_is_reported_with_its_node():
    graph, _ = janus.jit.record(lambda x: x.exp(), janus.ones(3))
    text = str(graph).replace("%0: f32[3] = exp", "%0: f32[4] = exp")
    with pytest.raises(ValueError, match=r"infer_types: %0 = exp\(...\): %0 is declared f32\[4\]"):
        Graph.parse(text)


def test_compile_graph_runs_inference_first():
    assert janus._C.ir.pass_names()[0] == "infer_types"
    graph = Graph.parse("graph(%x: f32[3]) {\n  %y = exp(%x)\n  return %y\n}\n")
    assert str(graph).splitlines()[1] == "  %y: f32[3] = exp(%x)"
