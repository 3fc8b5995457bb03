"""Values a compiled call must take afresh at each call, differentially:
tensors the frame makes (constants, filled and ranged tensors), the old
value an in-place op keeps for its gradient, an optimizer's state, and the
numbers inside containers that a janus call bakes into the graph."""

from __future__ import annotations

import contextlib
import copy
import fractions
import io
import types

import numpy as np
import pytest
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn


def test_tensors_made_from_python_data_are_made_afresh_each_call():
    """janus.tensor([...]) inside the frame is a constant of the graph: an
    in-place update of it must not carry over to the next call (it did when
    such tensors were read as outside inputs and the update committed)."""

    def step(x, n):
        acc = janus.tensor([0.0, float(n), 0.0])
        acc.add_(x)
        return acc * 2

    jf = janus.jit(step)
    x = janus.ones(3)
    for n in (1, 1, 1, 2, 2):
        assert jf(x, n).tolist() == [2.0, 2.0 * (n + 1), 2.0]
    assert compiled_calls(jf) >= 3
    graph = jf.report.compiles[0].entry.graph
    signature = str(graph).split("{")[0]
    assert "constant()" in str(graph) and signature.count("%") == 1  # x alone is read


def test_tensors_made_inside_and_updated_in_place_are_fresh_on_every_call():
    def small(x):
        acc = janus.zeros(3)
        acc.add_(x)
        return acc * 2

    def large(x):
        acc = janus.zeros(300, 300)  # one value expanded: a graph value however large
        acc.add_(x)
        return acc.sum()

    def spelled_out(x):
        acc = janus.eye(300)  # too large to spell out as a constant
        acc.add_(x)
        return acc.sum()

    x = janus.ones(3)
    jf = janus.jit(small)
    assert [jf(x).tolist() for _ in range(4)] == [[2.0, 2.0, 2.0]] * 4
    assert compiled_calls(jf) >= 2
    jl = janus.jit(large)
    big = janus.ones(300)
    assert [jl(big).item() for _ in range(4)] == [90000.0] * 4
    assert compiled_calls(jl) >= 2
    je = janus.jit(spelled_out)
    assert [je(big).item() for _ in range(4)] == [90300.0] * 4
    assert compiled_calls(je) >= 2


def test_tensors_the_frame_creates_are_new_objects_on_every_call():
    """zeros/full/arange/eye made inside a compiled frame and handed out (kept
    in a list, returned) are new tensors on every call, as eagerly; a large
    filled one used to be the recorded call's tensor, handed out again."""
    kept = []

    def make():
        def fn(x, n):
            buf = janus.zeros(300, 300)  # (not spelled out: one value, expanded)
            kept.append(buf)
            ids = janus.arange(n)
            return x * 2 + ids, janus.full((2, 2), 7.0), janus.eye(3)

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(4), 4)] * 4)
    assert compiled_calls(jf) >= 2
    assert len({id(t) for t in kept}) == len(kept) == 8
    kept[-2].add_(1)  # no call's tensor is another's
    assert kept[-1].sum().item() == 0.0
    (_, filled, eye), (_, filled2, eye2) = jf(janus.ones(4), 4), jf(janus.ones(4), 4)
    assert filled is not filled2 and eye is not eye2 and compiled_calls(jf) >= 4

    def large(x, n):  # too large to spell out: each call clones a private copy
        return x * 2, janus.eye(300), janus.arange(n)

    jl = janus.jit(large)
    made = [jl(janus.ones(2), 70000)[1:] for _ in range(4)]
    assert compiled_calls(jl) >= 2
    for eye, ids in made:
        eye.mul_(2)  # no call's tensor is another's, nor the graph's copy
        ids.add_(1)
    assert len({id(t) for pair in made for t in pair}) == 8
    (_, eye, ids) = jl(janus.ones(2), 70000)
    assert eye.sum().item() == 300.0 and ids[-1].item() == 69999


def test_a_training_step_with_a_large_made_tensor_compiles():
    """A step whose mask is too large to spell out (`eye`, `arange`) compiles:
    the graph clones a private copy, which the step updates in place and
    keeps; the parameters follow eager's after several steps."""

    def make():
        w = janus.ones(300, 300, requires_grad=True)
        opt = janus.optim.SGD([w], lr=0.01)
        kept = {}

        def step(x):
            mask = janus.eye(300)
            mask.mul_(x.sum())
            ramp = janus.arange(90000.0).reshape(300, 300) / 90000.0
            loss = ((w * mask + ramp) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            kept["mask"] = mask
            return loss.detach()

        return step, lambda: {"w": w, "mask": kept["mask"]}

    jf = run_both(make, [(janus.full((3,), float(k)),) for k in range(5)])
    assert compiled_calls(jf) >= 2


def test_the_length_of_an_outside_dict_after_a_store_follows_its_keys():
    """`d[k] = v; len(d)` depends on whether `k` was in `d` on entry, not only
    on its entry length (a guard on that length alone baked 2 for both)."""

    def make():
        def fn(d, x):
            d["a"] = x.sum().item()
            return x * len(d)

        return fn, dict

    def calls(k):
        return ({"b": 0} if k < 3 else {"a": 0}), janus.ones(2)

    calls.count = 6
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 2


class _Box:
    def __init__(self, v):
        self.v = v

    def __float__(self):
        return float(self.v)

    def __len__(self):
        return int(self.v)


def test_a_numpy_scalar_argument_is_read_each_call():
    """A numpy scalar has no native value check: `float(s)` was baked under a
    type check alone, so every call multiplied by the first call's value."""

    def make():
        def fn(x, s):
            return x * float(s) + s.item()

        return fn, dict

    jf = run_both(make, [(janus.ones(2), np.float32(v)) for v in (1, 1, 1, 2, 3, 2.5)])
    assert compiled_calls(jf) >= 3


@pytest.mark.parametrize("kind", [fractions.Fraction, _Box], ids=["Fraction", "user object"])
def test_what_a_builtin_computes_from_an_object_follows_each_call(kind):
    """`float(obj)` and `len(obj)` of an object checked by type alone were
    baked: each call gave the first call's value. `float` is now a graph
    break (the frame splits there), `len` a native length check."""

    def make():
        def fn(x, s, box):
            return x * float(s) + len(box)

        return fn, dict

    values = (1, 1, 1, 2, 3, 2, 2)
    jf = run_both(make, [(janus.ones(2), kind(v), _Box(v)) for v in values])
    assert compiled_calls(jf) >= 3


class _Level:
    def __init__(self, v):
        self.v = v

    def __str__(self):
        return f"level {self.v}"

    def __bool__(self):
        return self.v > 1

    def __lt__(self, other):
        return self.v < other


def test_text_truth_and_order_of_an_object_follow_each_call():
    """An f-string, a branch and a comparison on an object checked by type
    alone were baked from the first call's object."""

    def make():
        log = []

        def fn(x, level, sized):
            log.append(f"at {level}")
            y = x * 2 if level else x * 3
            if level < 2:
                y = y + 1
            return y * 2 if sized else y  # (truth from __len__: a length check)

        return fn, lambda: {"log": list(log)}

    values = (1, 1, 1, 2, 3, 1, 0)
    jf = run_both(make, [(janus.ones(2), _Level(v), _Box(v)) for v in values])
    assert compiled_calls(jf) >= 2


def test_indexes_passed_in_are_checked_by_value():
    """A slice, a list or a tuple of them used as a tensor index was checked
    by type alone: every call indexed with the first call's."""

    def make():
        holder = types.SimpleNamespace(s=slice(0, 1))

        def fn(x, s, idx, pair):
            y = x.clone()
            y[s] = 7.0
            return y, x[idx] * 1, x.view(3, 2)[pair] * 1, x[holder.s] * 1

        return fn, dict

    x = janus.arange(6.0)
    cases = [(slice(0, 2), [0, 1], (slice(0, 2), 1))] * 3 + [
        (slice(1, 3), [2, 3], (slice(1, 3), 0)),
        (slice(0, 4, 2), [5, 5], (slice(None), 1)),
    ]
    jf = run_both(make, [(x, s, idx, pair) for s, idx, pair in cases])
    assert compiled_calls(jf) >= 2


def test_a_dtype_argument_is_checked_by_identity():
    """`x.to(dt)` with `dt` an argument: a dtype was checked by type alone, so
    a float64 call got the float32 graph."""

    def make():
        def fn(x, dt):
            return x.to(dt) * 2, janus.zeros(2, dtype=dt)

        return fn, dict

    dts = [janus.float32] * 3 + [janus.float64] * 3 + [janus.int64]
    jf = run_both(make, [(janus.ones(2), dt) for dt in dts])
    assert compiled_calls(jf) >= 4


@pytest.mark.parametrize("clear_every", [0, 3], ids=["never", "every third call"])
def test_backward_adds_to_the_gradients_a_call_comes_in_with(clear_every):
    """Micro-batches: backward without zero_grad adds to `.grad`. A call
    traced where the gradients were None set them instead, and compiled
    calls kept doing so ([4, 4, 4] for eager's [4, 8, 12])."""

    def make():
        model = nn.Linear(2, 1)
        opt = janus.optim.SGD(model.parameters(), lr=0.01)

        def step(x, clear):
            y = model(x).sum()
            y.backward(retain_graph=True)
            y.backward()  # (twice: the second adds to the first)
            opt.step()
            if clear:
                opt.zero_grad()
            return model.bias.grad

        return step, lambda: {"model": model, "grads": [p.grad for p in model.parameters()]}

    def calls(k):
        return janus.ones(4, 2) * (k + 1), bool(clear_every) and k % clear_every == 0

    calls.count = 12
    janus.manual_seed(2)
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 4


def test_a_prediction_made_after_the_step_keeps_its_autograd_graph():
    """A step may return its loss without the autograd graph backward
    consumed; a tensor made after the update from the parameters alone has
    a whole graph, which compiled calls dropped (requires_grad False)."""

    def make():
        model = nn.Linear(2, 1)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
            return model(x)

        return step, lambda: {"model": model}

    jf = run_both(make, [(janus.ones(3, 2) * k,) for k in range(5)])
    out = jf(janus.ones(3, 2))
    assert out.requires_grad and out.grad_fn is not None
    out.sum().backward()  # usable, as eagerly


@pytest.mark.parametrize("written", ["updated", "overwritten"])
@pytest.mark.parametrize("aliased", ["the same tensor", "overlapping views"])
def test_an_update_through_one_argument_shows_in_an_aliased_other(aliased, written):
    """Compiled for distinct tensors, `f(a, a)` (or views that overlap) must
    see the update of `x` in `y`, as eagerly: it falls back to Python. (An
    overwritten `x` is not even an input of the graph, only a buffer it
    writes.)"""

    def make():
        def fn(x, y):
            if written == "updated":
                x.add_(1)
            else:
                x.copy_(y * 3)
            return y * 2

        return fn, dict

    def calls(k):
        base = janus.arange(6.0)
        if k < 3:
            return base[:3], base[3:]  # (disjoint views compile)
        return (base, base) if aliased == "the same tensor" else (base[1:4], base[:3])

    calls.count = 6
    jf = run_both(make, calls)
    assert compiled_calls(jf) >= 1


def test_in_place_writes_under_autograd_read_each_calls_values():
    """An in-place op under autograd keeps a copy of the old value for its
    gradient (no op makes it). The trace used to hold that copy as an outside
    tensor, so compiled calls wrote into the first call's values, and the
    copy's stale graph node made backward fail ("a second time")."""

    def fn(a, v):
        out = a * 1.0
        out[1] = v
        out[0, 1:3] = 7.0
        out[:, 0] = out[:, 1] * 2
        h = a.sin()
        h.mul_(v)
        return out, h

    def calls(k):
        janus.manual_seed(k)
        return janus.randn(3, 4, requires_grad=True), janus.randn(4, requires_grad=True)

    calls.count = 5
    jf = run_both(lambda: (fn, lambda: {}), calls)
    assert compiled_calls(jf) >= 2
    for k in range(3):  # and each call's backward reaches that call's inputs
        a, v = calls(10 + k)
        out, h = jf(a, v)
        ((out * 2).sum() + (h * 3).sum()).backward()
        with janus._C.capture.disabled():
            ea, ev = a.detach().requires_grad_(), v.detach().requires_grad_()
            eout, eh = fn(ea, ev)
            ((eout * 2).sum() + (eh * 3).sum()).backward()
        assert np.allclose(a.grad.numpy(), ea.grad.numpy())
        assert np.allclose(v.grad.numpy(), ev.grad.numpy())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_compiled_step_uses_the_state_the_optimizer_holds_at_each_call(optimizer):
    """`opt.load_state_dict` replaces the optimizer's state tensors. A compiled
    step used to hold the tensors it first saw (guarded by the state's length
    only): after a reload it read and updated the old ones."""

    def make():
        janus.manual_seed(5)
        model = nn.Linear(4, 3)
        if optimizer == "sgd":
            opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        else:
            opt = janus.optim.Adam(model.parameters(), lr=0.05)

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, model, opt

    janus.manual_seed(9)
    data = [(janus.randn(6, 4), janus.randn(6, 3)) for _ in range(10)]
    runs = {}
    for mode in ("eager", "jit"):
        step, model, opt = make()
        if mode == "jit":
            step = jf = janus.jit(step)
        losses, saved = [], None
        with contextlib.nullcontext() if mode == "jit" else janus._C.capture.disabled():
            for k, (x, y) in enumerate(data):
                if k == 3:
                    saved = copy.deepcopy(opt.state_dict())
                if k == 6:
                    opt.load_state_dict(saved)
                losses.append(step(x, y).item())
        runs[mode] = losses, [p.detach().numpy().copy() for p in model.parameters()]
    np.testing.assert_allclose(runs["jit"][0], runs["eager"][0], rtol=1e-5)
    for p, q in zip(runs["jit"][1], runs["eager"][1]):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)
    assert compiled_calls(jf) >= 6, jf.explain()


def test_numbers_inside_containers_are_not_frozen_into_the_graph():
    """`tensor(vals)` bakes the numbers in `vals` into the graph. They used to
    be baked with nothing guarding them: an argument list guarded by its type
    only, and `.item()` values inside a list the frame built, so every
    compiled call returned the first call's numbers."""

    def from_argument(x, vals):
        return janus.tensor(vals) * x + sum(vals)

    def from_data(x):
        v = x.sum().item()
        pair = [v, 1.0]
        return janus.tensor(pair) * 2, janus.tensor({"v": v}["v"])

    jf = run_both(
        lambda: (from_argument, dict), [(janus.ones(2), [float(k), 1.0]) for k in (1, 1, 2, 2)]
    )
    assert compiled_calls(jf) >= 2, jf.explain()
    run_both(lambda: (from_data, dict), [(janus.ones(2) * k,) for k in range(5)])


def test_a_long_outside_list_baked_into_the_graph_is_a_break_not_thousands_of_guards():
    def fn(x, vals):
        if isinstance(vals, list):  # (no element decides isinstance: no guards)
            return janus.tensor(vals).sum() * x
        return x

    def make(name):  # a code object of its own: what the JIT learns is kept per code
        return types.FunctionType(fn.__code__.replace(co_name=name), fn.__globals__)

    jf = janus.jit(make("long"))
    vals = [1.0] * 1000
    for _ in range(3):
        assert jf(janus.ones(2), vals).tolist() == [1000.0, 1000.0]
    reasons = [b.explanation for t in jf.report.compiles for b in t.breaks]
    assert any("of 1000 elements" in r for r in reasons), jf.explain()
    short = janus.jit(make("short"))
    for _ in range(3):
        short(janus.ones(2), [1.0, 2.0])
    guards = short.report.compiles[0].guard.describe()
    assert "L['vals'][1] == 2.0" in guards and compiled_calls(short) == 2


def test_what_an_outside_iterable_yields_is_taken_afresh_each_call():
    """A loop over a custom iterable, an iterator argument or a DataLoader:
    their elements have no source a compiled call could read again. They
    used to be baked into the graph (every call summed the first call's
    tensors); now the loop is a graph break and each call iterates anew."""

    class Bag:
        def __init__(self, items):
            self.items = items

        def __iter__(self):
            return iter(self.items)

    def make():
        def total(things, scale):
            out = janus.zeros(3)
            for t in things:
                out = out + t * scale
            return out

        return total, dict

    def bags(k):
        items = [janus.ones(3) * k, janus.arange(3.0) + k]
        return [(Bag(items), 2.0), (iter(items), 2.0)][k % 2]

    bags.count = 6
    run_both(make, bags)

    data = janus.utils.data.TensorDataset(janus.arange(12.0).reshape(6, 2))

    def make_loader_loop():
        def epoch(loader):
            out = janus.zeros(2)
            for (x,) in loader:
                out = out + x.sum(0)
            return out

        return epoch, dict

    loaders = [(janus.utils.data.DataLoader(data, batch_size=2, shuffle=True),) for _ in range(4)]
    run_both(make_loader_loop, loaders)


def test_restoring_a_generators_state_inside_a_frame_is_a_break():
    """`Generator.set_state` changes Python state the trace cannot replay: a
    compiled call would skip it, so it is a break, not run opaquely."""
    g = janus.Generator()

    def f(x, state):
        g.set_state(state)
        return x * 2

    explained = janus.jit.explain(f, janus.ones(2), g.get_state())
    assert any("Generator.set_state" in b.explanation for b in explained.breaks)


class _Counting:
    """Implicitly called methods with effects: each counts its calls."""

    def __init__(self, data):
        self.data, self.calls = data, []

    @property
    def scale(self):
        self.calls.append("scale")
        return 0.5 * len(self.calls)

    def __len__(self):
        self.calls.append("len")
        return self.data.shape[0]

    def __getitem__(self, k):
        self.calls.append("getitem")
        return self.data[k] * 2

    def __bool__(self):
        self.calls.append("bool")
        return len(self.calls) % 3 != 0

    def __getattr__(self, name):  # only for names found nowhere else
        self.calls.append(name)
        return 3.0


def test_user_code_that_python_calls_implicitly_is_traced_not_guarded():
    """A property's getter, `__len__`, `__getitem__`, `__bool__` and
    `__getattr__` of a user class: the guards used to call them to check
    their results, so their effects ran again on every call (and a result
    computed from those effects was wrong). They are inlined now, and what
    they read is what the guards check."""

    def make():
        ds = _Counting(janus.arange(12.0).reshape(4, 3))

        def fn(x):
            y = x * ds.scale + ds[1] + len(ds) + ds.offset
            return y if ds else -y

        return fn, lambda: {"calls": list(ds.calls)}

    run_both(make, [(janus.ones(3),) for _ in range(6)])


def test_pure_user_properties_and_containers_compile_once():
    class Config:
        def __init__(self):
            self._h = 3

        @property
        def hidden(self):
            return self._h * 2

    class Rows:
        def __init__(self, data):
            self.data = data

        def __len__(self):
            return self.data.shape[0]

        def __getitem__(self, k):
            return self.data[k]

    def make():
        cfg, rows = Config(), Rows(janus.arange(12.0).reshape(4, 3))

        def fn(x):
            out = x * cfg.hidden
            for k in range(len(rows)):
                out = out + rows[k]
            return out if rows else -out

        return fn, dict

    jf = run_both(make, [(janus.ones(3),) for _ in range(6)])
    assert compiled_calls(jf) >= 4 and len(jf.report.compiles) == 1


@pytest.mark.parametrize("retain", [False, True], ids=["freed", "retain_graph"])
def test_a_loss_returned_after_its_backward_still_requires_grad(retain):
    """A step that calls `loss.backward()` and returns the loss: eagerly the
    loss still requires grad, and a second backward raises (its graph was
    freed) or, with retain_graph, adds to the gradients again. The compiled
    call returned a plain tensor, so a second backward raised "does not
    require grad", and with retain_graph gave no gradient."""

    def make():
        w = nn.Parameter(janus.ones(3))

        def step(x):
            loss = (w * x).exp().sum()
            loss.backward(retain_graph=retain)
            return loss

        return step, lambda: {"w": w}

    def second_backward(loss):
        try:
            loss.backward()
        except RuntimeError as error:
            return str(error)[:40]
        return "ok"

    def run(jit: bool):
        janus.manual_seed(0)
        step, observed = make()
        f = janus.jit(step) if jit else step
        seen = []
        with contextlib.nullcontext() if jit else janus._C.capture.disabled():
            for k in range(4):
                loss = f(janus.ones(3) * k)
                grad = observed()["w"].grad.tolist()
                seen.append((loss.requires_grad, second_backward(loss), grad))
        return f, seen

    jf, jitted = run(jit=True)
    _, eager = run(jit=False)
    for got, want in zip(jitted, eager):
        assert got[:2] == want[:2]
        np.testing.assert_allclose(got[2], want[2], rtol=1e-5)
    assert compiled_calls(jf) >= 2 or retain  # (retain_graph: it runs as usual)


def test_a_counter_kept_by_dict_get_counts_every_call():
    """`d.get(key, 0) + 1` stored back: once the count changes from call to
    call it is read as data, through the dict (d.get's result was a
    constant of the trace, so every compiled call stored the same count);
    a second get after the store reads the stored value, and a tensor
    under a key is read afresh."""

    def make():
        stats = {"weight": janus.ones(3)}

        def fn(x):
            stats["calls"] = stats.get("calls", 0) + 1
            stats["calls"] = stats.get("calls", 0) + 1
            return x * stats.get("weight") + stats.get("missing", 0.5)

        return fn, lambda: {"stats": stats}

    jf = run_both(make, [(janus.full((3,), float(k)),) for k in range(8)])
    assert compiled_calls(jf) >= 3


def test_dict_get_by_a_key_that_changes_per_call_reads_the_calls_item():
    """`stats.get(k, 0.0)` once k is read as data (it keeps changing): the
    trace's key was baked, so every compiled call read the item of the
    key it was traced with. It now breaks there, as `stats[k]` does."""

    def make():
        stats = {}

        def fn(x, k):
            x = x + stats.get(k, 0.0)
            print(k, float(x.sum()), file=sink)  # (a split: the rest resumes)
            stats[k] = x.mean()
            return x

        sink = io.StringIO()
        return fn, lambda: {"stats": stats, "printed": sink.getvalue()}

    keys = (0, 1, 2, 3, 1, 1, 2, 0, 3, 2)
    run_both(make, [(janus.arange(3.0) + j, k) for j, k in enumerate(keys)])


def test_a_global_stored_then_read_reads_the_stored_value():
    """`SCALE = SCALE * 0.5 + k` twice: the second reads what the first
    stored. Once SCALE is read as data, the global was read again from the
    entry state, so the compiled call stored the wrong value."""

    def make():
        namespace = {"SCALE": 1.0}
        source = (
            "def fn(x, k):\n"
            "    global SCALE\n"
            "    SCALE = SCALE * 0.5 + k\n"
            "    SCALE = SCALE * 0.5 + k\n"
            "    return x * SCALE\n"
        )
        exec(source, namespace)
        return namespace["fn"], lambda: {"SCALE": namespace["SCALE"]}

    jf = run_both(make, [(janus.ones(3), k) for k in (0, 1, 2, 3, 1, 1, 2, 0)])
    assert compiled_calls(jf) >= 3
