"""Slices of a tensor by bounds that change from call to call, and indices.

`x[i : i + n]` or `x[i]` with `i` a number that keeps changing (a batch
offset, a leaf's position in a sentence, a word's row of an embedding) is no
graph break and needs no new graph per `i`: each compiled call computes the
positions the slice takes on entry (a graph input) and the graph takes them
with index_select (and drops an index's dimension). Eager's slice is a view;
the graph's is a copy, so a write through it is put back with index_put at
the same positions, and a read after its base was written takes it again.
The graph assumes the number of positions; a call whose slice has another
number runs as usual."""

from __future__ import annotations

import numpy as np
import pytest
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn
from janus import _C


def _table():
    return janus.arange(40.0).reshape(8, 5)


def test_a_window_at_a_changing_offset_is_one_graph():
    def make():
        def fn(x, i):
            return (x[i : i + 2] * 3).sum(0)

        return fn, dict

    x = _table()
    jf = run_both(make, [(x, i) for i in (0, 3, 1, 6, 2, 5, 4, 0)])
    assert len(jf.report.compiles) <= 3  # a few values first, then `i` is data
    assert compiled_calls(jf) >= 5
    assert not any(t.breaks for t in jf.report.compiles)


@pytest.mark.parametrize(
    "take",
    [
        lambda x, i: x[i : i + 1],
        lambda x, i: x[:, i : i + 2],
        lambda x, i: x[1:7, i : i + 3],
        lambda x, i: x[i:],
        lambda x, i: x[: i + 1 : 2],
        lambda x, i: x[-i - 1 :],
        lambda x, i: x[i : i + 5 : 2],
    ],
    ids=["row", "columns", "fixed-and-changing", "tail", "stepped", "negative", "stepped-start"],
)
def test_slices_of_every_form_give_what_eager_gives(take):
    """Each form over changing `i` (ranges of a changing length fall back,
    and still give eager's result)."""

    def make():
        def fn(x, i):
            return take(x, i) * 2

        return fn, dict

    run_both(make, [(_table(), i) for i in (0, 2, 1, 3, 2, 0, 1, 3)])


def test_gradients_flow_to_the_rows_taken():
    """A leaf's embedding row by its position: the gradient lands in the
    row the call took, as eager's does, for every call's position."""

    def make():
        emb = nn.Linear(5, 3)
        opt = janus.optim.SGD(emb.parameters(), lr=0.1)

        def fn(x, i):
            opt.zero_grad()
            loss = emb(x[i : i + 1]).tanh().sum()
            loss.backward()
            opt.step()
            return loss.detach()

        return fn, lambda: {"emb": emb}

    x = _table() / 40
    x.requires_grad_(True)
    jf = run_both(make, [(x, i) for i in (0, 5, 2, 7, 1, 4, 6, 3)])
    assert compiled_calls(jf) >= 4


def test_a_slice_whose_length_changes_runs_as_usual():
    """`x[i:j]` with both bounds changing: the graph assumed one length; a
    call with another falls back (eager's result), one with it compiles."""

    def make():
        def fn(x, i, j):
            return x[i:j] + 1

        return fn, dict

    x = _table()
    calls = [(x, 0, 2), (x, 1, 3), (x, 2, 4), (x, 3, 5), (x, 1, 4), (x, 4, 6), (x, 0, 5)]
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 1


def test_a_write_through_the_slice_reaches_its_base():
    """Eager's slice is a view: writing it changes `x`. The graph's is a
    copy, so the write is put back into `x` at the call's positions."""

    def make():
        x = _table()

        def fn(i):
            window = x[i : i + 2]
            window.mul_(-1)
            return x.sum()

        return fn, lambda: {"x": x}

    jf = run_both(make, [(i,) for i in (0, 3, 1, 5, 2, 4)])
    assert compiled_calls(jf) >= 3


def test_a_slice_read_after_its_base_was_written_is_taken_again():
    def make():
        x = _table()

        def fn(i):
            window = x[i : i + 2]
            x.add_(1)
            return window * 1

        return fn, lambda: {"x": x}

    jf = run_both(make, [(i,) for i in (0, 3, 1, 5, 2, 4)])
    assert compiled_calls(jf) >= 3


def test_rows_of_a_parameter_updated_in_place_by_a_changing_index():
    """A training step that also rescales the rows it used (`no_grad`, as a
    sparse update does): the write reaches the parameter, and the next
    call's forward reads the rows as eagerly."""

    def make():
        w = nn.Parameter(_table() / 40)
        opt = janus.optim.SGD([w], lr=0.1)

        def fn(i):
            opt.zero_grad()
            rows = w[i : i + 2]
            loss = rows.tanh().sum() + w[i + 1].sum()
            loss.backward()
            opt.step()
            with janus.no_grad():
                w[i : i + 2].mul_(0.5)
                w[i].add_(rows.sum())
            return loss.detach()

        return fn, lambda: {"w": w}

    jf = run_both(make, [(i,) for i in (0, 3, 1, 5, 2, 4, 6, 0)])
    assert compiled_calls(jf) >= 4


def test_a_changing_slice_of_a_list_is_still_a_break():
    """Only a tensor's slice has a graph form; a list's bakes its bounds."""

    def make():
        def fn(x, xs, i):
            return x * sum(xs[i : i + 2])

        return fn, dict

    xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    run_both(make, [(janus.ones(2), xs, i) for i in (0, 3, 1, 4, 2, 0)])


def test_a_type_check_of_a_changing_number_is_no_break():
    """`isinstance(i, int)` of a number read as data: its type is guarded,
    the call goes on compiled."""

    def make():
        def fn(x, i):
            if isinstance(i, int):
                return x[i : i + 1] * 2
            return x

        return fn, dict

    x = _table()
    jf = run_both(make, [(x, i) for i in (0, 3, 1, 6, 2, 5, 4, 7)])
    assert not any(t.breaks for t in jf.report.compiles)
    assert compiled_calls(jf) >= 4


def test_the_positions_refuse_what_eager_refuses():
    """A step that is not positive: eager raises ValueError at the user's
    line, and so does a compiled call (which falls back to raise it)."""

    def fn(x, i, step):
        return x[i : i + 2 : step] * 1

    jf = janus.jit(fn)
    x = _table()
    for i in (0, 3, 1, 4, 2):
        with _C.capture.disabled():
            want = fn(x, i, 1)
        np.testing.assert_array_equal(jf(x, i, 1).numpy(), want.numpy())
    for step in (0, -1):
        with pytest.raises(ValueError, match="step must be greater than zero"):
            jf(x, 2, step)


@pytest.mark.parametrize(
    "take",
    [
        lambda x, i: x[i],
        lambda x, i: x[-i - 1],
        lambda x, i: x[:, i % 5],
        lambda x, i: x[i, i % 5],
        lambda x, i: x[1:7, i % 5],
        lambda x, i: x[i, 1:4],
        lambda x, i: x[i : i + 2, i % 5],
        lambda x, i: x[i][i % 5],
    ],
    ids=["row", "negative", "column", "element", "fixed-slice", "row-part", "window", "chained"],
)
def test_changing_indices_of_every_form_give_what_eager_gives(take):
    def make():
        def fn(x, i):
            return take(x, i) * 2

        return fn, dict

    jf = run_both(make, [(_table(), i) for i in (0, 2, 1, 3, 6, 0, 4, 5)])
    assert compiled_calls(jf) >= 4
    assert not any(t.breaks for t in jf.report.compiles)


def test_an_embedding_row_by_a_changing_index_trains_as_eagerly():
    """`weight[word]` with the word changing per call: one graph, and the
    gradient lands in that call's row."""

    def make():
        weight = nn.Parameter(janus.randn(6, 3))
        opt = janus.optim.SGD([weight], lr=0.1)

        def fn(word):
            opt.zero_grad()
            loss = (weight[word].tanh() * janus.arange(3.0)).sum()
            loss.backward()
            opt.step()
            return loss.detach()

        return fn, lambda: {"weight": weight}

    janus.manual_seed(0)
    jf = run_both(make, [(w,) for w in (0, 5, 2, 4, 1, 3, 5, 0)])
    assert compiled_calls(jf) >= 4


def test_an_index_out_of_range_raises_as_eagerly():
    def fn(x, i):
        return x[i] * 1

    jf = janus.jit(fn)
    x = _table()
    for i in (0, 3, 1, 4, 2, -1):
        with _C.capture.disabled():
            want = fn(x, i)
        np.testing.assert_array_equal(jf(x, i).numpy(), want.numpy())
    for i in (8, -9):
        with pytest.raises(IndexError):
            jf(x, i)


def test_a_write_through_an_indexed_row_reaches_its_base():
    def make():
        x = _table()

        def fn(i):
            x[i].mul_(-1)
            x[i, 1:3] += 2
            return x.sum()

        return fn, lambda: {"x": x}

    jf = run_both(make, [(i,) for i in (0, 3, 1, 5, 2, 4)])
    assert compiled_calls(jf) >= 3


@pytest.mark.parametrize(
    "store",
    [
        "x[i] = 1.5",
        "x[i] = x[0] * 2",
        "x[:, i % 5] = janus.arange(8.0)",
        "x[i : i + 2] += 1",
        "x[i, 1:3] = janus.tensor([[4.0, 5.0]])[0]",
        "x[i] = janus.ones(1, 5)",  # more dimensions than the row: the item store
    ],
)
def test_stores_at_a_changing_index_give_what_eager_gives(store):
    def make():
        x = _table()
        namespace = {"janus": janus, "x": x}
        exec(f"def fn(i):\n    {store}\n    return x * 1\n", namespace)
        return namespace["fn"], lambda: {"x": x}

    jf = run_both(make, [(i,) for i in (0, 3, 1, 5, 2, 4, 6, 0)])
    assert compiled_calls(jf) >= (0 if "ones(1" in store else 4)
