"""Cells, closures and recursion through the JIT, differentially.

A local that an inner function captures lives in a cell. A compiled call
makes its own cells, and the functions the frame made (closures, a 3.11
comprehension) are made again over them: a returned closure sees this call's
values, and a frame with cells splits at a graph break like any other. A
recursive function over data whose structure changes (a new tree each call)
runs each recursive call as its own call, so each level compiles alone."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from tests.jit.differential import compiled_calls, resume_hits, run_both, splits

import janus
import janus.nn as nn


def _calls(n=6):
    return [(janus.full((3,), float(k)), k) for k in range(n)]


def test_a_returned_closure_sees_this_calls_values():
    """Each compiled call makes the closure again, over a cell holding this
    call's `y` (it was a `function object ... escapes` fallback)."""

    def make():
        def fn(x, k):
            y = x * 2

            def shifted(z):
                return z + y + k

            return shifted

        return fn, dict

    for jit in (False, True):
        f = janus.jit(make()[0]) if jit else make()[0]
        made = [f(x, k) for x, k in _calls()]
        got = [g(janus.ones(3)).tolist() for g in made]  # (called after every call)
        assert got == [[1.0 + 3 * k] * 3 for k in range(6)]
    assert compiled_calls(f) >= 3


def test_closures_made_by_one_call_share_its_cell_and_no_other():
    """Two closures over one variable share one cell per call (a `nonlocal`
    store through one is seen by the other), and a later call's closures
    start from their own."""

    def fn(x):
        total = x.sum()

        def add(v):
            nonlocal total
            total = total + v

        def get():
            return total

        add(1.0)  # traced: the cell holds the trace's value when the call ends
        return add, get

    for jit in (False, True):
        f = janus.jit(fn) if jit else fn
        pairs = [f(janus.full((2,), float(k))) for k in range(5)]
        for add, _ in pairs:
            add(10.0)
        got = [get().item() for _, get in pairs]
        assert got == [2.0 * k + 11.0 for k in range(5)]
    assert compiled_calls(f) >= 2


def test_a_frame_with_cells_splits_at_a_break(hook_on):
    """A break (a print) in a frame whose local a lambda captures: the part
    before it compiles, and the rest (resumed with this call's cells, which
    the lambda shares) sees a store made after the break."""

    def make():
        log = io.StringIO()

        def fn(x, k):
            scale = x.sum()
            f = lambda t: t * scale  # noqa: E731 - captures `scale` (a cell)
            y = f(x) + k
            print("step", k, file=log)
            scale = scale + 1
            return f(y), scale

        return fn, lambda: {"log": log.getvalue()}

    jf = run_both(make, _calls())
    assert splits(jf) and compiled_calls(jf) >= 3


class _Scaler(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(janus.linspace(0.5, 1.5, 3))
        self.log = io.StringIO()

    def forward(self, xs):
        # On 3.11 the comprehension is a function over the cell `self`.
        outs = [self.one(x) for x in xs]
        return sum(outs) * self.w

    def one(self, x):
        print(x.shape, file=self.log)  # a break inside the comprehension
        return (x * self.w).sum()


def test_a_method_with_a_comprehension_over_self_splits_and_trains(hook_on):
    def make():
        model = _Scaler()
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(xs):
            opt.zero_grad()
            loss = model(xs).pow(2).sum()
            loss.backward()
            opt.step()
            return loss

        return step, lambda: {"model": model, "log": model.log.getvalue()}

    calls = [([janus.full((3,), 0.1 * k), janus.ones(3)],) for k in range(6)]
    jf = run_both(make, calls)
    forward = [c for c in janus.jit.frontend.reports if c.co_qualname == "_Scaler.forward"]
    assert forward and any(e.hits for e in janus._C.capture.entries(forward[0]))
    assert compiled_calls(jf) >= 3


class _Node:
    def __init__(self, word, children=()):
        self.word, self.children = word, list(children)


def _tree(rng, depth=0):
    word = int(rng.integers(0, 8))
    if depth >= 3 or rng.random() < 0.3:
        return _Node(word)
    return _Node(word, [_tree(rng, depth + 1), _tree(rng, depth + 1)])


class _Recursive(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(8, 4)
        self.cell = nn.Linear(8, 4)

    def encode(self, tree):
        x = self.embed(janus.tensor([tree.word])).tanh()
        if not tree.children:
            return x
        left, right = self.encode(tree.children[0]), self.encode(tree.children[1])
        return self.cell(janus.cat([left + x, right], 1)).tanh()


def _recursive_trainer():
    model = _Recursive()
    opt = janus.optim.SGD(model.parameters(), lr=0.1)

    def step(tree):
        opt.zero_grad()
        loss = model.encode(tree).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    return step, lambda: {"model": model}


def test_recursion_over_a_new_structure_each_call_compiles_each_level(hook_on):
    """The first translation inlines the recursion (the tree's whole shape);
    once the shape changes, a recursive call is a break: `encode` compiles
    per node (a leaf's word is a graph input, not a guard), each call with
    its own compiled backward, and training matches eager."""
    rng = np.random.default_rng(3)
    trees = [t for t in (_tree(rng) for _ in range(40)) if t.children][:16]
    jf = run_both(_recursive_trainer, [(t,) for t in trees], rtol=1e-4, atol=1e-5)
    breaks = [b for t in jf.report.compiles for b in t.breaks]
    assert any(b.kind == "recursion" for b in breaks)
    reports = janus.jit.frontend.reports
    encode = [c for c in reports if c.co_qualname.startswith("_Recursive.encode")]
    hits = sum(e.hits for c in encode for e in janus._C.capture.entries(c))
    assert hits >= 50  # (the pieces of every node after warm-up: about 200 in all)


def _fold(tree, w):
    if isinstance(tree, int):
        return w[tree]
    return (_fold(tree[0], w) + 2 * _fold(tree[1], w)).tanh()


def test_recursion_over_the_same_structure_stays_one_graph():
    """A recursive call over a structure that does not change is inlined:
    the step is one graph, no break."""

    def make():
        w = nn.Parameter(janus.linspace(-1.0, 1.0, 6))
        opt = janus.optim.SGD([w], lr=0.1)

        def step(tree):
            opt.zero_grad()
            loss = _fold(tree, w).pow(2)
            loss.backward()
            opt.step()
            return loss

        return step, lambda: {"w": w}

    tree = ((1, 2), (3, (4, 5)))
    jf = run_both(make, [(tree,)] * 5)
    last = jf.report.compiles[-1]
    assert last.split is None and not last.breaks
    assert compiled_calls(jf) >= 3


@pytest.mark.skipif(sys.version_info < (3, 11), reason="CPython 3.11+")
def test_a_resumed_frame_reads_and_writes_its_cells_through_the_closure():
    """After the split, the rest stores to the cell (`nonlocal` in an inner
    function called after the break): the closure the frame returns sees it."""

    def make():
        log = io.StringIO()

        def fn(x, k):
            count = 0

            def bump():
                nonlocal count
                count += 1
                return count

            bump()
            print(k, file=log)
            y = x * bump()
            return y, bump

        return fn, lambda: {"log": log.getvalue()}

    for jit in (False, True):
        f = janus.jit(make()[0]) if jit else make()[0]
        outs = [f(x, k) for x, k in _calls()]
        assert [y.tolist() for y, _ in outs] == [[2.0 * k] * 3 for k in range(6)]
        assert [bump() for _, bump in outs] == [3] * 6
    assert splits(f)


def test_a_function_made_after_a_split_reads_this_calls_cells(hook_on):
    """After a break, the rest runs as a resume function whose closure is
    each call's cells. A comprehension (3.11) or lambda it makes over them
    reads them as the frame's own: they were read as the first call's
    cells, so a later call with another `k` ran on the old one."""

    def make():
        def fn(x, y, n):
            k = n % 3
            if float(x.sum()) > 0:  # a break: the rest is a resume function
                x = x + 1
            scaled = [(y * k + 0.5) * i for i in range(2)]
            shift = lambda t: t - k * y.sum()  # noqa: E731
            return janus.stack(scaled).mean(0) + shift(y), y * k

        return fn, dict

    def calls(k):  # a new `y` each call: the resume function's cells hold it
        return janus.full((3,), 1.0 - k % 2), janus.full((3,), float(k)), k // 3

    calls.count = 9
    jf = run_both(make, calls)
    assert splits(jf)
    assert resume_hits(jf) >= 3


def test_closures_sharing_code_read_their_own_cells(hook_on):
    """Closures of one code (one `step` per `scale`) share its compiled
    entries; a comprehension or lambda inside reads the calling closure's
    cell, not the one the first translation saw (whose `scale` was baked
    and guarded, so the other steps ran with it)."""

    def make_step(scale):
        def step(x):
            scaled = [x * scale + i for i in range(2)]
            return sum(scaled) + (lambda t: t * scale)(x)

        return step

    steps = [make_step(s) for s in (1.0, 2.0, 3.0)]
    x = janus.arange(3.0)
    for _ in range(3):
        for s, step in zip((1.0, 2.0, 3.0), steps):
            expected = (x * s) * 2 + 1 + x * s
            np.testing.assert_allclose(step(x).numpy(), expected.numpy())
