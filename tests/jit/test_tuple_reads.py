"""Tuples from outside the frame, read element by element.

A tuple argument is guarded by its type and, where the trace relies on it,
its length; its elements are read through their own sources (`L['t'][0]`),
as a list's are. So a tree of nested tuples that changes every call keeps
the guards of the parts the trace looked at, and a number in it that keeps
changing becomes data. Wherever the trace bakes the whole tuple (a builtin
over it, a hash, a shape), every element it holds is guarded instead."""

from __future__ import annotations

import numpy as np
import pytest
from tests.jit.differential import assert_same, compiled_calls, run_both, snapshot

import janus
import janus.nn as nn
from janus import _C

# Tuples that change from call to call, each with the same length and types.
_TUPLES = [(3, 2), (2, 3), (6, 1), (3, 2), (1, 6), (2, 3), (6, 1), (1, 6)]


def _sum(x, t):
    return x * sum(t)


def _max(x, t):
    return x + max(t)


def _member(x, t):
    return x * 2 if t in [(3, 2), (1, 6)] else x


def _dict_key(x, t):
    table = {t: 1.0, (2, 3): 5.0}
    return x * table[t]


def _hash(x, t):
    return x + (hash(t) % 7)


def _str(x, t):
    return x, str(t)


def _zeros(x, t):
    return janus.zeros(t) + x.reshape(t)


def _equals(x, t):
    return x * 3 if t == (6, 1) else x


def _unpack(x, t):
    a, b = t
    return x * a - b


def _index(x, t):
    return x * t[0] + t[-1]


def _reshape(x, t):
    return x.reshape(t).sum(0)


def _iterate(x, t):
    for v in t:
        x = x * v
    return x


def _format(x, t):
    return x, f"{t}/{t[0]}"


def _concatenate(x, t):
    return x, t + (1,), t * 2


def _slice(x, t):
    return x * t[1:][0]


def _repr_in_list(x, t):
    return x, [t, t[0]]


PROGRAMS = [
    _sum, _max, _member, _dict_key, _hash, _str, _zeros, _equals, _unpack,
    _index, _reshape, _iterate, _format, _concatenate, _slice, _repr_in_list,
]  # fmt: skip


@pytest.mark.parametrize("fn", PROGRAMS, ids=lambda f: f.__name__.strip("_"))
def test_a_changing_tuple_gives_what_eager_gives(fn):
    """Each program over tuples that change every call: the compiled
    calls' results are the eager ones (whatever the trace baked is guarded)."""
    compiled = janus.jit(fn)
    for k, t in enumerate(_TUPLES):
        x = janus.arange(6.0) + k
        with _C.capture.disabled():
            want = snapshot(fn(x, t))
        assert_same(want, snapshot(compiled(x, t)), where=f"{fn.__name__}{t}")


class _TupleTrees(nn.Module):
    """A TreeLSTM-like model over trees of nested tuples whose leaves are
    positions in a sentence (bench/workloads/treelstm.py's form)."""

    def __init__(self):
        super().__init__()
        self.leaf = nn.Linear(4, 3)
        self.node = nn.Linear(6, 3)

    def encode(self, tree, x):
        if isinstance(tree, int):
            return self.leaf(x[tree : tree + 1]).tanh()
        left, right = self.encode(tree[0], x), self.encode(tree[1], x)
        return self.node(janus.cat([left, right], -1)).tanh()


def _bracketing(rng, lo, hi):
    if hi - lo == 1:
        return lo
    split = int(rng.integers(lo + 1, hi))
    return (_bracketing(rng, lo, split), _bracketing(rng, split, hi))


def test_a_recursion_over_new_tuple_trees_compiles_per_node(hook_on):
    """A new bracketing every call, and a step function that takes several:
    `encode` compiles per node (a leaf's position is a graph input, a
    subtree's parts are read one by one), the step runs as usual around it,
    and training matches eager."""

    def make():
        model = _TupleTrees()
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(batch):
            opt.zero_grad()
            loss = sum(model.encode(tree, x).pow(2).sum() for tree, x in batch)
            loss.backward()
            opt.step()
            return loss.detach()

        return step, lambda: {"model": model}

    rng = np.random.default_rng(5)
    sentence = [janus.linspace(-1.0, 1.0, 24).reshape(6, 4) * (k + 1) for k in range(3)]
    calls = [([(_bracketing(rng, 0, 6), x) for x in sentence],) for _ in range(24)]
    run_both(make, calls, rtol=1e-4, atol=1e-5)
    reports = janus.jit.frontend.reports
    encode = [c for c in reports if c.co_qualname.startswith("_TupleTrees.encode")]
    entries = [e for c in encode for e in janus._C.capture.entries(c)]
    assert sum(e.hits for e in entries) >= 300  # (of about 24 * 3 * 11 nodes)
    assert sum(_C.capture.stats(c)["fallbacks"] for c in encode) == 0


@janus.jit.skip
def _note(item, log):
    """A call that runs in Python (a break): what it receives is not baked."""
    log.append(repr(item))


def test_an_item_only_passed_to_a_break_is_read_on_entry_unguarded():
    """`note(t[0], log)` where the frame splits at `note`: the item goes to
    Python as it is on each call (a number, a tuple, None, text), with no
    guard and so no recompile when it changes type or value."""

    def make():
        log = []

        def fn(x, t):
            y = x * 2
            _note(t[0], log)
            return y + t[1]

        return fn, lambda: {"log": log}

    items = [1, (1, 2), "a", None, 2.5, ((3,), 4), 7, "b"]
    jf = run_both(make, [(janus.ones(2), (item, 1.0)) for item in items])
    assert len(jf.report.compiles) <= 3
    assert compiled_calls(jf) >= 5


def test_an_item_used_before_it_is_passed_on_stays_guarded():
    """The same item read before the break call and decided on: that read
    is guarded as ever (only the subscript feeding the call is not)."""

    def make():
        log = []

        def fn(x, t):
            y = x * 3 if t[0] == 2 else x
            _note(t[0], log)
            return y

        return fn, lambda: {"log": log}

    run_both(make, [(janus.ones(2), (k % 3, 0)) for k in range(8)])


def test_an_item_that_is_not_there_raises_as_eagerly():
    """A shorter tuple: the unguarded item is not there on entry, so the
    call runs as usual and raises eager's IndexError."""

    def fn(x, t, log):
        y = x * 2
        _note(t[1], log)
        return y

    jf = janus.jit(fn)
    for k in range(5):
        jf(janus.ones(2), (k, k + 1), [])
    assert any(e[1].calls for e in jf.entries)
    with pytest.raises(IndexError, match="tuple index out of range"):
        jf(janus.ones(2), (1,), [])
