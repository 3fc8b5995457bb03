"""The translator, differentially: each program runs eagerly and through
`janus.jit`, from the same state, and everything observable must agree;
then the compiled entries must actually have been used."""

from __future__ import annotations

import contextlib
import math
import sys

import numpy as np
import pytest
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn
import janus.nn.functional as F

SCALE = 2.0


def _args(n=4, shape=(3,)):
    janus.manual_seed(7)
    return [(janus.randn(*shape), janus.randn(*shape)) for _ in range(n)]


def test_python_constructs_compile_and_agree():
    def make():
        offsets = {"a": 1.0, "b": -2.0}

        def helper(t, *rest, k=3, **named):
            return t * k + sum(rest) + named.get("bias", 0.0)

        def fn(x, y):
            out = []
            for i, (u, v) in enumerate(zip([x, y], reversed([x, y]))):
                out.append(u * i - v)
            total = out[0] + out[1]
            for key, off in offsets.items():
                total = total + off if key == "a" else total - off
            squares = [t * t for t in (x, y) if t is not None]
            z = helper(total, 1.0, 2.0, k=2, bias=0.5) * SCALE
            w = max(len(out), 1) and min(3, 4) or 9
            label = f"{w}-{len(squares)}"
            with janus.no_grad():
                z = z + squares[0] / (1 + math.sqrt(4.0))
            assert isinstance(z, janus.Tensor), "not a tensor"
            return {"z": z, "label": label, "pair": (squares[1], w)}

        return fn, lambda: {}

    jf = run_both(make, _args())
    assert len(jf.report.compiles) == 1 and not jf.report.compiles[0].breaks
    assert compiled_calls(jf) == 3


def test_trip_counts_types_and_shapes_recompile():
    def make():
        def fn(x, n):
            for _ in range(n):
                x = x * 2 + 1
            return x

        return fn, lambda: {}

    janus.manual_seed(0)
    a, b = janus.randn(3), janus.randn(2, 2)
    calls = [(a, 2), (a, 2), (a, 3), (b, 2), (a.double(), 2), (a, 2)]
    jf = run_both(make, calls)
    assert len(jf.report.compiles) == 4  # n=2, n=3, 2x2 shape, float64
    assert compiled_calls(jf) == 2
    assert any("L['n'] == 2" in str(m) for m in jf.misses)


def test_globals_and_closures_changing_between_calls():
    state = {"k": 1.0}

    def make():
        scale = [3.0]

        def fn(x):
            return x * state["k"] + scale[0]

        def observe():
            state["k"] += 1.0  # changes between calls: the guard must notice
            scale[0] -= 1.0
            return {}

        return fn, observe

    state["k"] = 1.0
    calls = [(janus.ones(2),)] * 3
    janus.manual_seed(0)
    outs = []
    for mode in ("eager", "jit"):
        state["k"] = 1.0
        fn, observe = make()
        if mode == "jit":
            fn = janus.jit(fn)
        res = []
        for args in calls:
            res.append(fn(*args).tolist())
            observe()
        outs.append(res)
    assert outs[0] == outs[1]


def test_effects_on_the_heap_are_committed():
    class Counter:
        def __init__(self):
            self.total = janus.zeros(())
            self.history = []
            self.last = None
            self.seen = False

    def make():
        c = Counter()

        def fn(x):
            y = (x * 2).sum()
            c.total = c.total + y  # a tensor attribute: read, computed, stored
            c.history.append(y.item())
            c.last = y
            c.seen = True
            return c.total

        observe = lambda: {  # noqa: E731
            "total": c.total,
            "history": list(c.history),
            "last": c.last,
            "seen": c.seen,
        }
        return fn, observe

    # Stores need no guard (`seen` is never read), nor does appending to a
    # list (its length is never used): one translation serves every call.
    jf = run_both(make, [(janus.ones(3) * k,) for k in range(5)])
    assert compiled_calls(jf) == 4


def test_a_slice_of_a_list_the_frame_appended_to_follows_each_call():
    """`history[-2:]` after `history.append(...)`: which elements the slice
    takes depends on the list's length, which the slice did not guard once
    the trace had changed the list (every compiled call summed one element,
    the trace's)."""

    def make():
        history = []

        def fn(x):
            history.append(x.sum())
            return x + sum(history[-2:], janus.zeros(()))

        return fn, lambda: {"history": list(history)}

    run_both(make, [(janus.arange(3.0) * k,) for k in range(5)])


def test_a_list_the_frame_builds_with_extend_keeps_its_elements_tracked():
    """`out.extend(flatten(r))` in a recursive flatten: the second extend of
    a list the frame made was a break ("a container the frame did not
    receive"), so such a step never compiled whole."""

    def flatten(result):
        if isinstance(result, (tuple, list)):
            out = []
            for r in result:
                out.extend(flatten(r))
            return out
        return [result]

    def make():
        return (lambda x: flatten((x * 2, (x + 1, [x.sum()])))), lambda: {}

    jf = run_both(make, [(janus.arange(3.0) * k,) for k in range(4)])
    assert compiled_calls(jf) == 3 and not jf.report.compiles[0].breaks


def test_data_dependent_branch_is_a_graph_break_and_still_right():
    def make():
        def fn(x):
            if x.sum() > 0:
                return x * 2
            return x - 1

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(2),), (-janus.ones(2),), (janus.ones(2),)])
    kinds = {b.kind for t in jf.report.compiles for b in t.breaks}
    assert "data-dependent" in kinds
    # The second translation splits at the branch (tests/jit/test_split.py).
    assert jf.report.compiles[1].split is not None
    assert compiled_calls(jf) == 1


def test_print_and_third_party_calls_break_but_run(capsys):
    def make():
        def fn(x):
            print("step")
            return x + float(np.float32(1.5))

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(2),)] * 2)
    assert capsys.readouterr().out.count("step") == 4  # every call printed, eager and jit
    assert any(b.kind == "unsupported-call" for t in jf.report.compiles for b in t.breaks)


def test_exceptions_surface_as_the_programs_own():
    def fn(x, bad):
        if bad:
            raise ValueError("bad input")
        return x + 1

    jf = janus.jit(fn)
    assert jf(janus.ones(1), False).tolist() == [2.0]
    assert jf(janus.ones(1), False).tolist() == [2.0]  # compiled
    with pytest.raises(ValueError, match="bad input"):
        jf(janus.ones(1), True)
    with pytest.raises(RuntimeError):
        jf(janus.ones(2, 3), False) @ janus.ones(2, 3)  # errors after a compiled call too


def test_caught_exception_runs_eagerly():
    def make():
        def fn(x):
            try:
                {}["missing"]
            except KeyError:
                x = x + 1
            return x

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(2),)] * 3)
    assert compiled_calls(jf) == 0


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return F.relu(self.fc(x)) + x


class _Net(_Block):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(6, 2)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        return self.head(self.drop(super().forward(x)))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_step_forward_backward_update(optimizer):
    def make():
        model = _Net()
        opt = (
            janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            if optimizer == "sgd"
            else janus.optim.Adam(model.parameters(), lr=0.01)
        )

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        return step, lambda: {"model": model, "opt": opt}

    janus.manual_seed(3)
    data = [(janus.randn(5, 6), janus.randint(0, 2, (5,))) for _ in range(5)]
    jf = run_both(make, data, rtol=1e-4, atol=1e-5)
    assert compiled_calls(jf) >= 3


def test_cumulative_batchnorm_and_decayed_adagrad_step_is_one_graph():
    """BatchNorm(momentum=None) and Adagrad(lr_decay) compute from their step
    counters with tensor math: the whole step compiles without a graph break."""

    def make():
        # (BatchNorm first: a bias just before it gets a gradient of rounding
        # noise, which Adagrad's scaling would blow up to full steps)
        model = nn.Sequential(nn.BatchNorm1d(6, momentum=None), nn.Linear(6, 4), nn.Linear(4, 2))
        opt = janus.optim.Adagrad(model.parameters(), lr=0.1, lr_decay=0.05)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, lambda: {"model": model, "opt": opt}

    janus.manual_seed(4)
    data = [(janus.randn(5, 6), janus.randint(0, 2, (5,))) for _ in range(5)]
    jf = run_both(make, data, rtol=1e-4, atol=1e-5)
    assert [c.breaks for c in jf.report.compiles] == [[]]
    assert compiled_calls(jf) == 4


def test_autograd_grad_reads_each_calls_grad_outputs():
    """The engine detaches `grad_outputs` before any op reads them: the
    compiled call must read the current call's seed, not the recorded one."""

    def make():
        def fn(x, g):
            out = x * x + x.sin()
            (gx,) = janus.autograd.grad(out, x, grad_outputs=g)
            return gx

        return fn, lambda: {}

    rng = np.random.default_rng(8)
    data = [
        (janus.tensor(x, requires_grad=True), janus.tensor(g))
        for x, g in rng.standard_normal((5, 2, 4)).astype(np.float32)
    ]
    jf = run_both(make, data)
    assert compiled_calls(jf) == 4


def test_eval_mode_is_a_guard():
    model = _Net()

    def fn(x):
        return model(x)

    jf = janus.jit(fn)
    x = janus.randn(2, 6)
    with janus.no_grad():
        model.eval()
        a = jf(x)
        b = jf(x)
        model.train()
        janus.manual_seed(0)
        c = jf(x)
        janus.manual_seed(0)
        d = fn(x)
    np.testing.assert_allclose(a.numpy(), b.numpy())
    np.testing.assert_allclose(c.numpy(), d.numpy(), rtol=1e-6)
    assert "training" in " ".join(str(m) for m in jf.misses)


def test_lstm_with_a_python_time_loop():
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 8)
            self.cell = nn.LSTMCell(8, 8)
            self.out = nn.Linear(8, 11)

        def forward(self, tokens):
            h = janus.zeros(tokens.shape[1], 8)
            c = janus.zeros(tokens.shape[1], 8)
            logits = []
            for t in range(tokens.shape[0]):
                h, c = self.cell(self.emb(tokens[t]), (h, c))
                logits.append(self.out(h))
            return janus.stack(logits)

    def make():
        model = LM()
        opt = janus.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x).reshape(-1, 11), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss.item()

        return step, lambda: {"model": model, "opt": opt}

    janus.manual_seed(5)
    x, y = janus.randint(0, 11, (7, 3)), janus.randint(0, 11, (7, 3))
    jf = run_both(make, [(x, y)] * 5, rtol=1e-4, atol=1e-5)
    assert compiled_calls(jf) == 3


def test_a_result_autograd_must_track_gets_a_compiled_backward():
    """A frame that returns a loss (its caller runs backward) compiles: the
    compiled call attaches a node whose rule runs the recorded backward as a
    program. Gradients and parameters after several SGD steps match eager."""

    def run(jit: bool):
        janus.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

        def loss_fn(x, y):
            return ((model(x) - y) ** 2).mean()

        fn = janus.jit(loss_fn) if jit else loss_fn
        janus.manual_seed(1)
        losses, grads = [], []
        with contextlib.nullcontext() if jit else janus._C.capture.disabled():
            for _ in range(5):
                loss = fn(janus.randn(5, 4), janus.randn(5, 1))
                model.zero_grad()
                loss.backward()
                losses.append(loss.item())
                grads.append([p.grad.numpy().copy() for p in model.parameters()])
                with janus.no_grad():
                    for p in model.parameters():
                        p.sub_(0.1 * p.grad)
        return fn, losses, grads, [p.detach().numpy() for p in model.parameters()]

    jf, *jitted = run(True)
    _, *eager = run(False)
    np.testing.assert_allclose(jitted[0], eager[0], rtol=1e-5)
    for got, want in zip(jitted[1] + [jitted[2]], eager[1] + [eager[2]]):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert compiled_calls(jf) == 4
    out = jf(janus.randn(5, 4), janus.randn(5, 1))
    assert type(out.grad_fn).__name__ == "CompiledFrameBackward" and out.requires_grad
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()  # the saved values were freed, as eager's are
    # Second derivatives through the node: tests/jit/test_second_derivatives.py


def test_a_compiled_backward_gives_partials_for_inputs_computed_from_each_other():
    """A frame that gets `W` and a tensor computed from it outside (`h = W * 2`):
    its node hands each input its partial derivative, and the engine carries
    `h`'s on through `h`'s own node to `W`. (The recorded backward took the
    total derivative, so `W.grad` counted the path through `h` twice: 6 for
    eager's 4.) Second derivatives through the node likewise."""

    def loss_fn(h, W):
        return (h * W).sum()

    def run(fn):
        W = janus.full((3,), 1.5, requires_grad=True)
        grads, second = [], []
        for _ in range(4):
            W.grad = None
            fn(W * 2, W).backward()
            grads.append(W.grad.numpy().copy())
            (g,) = janus.autograd.grad(fn(W * 2, W), W, create_graph=True)
            second.append(janus.autograd.grad(g.sum(), W)[0].numpy().copy())
        return grads, second

    jf = janus.jit(loss_fn)
    got = run(jf)
    with janus._C.capture.disabled():
        want = run(loss_fn)
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(want[0][0], [6.0] * 3)  # d(2 W^2)/dW = 4 W
    assert compiled_calls(jf) >= 4


def test_backward_through_history_made_before_the_frame_is_not_compiled():
    """A frame that gets a tensor with autograd history and runs backward
    through it: a trace would record the backward of this call's history
    (and hold its saved tensors), which the next call does not share."""

    def make():
        model = nn.Linear(3, 3)

        def loss_of(out, y):
            loss = ((out - y) ** 2).mean()
            loss.backward()
            return loss.detach()

        def step(k, x, y):
            model.zero_grad()
            out = model(x).tanh() if k % 2 else model(x) * 2  # a new structure
            return janus.jit.skip(lambda: loss_of(out, y))()

        return (
            lambda k, x, y: [step(k, x, y), model.weight.grad.clone()],
            lambda: {"model": model},
        )

    calls = [(k, janus.randn(4, 3), janus.randn(4, 3)) for k in range(6)]
    run_both(make, calls)


def test_a_frame_whose_result_depends_on_a_leaf_it_made_stays_eager():
    w_seen = []

    def fn(x):
        w = janus.ones(3, requires_grad=True)  # a new leaf every call
        w_seen.append(w)
        return (x * w).sum()

    jf = janus.jit(fn)
    for _ in range(3):
        jf(janus.randn(3)).backward()
    assert all(w.grad is not None for w in w_seen)
    assert compiled_calls(jf) == 0
    reasons = " ".join(b.explanation for t in jf.report.compiles for b in t.breaks)
    assert "made inside" in reasons  # (it escapes to w_seen, and it requires grad)


def test_explain_reports_graphs_guards_and_breaks(capsys):
    def fn(x, n):
        for _ in range(n):
            x = x.relu() + 1
        return x

    e = janus.jit.explain(fn, janus.ones(3), 2)
    assert len(e.graphs) == 1 and e.graphs[0].node_count() == 4
    assert "L['n'] == 2" in e.guards and not e.breaks
    assert "graph: 4 nodes" in capsys.readouterr().out
    assert "->" in janus.jit.to_dot(e.graphs[0])

    def broken(x):
        print("hi", file=sys.stderr)
        return x

    e = janus.jit.explain(broken, janus.ones(1))
    assert e.breaks[0].kind == "unsupported-call" and "print" in e.breaks[0].explanation


def test_a_graph_compiler_failure_is_a_reported_break(monkeypatch):
    from janus.jit import compiled

    def failing(graph, *args, **kwargs):
        raise ValueError("IR text, line 3: something the compiler got wrong")

    monkeypatch.setattr(compiled, "compile_graph", failing)

    def fn(x):
        return (x * 2).relu()

    jf = janus.jit(fn)
    x = janus.randn(4)
    for _ in range(3):  # the user's program runs on, eagerly
        assert np.array_equal(jf(x).numpy(), (x * 2).relu().numpy())
    why = jf.report.compiles[0].breaks[0]
    assert why.kind == "not-compilable" and "graph compiler failed" in why.explanation
    assert "something the compiler got wrong" in why.explanation and "janus bug" in why.hint


def test_the_frame_hook_compiles_hot_frames():
    from janus import _C

    k = 3.0  # a free variable: guards read its contents, the entry gets its cell

    def step(x):
        return (x * k).relu().sum()

    was_enabled = janus.jit.is_enabled()
    janus.jit.enable()
    try:
        x = janus.randn(5)
        expected = float((x * 3).relu().sum().item())
        results = [step(x).item() for _ in range(5)]
        stats = _C.capture.stats(step)
    finally:
        janus.jit.enable() if was_enabled else janus.jit.disable()
    assert results == pytest.approx([expected] * 5, rel=1e-6)
    assert stats["compiles"] == 1 and stats["hits"] == 3


def test_python_m_janus_runs_a_script_with_the_jit(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import sys\n"
        "import janus as torch\n"
        "from janus import _C\n"
        "def step(x):\n"
        "    return (x * 2).sum().item()\n"
        "x = torch.ones(3)\n"
        "print([step(x) for _ in range(4)], sys.argv[1:])\n"
        "print(_C.capture.stats(step)['hits'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "janus", str(script), "--flag"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == ["[6.0, 6.0, 6.0, 6.0] ['--flag']", "2"]


def test_numpy_data_made_into_a_tensor_is_not_frozen():
    net = nn.Linear(4, 1)

    def act(obs):
        return float(net(janus.tensor(obs[None]))[0, 0])

    jf = janus.jit(act)
    with janus.no_grad():
        expected = [act(np.full(4, float(i), np.float32)) for i in range(4)]
        got = [jf(np.full(4, float(i), np.float32)) for i in range(4)]
    # The frame splits at janus.tensor(numpy): the tensor is made in Python
    # on each call, and the rest is compiled (so equal up to rounding).
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_training_step_may_return_its_loss():
    def make():
        model = nn.Linear(3, 1)
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss

        return step, lambda: {"model": model, "opt": opt}

    jf = run_both(make, [(janus.ones(2, 3),)] * 4)
    assert compiled_calls(jf) == 2


ELLIPSIS_KEY = ...
MIXED_KEY = (0, ...)
COMPLEX_SCALE = 2j


def test_constants_the_native_guard_cannot_compare():
    def by_ellipsis(x):
        return x[ELLIPSIS_KEY] * 2

    def by_tuple(x):
        return x[MIXED_KEY] * 2

    def by_complex(x):
        return x * abs(COMPLEX_SCALE)

    x = janus.ones(2, 3)
    e = janus.jit.explain(by_ellipsis, x)
    assert "G['ELLIPSIS_KEY'] is ellipsis" in e.guards and not e.breaks
    e = janus.jit.explain(by_tuple, x)  # (0, ...): a tuple's elements are read one by one
    assert "G['MIXED_KEY'][1] is ellipsis" in e.guards and not e.breaks
    e = janus.jit.explain(by_complex, x)  # a complex has no native equality: a break
    assert e.breaks and e.breaks[0].kind == "unsupported"


def test_a_view_of_an_input_is_that_input_not_a_constant():
    # x.detach() before any op read x: the view must read the graph input,
    # and writing through it must update x (both were frozen/lost before).
    def make():
        def fn(a, b):
            c = a.detach() + 1
            a.detach().add_(b)
            return c, a * 2

        return fn, lambda: {}

    def calls(k):  # fresh tensors per run: the program updates them in place
        return (janus.tensor([float(k)]), janus.ones(1))

    calls.count = 4
    jf = run_both(make, calls)
    assert compiled_calls(jf) == 3

    def make_untouched():  # a view of an input no op reads
        def fn(a, b):
            return a.detach(), b * 2

        return fn, lambda: {}

    jf = run_both(make_untouched, [(janus.tensor([float(k)]), janus.ones(1)) for k in range(4)])
    assert compiled_calls(jf) == 3


def test_a_permanent_break_stops_translating():
    def fn(x):
        return x.shape[0] + 1  # no tensor work: nothing to compile, ever

    jf = janus.jit(fn)
    assert [jf(janus.ones(3)) for _ in range(4)] == [4] * 4
    assert len(jf.report.compiles) == 1 and jf.report.skipped


def test_a_step_failing_inside_the_program_leaves_parameters_unchanged():
    """Parameters updated in place are written by the program only after its
    last step: an error in a kernel before that leaves them as they were."""
    janus.manual_seed(0)
    emb = nn.Embedding(5, 3)
    opt = janus.optim.SGD(emb.parameters(), lr=0.1)

    def step(i):
        opt.zero_grad()
        loss = emb(i).sum()
        loss.backward()
        opt.step()
        return loss

    jf = janus.jit(step)
    for _ in range(3):
        jf(janus.tensor([1, 2]))
    assert compiled_calls(jf) >= 1
    before = emb.weight.detach().clone()
    with pytest.raises(IndexError):
        jf(janus.tensor([1, 7]))
    assert np.array_equal(emb.weight.detach().numpy(), before.numpy())
    jf(janus.tensor([0, 4]))  # and the next call runs compiled as before
    assert not np.array_equal(emb.weight.detach().numpy(), before.numpy())


def test_data_checks_of_eager_code_are_asserts_in_the_graph():
    """binary_cross_entropy checks that its input is in [0, 1] by reading the
    data: traced, that is an assert node, so a compiled call whose data fails
    it falls back and raises exactly as eager does (no state changed)."""
    janus.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = janus.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y, scale):
        opt.zero_grad()
        p = model(x).sigmoid() * scale  # scale 2.0 can leave [0, 1]
        loss = F.binary_cross_entropy(p, y)
        loss.backward()
        opt.step()
        return loss

    x, y = janus.randn(4, 3), janus.rand(4, 1)
    graph, _ = janus.jit.record(step, x, y, janus.tensor(1.0))
    assert "assert(" in str(graph) and "between 0 and 1" in str(graph)

    jf = janus.jit(step)
    for _ in range(3):
        jf(x, y, janus.tensor(1.0))
    assert compiled_calls(jf) >= 1
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        jf(x, y, janus.tensor(2.0))
    for p, b in zip(model.parameters(), before):
        assert np.array_equal(p.detach().numpy(), b.numpy())
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(janus.tensor([0.5, float("nan")]), janus.tensor([1.0, 0.0]))


def test_a_jitted_function_called_from_traced_code_is_traced_through():
    """janus.jit(f) called inside a compiled frame: its ops join the caller's
    graph (its compiled entry ran outside the trace, and its results were
    frozen into the caller's graph)."""
    policy = janus.jit(lambda x: (x * 2).softmax(-1))

    def act(x):
        probs = policy(x)
        return probs[0] + 0

    ja = janus.jit(act)
    for k in range(5):
        x = janus.tensor([float(k), 0.0])
        assert np.allclose(ja(x).item(), (x * 2).softmax(-1)[0].item())
    assert compiled_calls(ja) >= 2
