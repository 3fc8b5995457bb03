"""Random programs over the Python heap: hypothesis writes a function that
changes state outside its frame (an object's attributes, a list and a dict
it holds, a tensor updated in place, a global, a cell an inner function
bumps), reads that state back, and breaks the graph in the middle (a print,
a branch on tensor data, a call with no graph form, an exception caught).
A compiled call records these effects and commits them after its graph, so
after every call the state must be what eager leaves, and the results the
same."""

from __future__ import annotations

import io
import textwrap

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import generated, run_both

import janus

STATEMENTS = (
    ["state.count += k"],
    ["state.t = state.t * 0.5 + x"],
    ["x = x + state.t"],
    ["state.history.append(x.sum())"],
    ["x = x * len(state.history) % 4"],
    ["x = x + sum(state.history[-2:], janus.zeros(()))"],
    ["stats['calls'] = stats.get('calls', 0) + 1"],
    ["stats[k] = x.mean()"],
    ["x = x + stats.get(k, 0.0)"],
    ["buf.add_(x)"],
    ["buf[k % 3] = x[0]"],
    ["x = (x + buf).tanh()"],
    ["SCALE = SCALE * 0.5 + k"],
    ["x = x * SCALE"],
    ["x = bump(x)"],
    ["x = x * acc"],
    ["print(k, f'{float(x.sum()):.3f}', file=sink)"],  # a break (and an effect)
    ["if float(x.sum()) > 0:", "    x = x - 1", "else:", "    x = x + 0.5"],  # a break
    ["x = x + float(np.float32(k))"],  # a call with no graph form
    ["try:", "    x = x + stats['missing']", "except KeyError:", "    x = x - state.count"],
    ["for i in range(k):", "    state.history.append(x[i % 3] * i)"],
    ["if state.count > 3:", "    state.count = 0", "    state.history.clear()"],
)


@st.composite
def effect_program(draw):
    chosen = draw(st.lists(st.sampled_from(STATEMENTS), max_size=7))
    body = [line for stmt in chosen for line in stmt]
    head = [
        "global SCALE",
        "acc = 0",
        "def bump(t):",
        "    nonlocal acc",
        "    acc += 1",
        "    return t * acc",
    ]
    lines = ["def generated(x, k):", *["    " + line for line in head + body]]
    lines.append("    return x, acc")
    return "\n".join(lines) + "\n"


class State:
    def __init__(self):
        self.count = 0
        self.t = janus.zeros(3)
        self.history = []


@generated(60)
@given(source=effect_program())
def test_generated_programs_over_the_heap_agree(source):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)

    def make():
        namespace = {
            "janus": janus,
            "np": np,
            "state": State(),
            "stats": {},
            "buf": janus.zeros(3),
            "sink": io.StringIO(),
            "SCALE": 1.0,
        }
        exec(compile(source, "<generated>", "exec"), namespace)

        def observed():
            keep = ("state", "stats", "buf", "SCALE")
            return {**{k: namespace[k] for k in keep}, "sink": namespace["sink"].getvalue()}

        return namespace["generated"], observed

    def calls(j):
        return janus.arange(3.0) * (0.5 - j % 2) + j, (0, 1, 2, 3, 1, 1, 2, 0)[j]

    calls.count = 8
    try:
        run_both(make, calls, rtol=1e-4, atol=1e-5)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{textwrap.indent(source, '  ')}") from None
