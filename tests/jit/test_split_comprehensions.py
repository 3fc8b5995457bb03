"""Splits inside comprehensions (3.11 and 3.12 build them differently): the
whole container is built, an exception reaches the same handler, a
recursive model over comprehensions runs right, and a long loop that splits
each iteration does not nest calls. (test_split.py: splits in general.)"""

import json
import sys

import numpy as np
from differential import compiled_resume_calls

import janus
from janus import _C
from janus.jit import frontend

capture = _C.capture


def test_a_comprehension_that_splits_builds_the_whole_list(hook_on):
    """A list comprehension with a third-party call per element: it splits
    inside its loop, and the resume functions append to the list it began
    (an effect on a list they received), not to a copy."""

    def build(rng, shapes):
        return [janus.tensor(rng.uniform(-1, 1, size=s).astype(np.float32)) for s in shapes]

    for seed in range(12):
        with capture.disabled():
            want = build(np.random.default_rng(seed), [(2,), (3,), (4,)])
        got = build(np.random.default_rng(seed), [(2,), (3,), (4,)])
        assert [t.tolist() for t in got] == [t.tolist() for t in want], seed


def test_dict_and_set_comprehensions_that_split_build_the_whole_container(hook_on):
    """A break inside a dict or set comprehension splits its loop (in the
    comprehension's own frame on 3.11, which sees no tensor on entry); the
    resume functions add to the container it began (an effect on a dict or
    set they received). They were breaks the comprehension could not split."""
    seen = []

    def step(xs):
        scores = {k: json.dumps(round((x * 2).sum().item(), 3)) for k, x in enumerate(xs)}
        wide = {k for k, x in enumerate(xs) if json.loads(json.dumps(x.shape[0])) > 2}
        seen.append((scores, sorted(wide)))
        return sum(x.sum() for x in xs) * 2

    def calls():
        return [[janus.ones(2 + j) * k for j in range(3)] for k in range(14)]

    with capture.disabled():
        want = [step(xs).item() for xs in calls()]
    eager_seen = list(seen)
    seen.clear()
    got = [step(xs).item() for xs in calls()]
    assert got == want and seen == eager_seen
    codes = [c for c in list(frontend.reports) if c.co_qualname.startswith(step.__qualname__)]
    hits = {c.co_qualname: capture.stats(c)["hits"] for c in codes}
    assert sum(hits.values()) >= 10, hits
    resumed = [c for c in codes if "<resume" in c.co_qualname and capture.stats(c)["hits"]]
    assert len(resumed) >= 2, hits


def test_an_exception_in_a_comprehension_that_splits_reaches_the_same_handler(hook_on):
    """3.12 inlines a comprehension under a handler that restores its loop
    variable and re-raises: a break inside it splits, and an exception from
    the Python piece leaves the frame as eagerly; inside a try block of the
    frame the break does not split, so the frame's own handler catches it."""

    def plain(xs, bad):
        names = [json.dumps(x if bad else x.shape[0]) for x in xs]  # json.dumps(tensor) raises
        return sum(x.sum() for x in xs) * 2, names

    def guarded(xs, bad):
        try:
            names = [json.dumps(x if bad else x.shape[0]) for x in xs]
        except TypeError:
            names = ["bad"]
        return sum(x.sum() for x in xs) * 2, names

    xs = [janus.ones(2), janus.ones(3)]
    for fn in (plain, guarded):
        for k in range(12):
            bad = k in (6, 9)
            with capture.disabled():
                try:
                    want = fn(xs, bad)
                except TypeError as error:
                    want = type(error)
            try:
                got = fn(xs, bad)
            except TypeError as error:
                got = type(error)
            if isinstance(want, tuple):
                assert got[0].item() == want[0].item() and got[1] == want[1], (fn, k)
            else:
                assert got is want is TypeError and fn is plain, (fn, k)
    # `plain` split inside its comprehension (3.12) or the comprehension's
    # frame did (3.11): the exceptions above came through compiled parts.
    codes = [c for c in list(frontend.reports) if c.co_qualname.startswith(plain.__qualname__)]
    assert any(capture.stats(c)["hits"] for c in codes), [c.co_qualname for c in codes]


def test_a_recursive_model_over_comprehensions_runs_right_with_the_hook(hook_on):
    """TreeLSTM's shape: a recursive method whose children are visited in a
    list comprehension, with a break in every call: the frames, their
    comprehensions and the resume functions of both compile and split, and
    every tree still gives eager's result. (The bench suite's test runs
    bench/jit_step.py's TreeLSTM, where a comprehension called natively got
    the translator's own iterator as its argument.)"""
    w = janus.ones(3, 3) * 0.3

    class Tree:
        def __init__(self, value, children):
            self.value, self.children = value, children

    def grow(rng, depth=0):
        kids = [] if depth >= 5 or rng.random() < 0.3 else [grow(rng, depth + 1) for _ in "ab"]
        return Tree(float(rng.random()), kids)

    class Model:
        def node(self, tree):
            json.dumps(tree.value)  # a break: later calls in a translation are native
            states = [self.node(child) for child in tree.children]
            h = janus.ones(3) * tree.value
            for s in states:
                h = h + (s @ w).tanh()
            return h

    rng = np.random.default_rng(0)
    trees = [grow(rng) for _ in range(6)]
    model = Model()
    for k in range(18):
        tree = trees[k % len(trees)]
        with capture.disabled():
            want = model.node(tree).tolist()
        np.testing.assert_allclose(model.node(tree).tolist(), want, rtol=1e-6)


def test_a_long_loop_that_splits_every_iteration_does_not_nest_calls(hook_on):
    """Each iteration hands the next resume call back to the split that is
    running the loop: a loop far longer than the recursion limit runs."""

    def drive(xs):
        acc = janus.zeros(2)
        for x in xs:
            acc = acc + x
            json.dumps(1)  # a break in every iteration
        return acc

    xs = [janus.ones(2)] * (sys.getrecursionlimit() + 500)
    jf = janus.jit(drive)
    for _ in range(8):  # (the resume functions compile over the first calls)
        assert jf(xs).tolist() == [float(len(xs))] * 2
    assert compiled_resume_calls(drive) > len(xs)
