"""Views a compiled call must give as eager does, differentially: views of
outside tensors keep sharing their memory, writes through views are graph
ops that reach their base, a view returned with its base shares its
memory, and a detached view the frame keeps does not require grad.
(test_values_per_call.py: the other values taken afresh at each call.)"""

from __future__ import annotations

import json

import pytest
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn


@pytest.mark.parametrize("case", ["update", "hand out", "across a break"])
def test_views_of_outside_tensors_keep_sharing_their_memory(case):
    """A view shares its base's memory: an update through it shows in the
    base (the graph writes the view's new value back into the base). A
    view handed out or kept across a break would be a copy (graph outputs
    are new arrays), so such frames run as usual."""

    def make():
        kept = []

        def fn(x):
            if case == "update":
                x[:1].add_(1)
                x.view(2, 2)[1].mul_(2)
            elif case == "hand out":
                kept.append(x.t())
                return x[1:]
            else:
                v = x[:1]
                json.dumps(1)  # a break: the frame splits here
                v.add_(1)
            return x * 1

        return fn, lambda: {"kept": kept}

    def calls(k):
        return (janus.arange(4.0),)

    calls.count = 5
    jf = run_both(make, calls)
    if case == "update":
        assert compiled_calls(jf) >= 3
    if case == "hand out":
        x = janus.arange(4.0)
        jf(x).add_(10)  # writes through: the caller's tensor changes too
        assert x.tolist() == [0.0, 11.0, 12.0, 13.0]


def _view_programs():
    def nested(x):  # a view of a view of a tensor the frame made
        y = x * 1
        v = y[1:]
        v[0].add_(10)
        return y * 1, v * 1

    def reshaped(x):  # through a transpose and a flat view
        y = x.reshape(2, 3) * 1
        y.t()[0].mul_(2)
        y.view(-1)[4] = 7.0
        return y

    def sibling(x):  # a view read after another view of its base was written
        first, column = x[0], x[:, 1]
        first.add_(1)
        return column * 1

    def base_written(x):  # a view read after its base was written
        y = x * 1
        v = y[0]
        y.add_(1)
        x.mul_(2)
        return v * 2, y[1] * 1

    def chunks(x):
        y = x * 1
        p, q = y.chunk(2, dim=1)
        q.zero_()
        p.add_(q + 1)
        return y

    def no_grad_update(x):
        with janus.no_grad():
            x[0].copy_(x[1])
            x.view(-1)[0] += 1
        return x.sum()

    def reshaped_slice(x):  # a reshape of a slice: put back twice (the translator hung)
        y = x * 1
        y[1:].reshape(-1).mul_(-1)
        y[:, 1:].t().add_(1)
        return y

    return [nested, reshaped, sibling, base_written, chunks, no_grad_update, reshaped_slice]


@pytest.mark.parametrize("program", _view_programs(), ids=lambda f: f.__name__)
def test_writes_through_views_are_graph_ops(program):
    """A graph value is not memory: a write through a view the frame made
    is put back into the view's base by graph ops (index_put, the inverse
    reshape or permute), and a view whose base was written since it was
    made is taken from the base again when read. (Such frames ran as usual;
    a view read after a write to its base saw the old values.)"""

    def make():
        return program, dict

    def calls(k):
        return (janus.arange(6.0).reshape(2, 3) + k,)

    calls.count = 5
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 3


def test_a_view_returned_with_its_base_shares_its_memory():
    def make():
        def fn(x):
            y = x * 2
            return y, y[0], y.t()

        return fn, dict

    jf = run_both(make, [(janus.ones(2, 2),) for _ in range(4)])
    y, row, flipped = jf(janus.ones(2, 2))
    row.add_(1)
    flipped[1, 0] = 9.0
    assert y.tolist() == [[3.0, 9.0], [2.0, 2.0]] and compiled_calls(jf) >= 3


def test_a_detached_view_kept_by_the_frame_does_not_require_grad():
    """`h = emb(ids)[0]; states.append(h.detach())`: the detached tensor
    holds the view's array, and was rebuilt as the view itself, so the
    compiled call kept a tensor that required grad."""

    def make():
        janus.manual_seed(0)
        emb = nn.Embedding(8, 4)
        states = []

        def fn(i):
            h = emb(janus.tensor([i]))[0]
            states.append(h.detach())
            return h.sum()

        return fn, lambda: {"states": states}

    jf = run_both(make, [(i,) for i in (0, 3, 1, 5, 2, 4, 6, 7)])
    assert compiled_calls(jf) >= 3
