"""Random recursive models over a new tree every call: hypothesis picks how
a leaf is told apart (an int, a one-element tuple, a Leaf object), how a
leaf is embedded (a row at a changing index, a window, a tensor of its
word), how children combine, and what the recursion keeps on the side (a
count of nodes, a list of node states); each call trains one step on a
random tree. Once the structure keeps changing, each recursive call runs as
its own call and compiles alone: results, gradients and parameters must be
eager's after every call."""

from __future__ import annotations

import random
import textwrap

from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import generated, run_both

import janus
import janus.nn as nn

LEAF_TESTS = {
    "int": ("isinstance(node, int)", "node"),
    "tuple": ("len(node) == 1", "node[0]"),
    "object": ("isinstance(node, Leaf)", "node.word"),
}
EMBEDS = (
    "self.table[{w}]",
    "self.table[{w} : {w} + 1].sum(0)",
    "self.embed(janus.tensor([{w}]))[0]",
)
COMBINES = (
    "(self.join(janus.cat([left, right])) + left * 0.5).tanh()",
    "left * self.gate(right).sigmoid() + right",
    "janus.stack([left, right]).max(0).values",
)
SIDES = ("", "self.seen.append(1)", "self.states.append(h.detach())")


class Leaf:
    def __init__(self, word):
        self.word = word


@st.composite
def recursive_program(draw):
    test, word = LEAF_TESTS[draw(st.sampled_from(sorted(LEAF_TESTS)))]
    embed = draw(st.sampled_from(EMBEDS)).format(w=word)
    side = draw(st.sampled_from(SIDES))
    lines = [
        "def encode(self, node):",
        f"    if {test}:",
        f"        h = {embed}",
        "    else:",
        "        left = self.encode(node[0])",
        "        right = self.encode(node[1])",
        f"        h = {draw(st.sampled_from(COMBINES))}",
        f"    {side}" if side else "    pass",
        "    return h",
    ]
    leaf_kind = [k for k, v in LEAF_TESTS.items() if v[0] == test][0]
    return "\n".join(lines) + "\n", leaf_kind


def _tree(rng: random.Random, leaf_kind: str, depth: int = 0):
    if depth >= 3 or rng.random() < 0.3:
        word = rng.randrange(8)
        return {"int": word, "tuple": (word,), "object": Leaf(word)}[leaf_kind]
    return (_tree(rng, leaf_kind, depth + 1), _tree(rng, leaf_kind, depth + 1))


@generated(15)
@given(program=recursive_program())
def test_generated_recursive_models_agree(program):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)
    source, leaf_kind = program

    def make():
        namespace = {"janus": janus, "Leaf": Leaf}
        exec(compile(source, "<generated>", "exec"), namespace)

        class TreeModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.table = nn.Parameter(janus.randn(8, 4) * 0.5)
                self.embed = nn.Embedding(8, 4)
                self.join = nn.Linear(8, 4)
                self.gate = nn.Linear(4, 4)
                self.seen, self.states = [], []

            encode = namespace["encode"]

        janus.manual_seed(0)
        model = TreeModel()
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(tree):
            opt.zero_grad()
            loss = model.encode(tree).pow(2).sum()
            loss.backward()
            opt.step()
            return loss.detach()

        def observed():
            return {"model": model, "seen": len(model.seen), "states": model.states}

        return step, observed

    rng = random.Random(0)
    trees = [_tree(rng, leaf_kind) for _ in range(8)]
    try:
        run_both(make, [(t,) for t in trees], rtol=1e-4, atol=1e-5)
    except Exception as failure:  # (an error eager did not raise counts too)
        raise AssertionError(f"{failure!r}\n{textwrap.indent(source, '  ')}") from None
