"""Co-execution at graph breaks (src/janus/jit/split.py, resume.py): a frame
that breaks is split there; the part before the break runs as a graph, the
breaking instruction in Python, and the rest in a resume function that is
compiled on its own. Each test runs the program eagerly and compiled and
compares everything a user can see."""

import contextlib
import dis
import io
import json
import sys
import traceback

import numpy as np
import pytest
from differential import compiled_calls, compiled_resume_calls, hooked_resumes, run_both, splits

import janus
from janus import _C, nn
from janus.jit import frontend
from janus.jit.resume import resume_function

capture = _C.capture


def _training(make_tail):
    """A Linear model, SGD, and a step whose tail (after the update) is
    `make_tail(loss, log)`; observed: parameters, gradients and the log."""

    def make():
        model = nn.Linear(4, 3)
        opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        log = []

        def step(x, y):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return make_tail(loss, log)

        return step, lambda: {"model": model, "opt": opt, "log": log}

    return make


def _data(k):
    g = np.random.default_rng(k)
    return janus.tensor(g.standard_normal((8, 4), np.float32)), janus.tensor(
        g.standard_normal((8, 3), np.float32)
    )


def test_output_after_the_update_splits_and_both_parts_compile(capsys):
    def make():
        model = nn.Linear(4, 3)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            print("loss", round(loss.item(), 3), file=sys.stdout)  # to a file: a break
            return (model(x) * 0).detach().sum() + loss.detach()

        return step, lambda: {"model": model, "opt": opt}

    calls = [_data(k) for k in range(6)]
    jf = run_both(make, calls)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 12 and printed[:6] == printed[6:]  # same lines, eager and compiled
    made = splits(jf)
    assert made and made[0].instruction.op == "CALL"
    assert compiled_calls(jf) >= 3  # the update ran as a graph
    t = next(t for t in jf.report.compiles if t.split is not None)
    assert t.entry.graph.node_count() > 0
    assert any(b.kind in ("data-dependent", "unsupported-call") for b in t.breaks)


def test_the_rest_compiles_on_its_own_without_guarding_data(hook_on):
    def tail(loss, log):
        value = loss.item()
        log.append(json.dumps({"loss": round(value, 2)}))  # a third-party call
        return loss.detach() * 2

    jf = run_both(_training(tail), [_data(k) for k in range(8)])
    assert compiled_calls(jf) >= 5
    # The step splits at the call of `tail` (the break is inside it); `tail`
    # then compiles on its own (splitting at its breaks), and the numbers
    # the Python pieces compute are not guards: nothing recompiles.
    assert splits(jf)[0].instruction.op == "CALL"
    assert capture.stats(tail.__code__)["hits"] >= 3
    resumed = [c for c in list(frontend.reports) if c.co_qualname.startswith(tail.__qualname__)]
    assert len(resumed) >= 2
    assert all(capture.stats(c)["recompiles"] == 0 for c in resumed)


def test_branch_on_a_number_read_from_tensor_data():
    def make():
        model = nn.Linear(4, 3)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)
        log = []

        def step(x, y):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if loss.item() > 1.0:  # a decision on data: the frame splits here
                log.append("high")
            else:
                log.append("low")
            return loss.detach()

        return step, lambda: {"model": model, "opt": opt, "log": log}

    jf = run_both(make, [_data(k) for k in range(10)])
    assert compiled_calls(jf) >= 5
    # The comparison is a host value (computed after the graph); the branch
    # on it is where the frame splits.
    assert [s.instruction.op for s in splits(jf)] == ["POP_JUMP_IF_FALSE"]


def test_branch_on_a_tensor_takes_either_side():
    def make():
        def fn(x):
            y = x * 3 + 1
            if y.sum() > 0:
                return y * 2
            return y - 1

        return fn, lambda: {}

    signs = [1, -1, 1, 1, -1, -1, 1]
    jf = run_both(make, [(janus.full((3,), 0.5 * s),) for s in signs])
    assert compiled_calls(jf) == len(signs) - 2
    assert splits(jf)[0].instruction.op.startswith("POP_JUMP")


def test_break_inside_an_inlined_call_splits_at_that_call():
    records = []

    def describe(t):
        return json.dumps({"shape": list(t.shape)})  # json's C encoder: a break in here

    def make():
        w = janus.randn(4, 5)

        def fn(x):
            h = (x @ w).relu()
            records.append(describe(h))
            return (h * 2).sum(dim=1)

        return fn, lambda: {"w": w}

    jf = run_both(make, [(janus.randn(2, 4),) for _ in range(5)])
    assert records == [json.dumps({"shape": [2, 5]})] * 10
    split = splits(jf)[0]
    assert split.instruction.op == "CALL"
    assert compiled_calls(jf) == 3


def test_a_split_at_a_call_of_a_method_stored_under_another_name():
    """The callee on the stack at the split is a bound method whose function
    has another name (`show = _show`, a lambda): it is looked up again on its
    receiver by the name its class stores it under. (Before, such a frame
    could not split, and ran eagerly.)"""
    records = []

    class Log:
        def _show(self, t):
            records.append(json.dumps({"shape": list(t.shape)}))  # a break in here
            return t * 2

        show = _show
        twice = lambda self, t: self._show(t) + 1  # noqa: E731

    def make():
        log = Log()

        def fn(x):
            h = log.twice(x.relu())  # the split: at this call
            return log.show(h - 1).sum(dim=1)

        return fn, lambda: {}

    jf = run_both(make, [(janus.randn(2, 4),) for _ in range(5)])
    assert len(records) == 20
    assert splits(jf)[0].instruction.op == "CALL"
    assert compiled_calls(jf) >= 3


def test_two_breaks_give_a_chain_of_compiled_parts(capsys):
    def make():
        w = janus.randn(3, 3)

        def fn(x):
            a = x @ w
            print("a", a.shape)
            b = a.tanh() @ w
            print("b", b.shape)
            return b.sum()

        return fn, lambda: {}

    jf = run_both(make, [(janus.randn(2, 3),) for _ in range(6)])
    out = capsys.readouterr().out.splitlines()
    assert out[:12] == out[12:]
    assert compiled_calls(jf) >= 3
    resumed = splits(jf)[0].resume_functions[0]
    assert "resume at line" in resumed.__qualname__


def test_a_break_in_a_loop_splits_and_the_loop_goes_round_compiled(hook_on, capsys):
    """A print to a file in every iteration of a loop with tensor work on
    both sides of it: the frame splits there, and the loop goes round through
    resume functions (the rest of an iteration up to the loop's next
    element, then the next iteration up to the print) that compile once and
    serve every iteration. It used to run eagerly as a whole."""

    def make():
        w = janus.ones(2, 2) * 0.5

        def fn(x, n):
            total = janus.zeros(2)
            for k in range(n):
                x = (x @ w).tanh() + k
                print(k, file=sys.stdout)  # a break: a print to a file
                total = total + x * 2
            return total, x

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(2) * j, 6) for j in range(12)])
    out = capsys.readouterr().out.split()
    assert out == [str(k) for k in range(6)] * 24
    assert splits(jf) and compiled_calls(jf) >= 2
    # A handful of resume functions, not one per iteration; once they have
    # compiled, each iteration runs two compiled parts (before and after
    # the print).
    fn = jf.__wrapped__
    assert 2 <= len(hooked_resumes(fn)) <= 6
    before = compiled_resume_calls(fn)
    with contextlib.redirect_stdout(io.StringIO()):
        jf(janus.ones(2), 6)
    assert compiled_resume_calls(fn) - before >= 10


def test_a_loop_over_a_data_loader_with_the_step_inline_compiles(hook_on):
    """An epoch that iterates a DataLoader and runs the training step inline:
    taking each batch is the Python piece (the loader keeps Python state),
    and the step compiles around it; every batch is the loader's own."""
    data = janus.utils.data.TensorDataset(
        janus.tensor(np.random.default_rng(0).standard_normal((24, 4), np.float32)),
        janus.tensor(np.random.default_rng(1).standard_normal((24, 3), np.float32)),
    )

    def make():
        model = nn.Linear(4, 3)
        opt = janus.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = janus.utils.data.DataLoader(data, batch_size=4, shuffle=True)

        def epoch():
            total = 0.0
            for x, y in loader:
                opt.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
                total += loss.item()
            return total

        return epoch, lambda: {"model": model, "opt": opt}

    jf = run_both(make, [()] * 10, rtol=1e-5)
    before = compiled_resume_calls(jf.__wrapped__)
    jf()
    assert compiled_resume_calls(jf.__wrapped__) - before >= 6  # one compiled part per batch


def test_training_until_the_loss_is_low_enough_splits_at_the_condition(hook_on):
    """`while loss.item() > target`: a decision on tensor data in every
    iteration of a while loop; the condition runs in Python, the training
    step around it compiled."""

    def make():
        model = nn.Linear(4, 3)
        opt = janus.optim.SGD(model.parameters(), lr=0.05)

        def fit(x, y, target):
            steps = 0
            loss = ((model(x) - y) ** 2).mean()
            while loss.item() > target and steps < 40:
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss = ((model(x) - y) ** 2).mean()
                steps += 1
            return steps, loss.detach()

        return fit, lambda: {"model": model, "opt": opt}

    x, y = _data(0)
    jf = run_both(make, [(x, y, 0.9 - 0.05 * k) for k in range(10)], rtol=1e-4)
    # (Few iterations per call and several split points: the resume
    # functions are still compiling over these calls.)
    assert compiled_resume_calls(jf.__wrapped__) >= 3


def test_a_list_the_caller_passed_stays_one_list_across_a_split(hook_on):
    """Appends before and after a split reach the caller's list: the rest of
    the frame gets that list, not a copy rebuilt from its items (the copy
    took the later appends, and the caller's list missed them)."""

    def make():
        def f(log, x):
            log.append(1)
            y = x * 2
            json.dumps(1)  # a break: the frame splits
            log.append(2)
            return y

        return f, lambda: {}

    logs = []  # every call's list, eager and compiled

    def calls(k):
        logs.append([])
        return (logs[-1], janus.ones(2) * k)

    calls.count = 6
    run_both(make, calls)
    assert logs == [[1, 2]] * 12


def test_the_rest_of_a_split_closure_reads_this_calls_free_variables(hook_on):
    """Closures of one code share its compiled entries: the part after the
    split must read the called closure's cells (it read the translated
    closure's, whose `scale` was another)."""

    def make_step(scale):
        def step(x):
            y = x * 2
            json.dumps(1)  # a break: the frame splits
            return y * scale  # `scale` is read only after it

        return step

    x = janus.ones(2)
    got = [make_step(k)(x).tolist() for k in range(8)]
    assert got == [[2.0 * k] * 2 for k in range(8)]


def test_an_exception_in_the_python_piece_is_the_programs_own():
    def run(jit: bool):
        janus.manual_seed(3)
        w = janus.randn(3, 2)
        state = {"n": 0}

        def fn(x, text):
            state["n"] += 1
            y = (x @ w).exp()
            parsed = json.loads(text)  # raises on bad text: the Python piece
            return y * parsed["k"]

        f = janus.jit(fn) if jit else fn
        out = []
        for text in ['{"k": 2}', '{"k": 3}', '{"k": 4}', "not json", '{"k": 5}']:
            try:
                out.append(f(janus.ones(1, 3), text).numpy().copy())
            except json.JSONDecodeError as exc:
                out.append(type(exc).__name__)
        return out, state["n"]

    (eager, n_eager), (jit, n_jit) = run(False), run(True)
    assert n_eager == n_jit == 5  # the part before the break ran, and committed, each time
    assert eager[3] == jit[3] == "JSONDecodeError"
    for a, b in zip(eager[:3] + eager[4:], jit[:3] + jit[4:]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _where_it_raised(fn, calls) -> list:
    """The traceback (file, line, function) of the first call that raises."""
    for args in calls:
        try:
            fn(*args)
        except ValueError as exc:
            return [(e.filename, e.lineno, e.name) for e in traceback.extract_tb(exc.__traceback__)]
    raise AssertionError("no call raised")


def _check_k(k):
    if k == 6:
        raise ValueError("bad k")


def test_tracebacks_through_hooked_frames_are_the_ones_eager_shows(hook_on):
    """An exception from the user's code, raised while the hook translates a
    frame or while a compiled entry runs the Python piece of a split frame,
    shows the user's frames only, as eager does: none of janus's translator
    or entries, and a resumed frame under its own function's name."""
    w = janus.randn(4, 2)

    def while_translating(x, k):
        y = (x @ w).sum()
        _check_k(k)
        return y

    def after_a_split(x, k):
        y = (x @ w).sum()
        json.dumps([1])  # a break: the frame splits here
        _check_k(k)
        return y * 2

    x = janus.ones(3, 4)
    for fn, raising_at in ((while_translating, 2), (after_a_split, 6)):
        calls = [(x, k if k < raising_at else 6) for k in range(raising_at + 1)]
        with capture.disabled():
            eager = _where_it_raised(fn, calls)
        hooked = _where_it_raised(fn, calls)
        assert hooked == eager, (fn.__name__, hooked)
        assert [name for _, _, name in eager[-2:]] == [fn.__name__, "_check_k"]


def test_resume_function_continues_a_frame_mid_way():
    def f(a, b, *rest, k=3):
        s = a * 2
        t = min(s, b) + k
        return s + t + len(rest)

    ins = list(dis.get_instructions(f.__code__))
    call = next(i for i in ins if i.opname == "CALL")
    after = next(i for i in ins if i.offset > call.offset and i.opname != "CACHE")
    resumed = resume_function(f, after.offset, ("value",), ("a", "b", "rest", "k", "s"))
    # min(s, b) "returned" 100: the rest of f runs from there (the locals
    # come first, so a method's `self` stays its first parameter)
    assert resumed(1, 9, (7, 7), 3, 2, 100) == 2 + (100 + 3) + 2
    assert resumed.__code__.co_varnames[:5] == ("a", "b", "rest", "k", "s")
    assert resumed.__code__.co_filename == f.__code__.co_filename
    again = resume_function(f, after.offset, ("value",), ("a", "b", "rest", "k", "s"))
    assert again.__code__ is resumed.__code__  # cached: the frame hook's per-code state applies
    # Resuming the resume function at that instruction again (a loop that
    # comes round to it) is resuming f there: the same code, not a new one.
    mine = max(  # (the prologue's first load has the same position: it comes first)
        i.offset
        for i in dis.get_instructions(resumed.__code__)
        if i.opname == after.opname and i.positions == after.positions
    )
    nested = resume_function(resumed, mine, ("value",), ("a", "b", "rest", "k", "s"))
    assert nested.__code__ is resumed.__code__


def test_one_list_seen_twice_at_the_split_stays_one_list():
    def make():
        def fn(x):
            notes = []
            h = x * 2
            notes.append(json.dumps({"n": len(notes)}))  # split inside the append's argument
            notes.append("after")
            return h, notes

        return fn, lambda: {}

    jf = run_both(make, [(janus.ones(2),)] * 5)
    assert compiled_calls(jf) >= 3
    assert splits(jf)[0].instruction.op == "CALL"


def test_a_skipped_function_is_a_break_and_runs_in_python():
    calls = []

    @janus.jit.skip
    def log_norm(t):
        calls.append(float(t.norm()))  # would otherwise be a data-dependent break
        return t * 2

    def make():
        w = janus.randn(3, 3)

        def fn(x):
            return (log_norm(x @ w) + 1).sum()

        return fn, lambda: {"w": w}

    jf = run_both(make, [(janus.randn(2, 3),) for _ in range(5)])
    assert len(calls) == 10  # every call, eager and compiled, ran it in Python
    first = jf.report.compiles[0]
    assert [b.kind for b in first.breaks] == ["skipped-call"]
    assert splits(jf)[0].instruction.op == "CALL"
    assert compiled_calls(jf) >= 3


def test_the_hook_never_compiles_a_skipped_function(hook_on):
    @janus.jit.skip
    def step(x):
        return (x * 2).sum()

    for _ in range(janus.jit.config.hot_calls + 3):
        step(janus.ones(3))
    assert capture.stats(step.__code__)["hits"] == 0
    assert frontend._report(step.__code__).compiles == []
    with pytest.raises(TypeError, match="Python function"):
        janus.jit.skip(len)


def test_a_driver_that_broke_calls_its_compiled_step_instead_of_tracing_it():
    """A driver loop around a jitted training step, with a break in every
    iteration (`.item()`). Once a translation of the driver has broken, the
    step is called, not traced through, so it runs its compiled entry (it ran
    at recording speed before: 459 ms steps on the H100 bench)."""
    janus.manual_seed(0)
    eager_step, eager_observed = _training(lambda loss, log: loss)()
    janus.manual_seed(0)
    step, observed = _training(lambda loss, log: loss)()
    step = janus.jit(step)

    def drive(steps):
        losses = []
        for k in range(steps):
            x, y = _data(k)
            losses.append(step(x, y).item())
        return losses

    jd = janus.jit(drive)
    for _ in range(3):
        before = compiled_calls(step)
        losses = jd(6)
        with capture.disabled():
            expected = [eager_step(*_data(k)).item() for k in range(6)]
        np.testing.assert_allclose(losses, expected, rtol=1e-5)
        # The driver breaks in `_data` before its first step: every step ran
        # compiled but the first two (a step that makes optimizer state breaks).
        assert compiled_calls(step) - before >= 4, jd.explain()
    mine, theirs = observed()["model"], eager_observed()["model"]
    for p, q in zip(mine.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5)


def test_a_number_argument_that_changes_is_read_as_data_not_guarded(capsys):
    """A step counter passed to a step: guarded equal to its value, every call
    recompiled until the budget ran out and the step ran eagerly. Once guards
    on a number argument have missed with `config.number_values` values, the
    argument is read unguarded (as a resume function's data): uses that would
    bake it into the graph break there, and the rest keeps compiling."""

    def make():
        model = nn.Linear(4, 3)
        opt = janus.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y, k):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            print(f"step {k}")
            scale = 0.5 if k % 3 == 0 else 2.0  # a decision on the counter
            return loss * scale + k

        return step, lambda: {"model": model, "opt": opt}

    def calls(k):
        return (*_data(k), k)

    calls.count = 12
    jf = run_both(make, calls)
    out = capsys.readouterr().out.split("\n")
    assert out[:12] == out[12:24] == [f"step {k}" for k in range(12)]
    # k = 0, 1, 2 each got a translation; from then on k is data
    assert compiled_calls(jf) >= 6, jf.explain()
    assert len(jf.report.compiles) <= 5, jf.explain()


def test_a_jit_function_that_runs_as_usual_leaves_its_callees_to_the_hook(hook_on):
    """A step function that never compiles whole (here: told so) runs as
    Python with the frame hook on: the model it calls compiles on its own."""

    def inner(x):
        return (x * 2).tanh() + 1

    def outer(x):
        return inner(x) * 3

    jf = janus.jit(outer)
    jf.report.skipped = "(as if no translation had paid off)"
    for k in range(8):
        np.testing.assert_allclose(
            jf(janus.full((3,), float(k))).numpy(), (np.tanh(np.full(3, 2.0 * k)) + 1) * 3, 1e-6
        )
    assert capture.stats(inner.__code__)["hits"] >= 3
    assert capture.stats(outer.__code__)["hits"] == 0  # (its own frame stays the JitFunction's)


def test_the_translation_that_finds_the_split_does_not_count_against_the_budget():
    """`unprofitable_after` counts translations that could compile: the
    first one of a frame that breaks only finds where to split."""
    from janus.jit.compiler import Translation

    after = frontend.config.unprofitable_after
    report = frontend.CodeReport("f")
    report.compiles = [Translation(None, learned_split=True)]
    report.compiles += [Translation(None) for _ in range(after - 1)]
    assert not report.unprofitable(False)
    report.compiles.append(Translation(None))
    assert report.unprofitable(False)


def test_reset_forgets_what_the_hook_compiled_and_learned(hook_on):
    """`janus.jit.reset()`: entries, reports and learned numbers go; a frame
    compiles afresh on its next hot calls; `skip` stays."""

    def hot(x, k):
        return x * k + 1

    @janus.jit.skip
    def cold(x):
        return x * 2

    for k in range(8):
        hot(janus.ones(2), k)
        cold(janus.ones(2))
    assert capture.stats(hot.__code__)["hits"] >= 1
    assert hot.__code__ in frontend.reports
    janus.jit.reset()
    assert capture.stats(hot.__code__)["entries"] == 0
    assert hot.__code__ not in frontend.reports
    assert not janus.jit.compiler.changing_numbers
    for k in range(8):
        np.testing.assert_allclose(hot(janus.ones(2), k).numpy(), [k + 1.0] * 2)
        cold(janus.ones(2))
    assert capture.stats(hot.__code__)["hits"] >= 1
    assert capture.stats(cold.__code__)["hits"] == 0 and cold.__code__ in frontend._never


def test_zero_argument_super_after_a_split(hook_on):
    """3.11's `super()` takes the frame's first parameter as `self`: a
    resume function keeps the method's own first (its stack slots were
    first, and super() raised TypeError in the rest of the method)."""

    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = nn.Linear(3, 3)

        def forward(self, h):
            return self.base(h).tanh()

    class Model(Base):
        def forward(self, x, log):
            h = x * 2
            for _ in range(2):  # (the loop's iterator is on the stack at the break)
                if float(h.sum()) > 20:  # a break: the rest resumes
                    log.append("large")
            return super().forward(h) + 1

    janus.manual_seed(0)
    model, log = Model(), []
    for k in range(8):
        x = janus.full((2, 3), float(k))
        with _C.capture.disabled():
            want = model(x, [])
        got = model(x, log).detach().numpy()
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert log == ["large"] * 12
    resumed = [c for c in frontend.reports if "Model.forward.<resume" in c.co_qualname]
    assert resumed and any(_C.capture.stats(c)["hits"] for c in resumed)
