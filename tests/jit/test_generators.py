"""Generator expressions consumed at once by a call are interpreted inline
(src/janus/jit/generators.py), differentially against eager."""

from __future__ import annotations

import pytest
from tests.jit.differential import compiled_calls, run_both
from tests.jit.test_models import TreeLSTM, _tree_batches

import janus
import janus.nn.functional as F


def _xs():
    janus.manual_seed(11)
    return [(janus.randn(3), [janus.randn(3), janus.randn(3), janus.randn(3)])] * 4


def _compiled_once(jf, calls):
    assert len(jf.report.compiles) == 1 and not jf.report.compiles[0].breaks, jf.explain()
    assert compiled_calls(jf) == calls - 1


def test_every_consumer_of_a_generator_expression():
    def fn(x, xs):
        return (
            sum(t * t for t in xs),
            tuple(t + x for t in xs),
            list(t - x for t in reversed(xs)),
            janus.stack(t * 2 for t in xs),
            janus.cat(tuple(t[:1] for t in xs)),
            max((len(s) for s in ("ab", "c")), default=0),
            min(k * k for k in range(1, 4)),
            ", ".join(f"{k}" for k in range(3)),
            any(k > 1 for k in range(3)) and all(k >= 0 for k in range(3)),
            dict((f"k{k}", t) for k, t in enumerate(xs)),
            sorted(set(k % 2 for k in range(5))),
        )

    _compiled_once(run_both(lambda: (fn, dict), _xs()), 4)


def test_nested_generators_closures_and_conditions():
    def make():
        scale = 2.0

        def fn(x, xs):
            return sum(sum(t * scale * j for j in range(2)) for t in xs if t is not x)

        return fn, dict

    _compiled_once(run_both(make, _xs()), 4)


def test_a_changing_length_recompiles():
    def fn(x, xs):
        return sum(t * x for t in xs)

    janus.manual_seed(12)
    x = janus.randn(2)
    short, long = [x, x * 2], [x, x * 2, x * 3]
    jf = run_both(lambda: (fn, dict), [(x, short), (x, short), (x, long), (x, long)])
    assert len(jf.report.compiles) == 2 and compiled_calls(jf) == 2, jf.explain()


def test_a_generator_that_escapes_is_a_graph_break():
    def fn(x, xs):
        gen = (t * x for t in xs)  # stored: it could be resumed after the translation
        return sum(gen)

    jf = run_both(lambda: (fn, dict), _xs())
    assert any(b.kind == "unsupported-call" for t in jf.report.compiles for b in t.breaks)
    # The frame splits where it makes the generator (`x` is a cell the
    # generator shares: each call makes its own, see test_cells.py).
    assert jf.report.compiles[-1].split is not None


def test_decisions_on_tensor_data_inside_a_consumer_break():
    def fn(x, xs):
        return x * 2 if any(t.sum() > 100 for t in xs) else x

    jf = run_both(lambda: (fn, dict), _xs())
    assert compiled_calls(jf) == 0
    assert any(b.kind == "data-dependent" for t in jf.report.compiles for b in t.breaks)


def test_numbers_read_from_tensors_are_not_frozen():
    def fn(xs):
        return sum(t.sum().item() for t in xs)

    jf = run_both(lambda: (fn, dict), [(x[1],) for x in _xs()])
    assert compiled_calls(jf) == 0  # a sum of .item()s would be baked into the graph


def test_errors_inside_a_generator_are_the_programs():
    def boom(k):
        if k == 2:
            raise StopIteration  # inside a generator: Python makes it a RuntimeError
        return k

    def fn(x, n):
        return x * sum(boom(k) for k in range(n))

    jf = janus.jit(fn)
    assert jf(janus.ones(1), 2).tolist() == [1.0]
    with pytest.raises(RuntimeError, match="StopIteration"):
        jf(janus.ones(1), 3)
    with pytest.raises(RuntimeError, match="StopIteration"):
        fn(janus.ones(1), 3)


def test_treelstm_step_compiles_for_a_repeated_tree():
    # The benchmark's step: `sum(cross_entropy(...) for ... in trees)`.
    def make():
        model = TreeLSTM()
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(batch):
            opt.zero_grad()
            loss = sum(F.cross_entropy(model(tree, w), y) for tree, w, y in batch)
            loss = loss / len(batch)
            loss.backward()
            opt.step()
            return loss.item()

        return step, lambda: {"model": model, "opt": opt}

    batch = _tree_batches(1)[0]
    jf = run_both(make, [(batch,)] * 4, rtol=1e-4, atol=1e-5)
    assert compiled_calls(jf) == 2, jf.explain()  # the first step makes optimizer state
