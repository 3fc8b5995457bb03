"""The frame hook and its per-code cache (janus._C.capture), driven by small
Python callbacks standing in for the bytecode translator."""

import asyncio
import gc
import os
import sys
import threading
import weakref

import pytest

import janus
from janus import _C

capture = _C.capture


@pytest.fixture(autouse=True)
def _uninstall_after_test():
    """Every test ends with the hook uninstalled, whatever it did; then the
    JIT's own hook is back if it was on (the suite runs with the JIT on)."""
    was_on = capture.is_installed()
    yield
    capture.uninstall()
    assert not capture.is_installed()
    if was_on:
        janus.jit.enable()


class Translator:
    """Answers the hook for the `targets` only (everything else is SKIPped);
    `answer(view)` gives the callback's answer and every view is kept."""

    def __init__(self, *targets, answer=lambda view: None):
        self.codes = {t.__code__ for t in targets}
        self.answer = answer
        self.views = []

    def __call__(self, view):
        if view.code not in self.codes:
            return capture.SKIP
        self.views.append(view)
        return self.answer(view)


def run(view):
    """Runs the captured call, as the concolic translator does."""
    args, kwargs = view.call_args()
    return view.function(*args, **kwargs)


def typed_guard(view):
    """A guard on the exact type of every parameter."""
    guard = capture.Guard()
    for name in capture.entry_signature(view.code):
        if name in view.locals:
            guard.local(name).type_is(type(view.locals[name]))
    return guard


def compile_typed(fn_of_view):
    """An answer that caches Entry(typed guard, fn_of_view(view)) and runs the call."""
    return lambda view: (capture.Entry(typed_guard(view), fn_of_view(view)), run(view))


def add(a, b):
    return a + b


# ----- the hot counter and the skip verdicts -----


def test_the_callback_runs_when_the_call_count_reaches_hot_calls():
    translator = Translator(add)
    capture.install(translator, hot_calls=3, budget=100)
    assert [add(i, 1) for i in range(5)] == [1, 2, 3, 4, 5]
    assert len(translator.views) == 3  # calls 3, 4, 5: None lets CPython run and asks again
    assert [v.locals for v in translator.views] == [{"a": i, "b": 1} for i in (2, 3, 4)]
    stats = capture.stats(add)
    assert stats["calls"] == 5 and stats["compiles"] == 3 and not stats["skipped"]


def test_callbacks_that_answer_none_spend_the_budget():
    translator = Translator(add)
    capture.install(translator, hot_calls=1, budget=2)
    assert [add(1, 2) for _ in range(5)] == [3] * 5
    assert len(translator.views) == 2
    stats = capture.stats(add)
    assert stats["skipped"] and stats["skip_reason"] == "budget" and stats["calls"] == 3


def gen(n):
    yield from range(n)


async def coro(x):
    return x


async def agen(n):
    for i in range(n):
        yield i


def test_generators_coroutines_and_async_generators_are_never_captured():
    seen = []
    capture.install(lambda view: seen.append(view.code) or capture.SKIP, hot_calls=1)
    for _ in range(3):
        assert list(gen(3)) == [0, 1, 2]
        assert asyncio.run(coro(5)) == 5

        async def collect():
            return [i async for i in agen(2)]

        assert asyncio.run(collect()) == [0, 1]
    for fn in (gen, coro, agen):
        assert fn.__code__ not in seen
        assert capture.stats(fn)["skip_reason"] == "generator"


def test_janus_code_is_never_captured():
    seen = []
    capture.install(lambda view: seen.append(view.code.co_filename) or capture.SKIP, hot_calls=1)
    for _ in range(3):
        x = janus.ones(2, 3)
        (x * 2).sum()
    package = os.path.dirname(janus.__file__) + os.sep
    assert not [f for f in seen if f.startswith(package)]
    assert capture.stats(janus.ones)["skip_reason"] == "skipped file"


def test_skip_prefixes_replace_the_default():
    here = os.path.dirname(os.path.abspath(__file__))
    translator = Translator(add)
    capture.install(translator, hot_calls=1, skip_prefixes=[here])
    add(1, 2)
    assert translator.views == [] and capture.stats(add)["skip_reason"] == "skipped file"


def test_module_bodies_are_never_captured():
    translator = Translator()
    capture.install(translator, hot_calls=1)
    code = compile("y = 1 + 2", "<test>", "exec")
    for _ in range(3):
        exec(code, {})
    assert capture.stats(code)["skip_reason"] == "not a function"


# ----- the callback's answers -----


def test_skip_marks_the_code_forever():
    calls = []

    def callback(view):
        calls.append(view.code)
        return capture.SKIP

    capture.install(callback, hot_calls=1)
    assert [add(1, 2) for _ in range(4)] == [3] * 4
    assert calls.count(add.__code__) == 1
    assert capture.stats(add)["skip_reason"] == "callback"


def test_a_returned_result_is_what_the_caller_sees_and_the_frame_does_not_run():
    ran = []

    def body(x):
        ran.append(x)
        return x

    marker = object()
    capture.install(Translator(body, answer=lambda view: (None, marker)), hot_calls=1)
    assert body(1) is marker and body(2) is marker
    assert ran == []  # the frame was released, never run
    assert capture.stats(body)["entries"] == 0 and capture.stats(body)["compiles"] == 2


def test_fallback_as_the_result_runs_the_frame():
    translator = Translator(add, answer=lambda view: (None, capture.FALLBACK))
    capture.install(translator, hot_calls=1)
    assert add(2, 3) == 5 and len(translator.views) == 1


def test_an_entry_answers_later_calls_without_running_the_frame():
    ran = []

    def body(x, y):
        ran.append((x, y))
        return x * y

    # `ran` is a free variable of body: entries get its cell after the parameters.
    assert capture.entry_signature(body) == ("x", "y", "ran")
    entry_fn = lambda x, y, ran_cell: ("entry", x, y, ran_cell.cell_contents is ran)  # noqa: E731
    translator = Translator(body, answer=compile_typed(lambda view: entry_fn))
    capture.install(translator, hot_calls=1)
    assert body(2, 3) == 6  # the callback ran the call
    assert body(4, 5) == ("entry", 4, 5, True)
    assert ran == [(2, 3)]
    assert capture.stats(body)["hits"] == 1 and capture.entries(body)[0].hits == 1


def test_an_exception_from_the_callback_propagates_from_the_call():
    def callback(view):
        raise KeyError("from the translator")

    capture.install(Translator(add, answer=callback), hot_calls=1, budget=1000)
    for _ in range(100):
        with pytest.raises(KeyError, match="from the translator"):
            add(1, 2)
    capture.uninstall()
    assert add(1, 2) == 3


def test_a_malformed_answer_raises_type_error():
    capture.install(Translator(add, answer=lambda view: "nonsense"), hot_calls=1)
    with pytest.raises(TypeError, match="must return None, capture.SKIP or"):
        add(1, 2)
    capture.install(Translator(add, answer=lambda view: ("not an entry", 1)), hot_calls=1)
    with pytest.raises(TypeError, match="capture.Entry"):
        add(1, 2)


def test_an_entry_whose_guard_reads_an_unbound_local_is_refused():
    def body(x):
        y = x + 1
        return y

    def answer(view):
        guard = capture.Guard()
        guard.local("y").type_is(int)
        return capture.Entry(guard, lambda x: x), run(view)

    capture.install(Translator(body, answer=answer), hot_calls=1)
    with pytest.raises(ValueError, match="does not bind on entry"):
        body(1)


def test_an_entry_is_cached_once():
    entry = capture.Entry(capture.Guard(), lambda a, b: 0)
    capture.install(Translator(add, answer=lambda view: (entry, run(view))), hot_calls=1)
    add(1, 2)
    assert capture.entries(add) == [entry]
    capture.reset(add)
    with pytest.raises(ValueError, match="already cached"):
        add(1, 2)


# ----- entries: hits, misses, MRU order, budget -----


def test_guards_pick_entries_and_hits_move_to_the_front():
    translator = Translator(add, answer=compile_typed(lambda view: lambda a, b: (type(a), a + b)))
    capture.install(translator, hot_calls=1, budget=8)
    assert add(1, 2) == 3 and add(1.0, 2.0) == 3.0  # two compiles
    int_entry, float_entry = capture.entries(add)[1], capture.entries(add)[0]
    assert add(3, 4) == (int, 7)  # hit on the second entry: it moves first
    assert capture.entries(add) == [int_entry, float_entry]
    assert add(0.5, 0.5) == (float, 1.0)
    assert capture.entries(add) == [float_entry, int_entry]
    assert int_entry.last_failure == "type(L['a']) is int"
    stats = capture.stats(add)
    assert (stats["compiles"], stats["recompiles"], stats["hits"], stats["misses"]) == (2, 1, 2, 1)


def test_the_budget_stops_recompiling_and_the_code_then_runs_as_usual():
    translator = Translator(add, answer=compile_typed(lambda view: lambda a, b: "entry"))
    capture.install(translator, hot_calls=1, budget=3)
    for a in (1, 1.0, "x"):
        add(a, a)
    assert add(2, 2) == "entry"
    assert add([1], [2]) == [1, 2]  # a 4th type: budget spent, runs as usual
    assert capture.stats(add)["skip_reason"] == "budget"
    assert add(2, 2) == 4  # ... forever, cached entries included
    assert len(translator.views) == 3 and capture.stats(add)["entries"] == 3


def test_an_entry_may_fall_back_to_running_the_frame():
    translator = Translator(add, answer=compile_typed(lambda view: lambda a, b: capture.FALLBACK))
    capture.install(translator, hot_calls=1)
    assert add(1, 2) == 3 and add(3, 4) == 7
    assert capture.stats(add)["fallbacks"] == 1 and capture.stats(add)["hits"] == 1


def test_an_exception_from_an_entry_propagates_from_the_call():
    def fail(a, b):
        raise ZeroDivisionError("compiled")

    capture.install(Translator(add, answer=compile_typed(lambda view: fail)), hot_calls=1)
    add(1, 2)
    with pytest.raises(ZeroDivisionError, match="compiled"):
        add(1, 2)


def test_hidden_files_leave_the_traceback_of_an_exception_from_the_callback_or_an_entry():
    """The translator's own frames are hidden from the user's traceback;
    the frames of files elsewhere stay (here: raising.py)."""
    from raising import raise_value_error

    def callback(view):
        raise_value_error("from the callback")

    def fail(a, b):
        raise_value_error("from the entry")

    def names(exc_info) -> list:
        return [entry.name for entry in exc_info.traceback]

    capture.install(Translator(add, answer=callback), hot_calls=1, hidden_prefixes=[__file__])
    with pytest.raises(ValueError, match="from the callback") as info:
        add(1, 2)
    assert "callback" not in names(info) and names(info)[-1] == "raise_value_error"
    answer = compile_typed(lambda view: fail)
    capture.install(Translator(add, answer=answer), hot_calls=1, hidden_prefixes=[__file__])
    add(1, 2)
    with pytest.raises(ValueError, match="from the entry") as info:
        add(1, 2)
    assert "fail" not in names(info) and names(info)[-1] == "raise_value_error"
    capture.install(Translator(add, answer=callback), hot_calls=1)  # (default: none hidden)
    with pytest.raises(ValueError) as info:
        add(1, 2)
    assert "callback" in names(info)


def test_reset_forgets_one_code():
    translator = Translator(add, answer=compile_typed(lambda view: lambda a, b: "entry"))
    capture.install(translator, hot_calls=1)
    add(1, 2)
    capture.reset(add)
    assert capture.stats(add)["entries"] == 0
    assert add(1, 2) == 3 and len(translator.views) == 2


# ----- what the callback and entries see of a frame -----


def make_closure():
    k = 10
    unused = "never read"  # noqa: F841

    def inner(x, y=2, *rest, z=3, **kw):
        def g():
            return x + k  # x: an argument that is a cell; k: a free variable

        return g() + y + sum(rest) + z + sum(kw.values())

    return inner


def test_views_bind_defaults_varargs_cells_and_free_variables():
    inner = make_closure()
    answer = compile_typed(lambda view: lambda *values: values)
    translator = Translator(inner, answer=answer)
    capture.install(translator, hot_calls=1)
    assert inner(1, 5, 6, w=7) == 1 + 10 + 5 + 6 + 3 + 7
    view = translator.views[0]
    assert view.locals == {"x": 1, "y": 5, "rest": (6,), "z": 3, "kw": {"w": 7}, "k": 10}
    assert view.call_args() == ((1, 5, 6), {"z": 3, "w": 7})
    assert view.function is inner and view.globals is globals()
    assert view.builtins["len"] is len
    # co_varnames order: positional, keyword-only, *args, **kwargs; then free variables
    assert capture.entry_signature(inner) == ("x", "y", "z", "rest", "kw", "k")
    values = inner(1, 5, 6, w=7)  # the entry receives parameters, then cells
    assert values[:5] == (1, 5, 3, (6,), {"w": 7})
    assert values[5].cell_contents == 10


def test_a_view_is_a_snapshot_that_outlives_the_call():
    translator = Translator(add, answer=lambda view: (None, capture.FALLBACK))
    capture.install(translator, hot_calls=1)
    add([1], [2])
    capture.uninstall()
    gc.collect()
    view = translator.views[0]
    assert view.locals == {"a": [1], "b": [2]} and view.code is add.__code__
    assert repr(view) == "<FrameView of add>"


def test_entries_of_functions_with_many_parameters():
    names = [f"p{i}" for i in range(20)]
    namespace = {}
    exec(f"def wide({', '.join(names)}):\n    return {' + '.join(names)}", namespace)
    wide = namespace["wide"]
    translator = Translator(wide, answer=compile_typed(lambda view: lambda *values: values))
    capture.install(translator, hot_calls=1)
    assert wide(*range(20)) == sum(range(20))
    assert wide(*range(20)) == tuple(range(20))


def test_keyword_only_and_positional_only_parameters():
    def f(a, /, b, *, c, **kw):
        return (a, b, c, kw)

    translator = Translator(f, answer=lambda view: (None, run(view)))
    capture.install(translator, hot_calls=1)
    assert f(1, b=2, c=3, a=4) == (1, 2, 3, {"a": 4})
    assert translator.views[0].call_args() == ((1, 2), {"c": 3, "a": 4})


def test_comprehensions_inside_captured_functions():
    def squares(n):
        return [i * i for i in range(n)]  # 3.12 inlines it (hidden locals)

    capture.install(Translator(squares, answer=lambda view: (None, run(view))), hot_calls=1)
    assert squares(4) == [0, 1, 4, 9]


class Counter:
    def __init__(self):
        self.count = 0

    def bump(self, by):
        self.count += by
        return self.count


def test_methods_are_captured_with_self_as_a_parameter():
    def answer(view):
        guard = capture.Guard()
        guard.local("self").type_is(Counter)
        guard.local("by").equals(0)
        return capture.Entry(guard, lambda self, by: self.count), run(view)

    translator = Translator(Counter.bump, answer=answer)
    capture.install(translator, hot_calls=1)
    c = Counter()
    assert c.bump(2) == 2  # compiles an entry for by == 0
    assert c.bump(0) == 2 and capture.stats(Counter.bump)["hits"] == 1
    assert c.bump(1) == 3 and capture.stats(Counter.bump)["compiles"] == 2
    assert translator.views[0].locals == {"self": c, "by": 2}


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_recursive_functions_give_the_same_results():
    def answer(view):
        guard = capture.Guard()
        guard.local("n").type_is(int)
        return capture.Entry(guard, lambda n: fib_plain(n)), run(view)

    def fib_plain(n):
        return n if n < 2 else fib_plain(n - 1) + fib_plain(n - 2)

    capture.install(Translator(fib, answer=answer), hot_calls=2)
    assert [fib(n) for n in range(15)] == [fib_plain(n) for n in range(15)]


def walk(n):
    return 0 if n == 0 else 1 + walk(n - 1)


def descend(n, leaf):
    return leaf(n) if n == 0 else 1 + descend(n - 1, leaf)


def leaf_by_entry(n):
    return -1


def leaf_by_callback(n):
    return -1


def test_frames_answered_deep_in_the_stack_release_data_stack_chunks():
    # At some depths the leaf's frame opens a new data-stack chunk, which
    # releasing the unevaluated frame must free (3.12 releases it in the hook).
    def answer(view):
        guard = capture.Guard()
        guard.local("n").type_is(int)
        return capture.Entry(guard, lambda n: 0), 0

    translator = Translator(leaf_by_entry, leaf_by_callback, answer=answer)
    capture.install(translator, hot_calls=1, budget=1000)
    for depth in range(400):  # every depth: the leaf lands on each chunk boundary
        assert descend(depth, leaf_by_entry) == depth
        assert descend(depth, leaf_by_callback) == depth
    assert capture.stats(leaf_by_entry)["hits"] == 399
    translator.answer = lambda view: (None, 0)  # the callback answers every call
    capture.reset()
    for depth in range(400):
        assert descend(depth, leaf_by_callback) == depth
    assert capture.stats(leaf_by_callback)["compiles"] == 400


def test_the_recursion_limit_still_raises():
    capture.install(Translator(walk), hot_calls=1)
    with pytest.raises(RecursionError):
        walk(sys.getrecursionlimit() + 10)
    assert walk(10) == 10


# ----- the hook is off where it must be -----


def test_the_hook_is_off_inside_callbacks_and_entries():
    inside = []

    def entry_fn(a, b):
        inside.append(("entry", capture.enabled()))
        return add(a, b)  # not captured: runs as usual

    def answer(view):
        inside.append(("callback", capture.enabled()))
        return capture.Entry(typed_guard(view), entry_fn), add(1, 1) + run(view)

    translator = Translator(add, answer=answer)
    capture.install(translator, hot_calls=1)
    assert capture.enabled()
    assert add(1, 2) == 5 and add(1, 2) == 3
    assert inside == [("callback", False), ("entry", False)]
    assert len(translator.views) == 1
    with capture.disabled():
        assert not capture.enabled()
        add(1, 2)
    assert capture.enabled() and capture.stats(add)["hits"] == 1


def test_uninstall_restores_normal_calls():
    translator = Translator(add, answer=compile_typed(lambda view: lambda a, b: "entry"))
    before = sys.getrefcount(translator)
    capture.install(translator, hot_calls=1)
    assert capture.is_installed()
    add(1, 2)
    assert add(1, 2) == "entry"
    capture.uninstall()
    assert not capture.is_installed() and not capture.enabled()
    assert add(1, 2) == 3 and len(translator.views) == 1
    assert capture.stats(add)["calls"] == 0
    assert sys.getrefcount(translator) == before
    capture.uninstall()  # a second uninstall does nothing


def test_reinstalling_replaces_the_callback_and_resets_caches():
    first = Translator(add, answer=compile_typed(lambda view: lambda a, b: "first"))
    second = Translator(add, answer=compile_typed(lambda view: lambda a, b: "second"))
    capture.install(first, hot_calls=1)
    add(1, 2)
    assert add(1, 2) == "first"
    capture.install(second, hot_calls=1)
    assert capture.stats(add)["entries"] == 0
    add(1, 2)
    assert add(1, 2) == "second"


def test_uninstalling_inside_the_callback_is_safe():
    def answer(view):
        capture.uninstall()
        return capture.Entry(typed_guard(view), lambda a, b: "stale"), run(view)

    capture.install(Translator(add, answer=answer), hot_calls=1)
    assert add(1, 2) == 3 and add(1, 2) == 3
    assert capture.stats(add)["entries"] == 0  # the stale entry was dropped


# ----- reference counts and leaks -----


def test_reference_counts_are_unchanged_over_many_calls():
    arg, result = object(), object()
    answers = {
        "result": lambda view: (None, result),
        "fallback": lambda view: (None, capture.FALLBACK),
        "none": lambda view: None,
        "entry": compile_typed(lambda view: lambda a, b: result),
        "raises": lambda view: 1 / 0,
    }

    def target(a, b):
        return a

    for name, answer in answers.items():
        capture.install(Translator(target, answer=answer), hot_calls=1, budget=1000)
        arg_count, result_count = sys.getrefcount(arg), sys.getrefcount(result)
        for _ in range(2000):
            try:
                target(arg, arg)
            except ZeroDivisionError:
                pass
        capture.uninstall()
        gc.collect()
        assert sys.getrefcount(arg) == arg_count, name
        assert sys.getrefcount(result) == result_count, name


def test_no_objects_leak_over_many_calls():
    def answer(view):
        guard = typed_guard(view)
        guard.local("b").type_is(type(view.locals["b"])).len().equals(1)  # raises on ints
        return capture.Entry(guard, lambda a, b: [a, b]), run(view)

    capture.install(Translator(add, answer=answer), hot_calls=1)

    def churn():
        for i in range(3000):
            add([i], [1]) if i % 3 == 0 else add(i, 1)

    churn()
    gc.collect()
    before = len(gc.get_objects())
    churn()
    gc.collect()
    assert len(gc.get_objects()) - before < 50


def capture_a_local_class():
    """Caches an entry guarding a local class and instance; returns weak
    references to both and the method's function."""

    class Local:
        def method(self):
            return 1

    instance = Local()

    def answer(view):
        guard = capture.Guard()
        guard.local("self").type_is(Local).is_(instance)
        return capture.Entry(guard, lambda self: 2), run(view)

    translator = Translator(Local.method, answer=answer)
    capture.install(translator, hot_calls=1)
    assert instance.method() == 1 and instance.method() == 2
    translator.views.clear()  # the views and the answer's closure hold both
    translator.answer = None
    return weakref.ref(Local), weakref.ref(instance), Local.method


def test_guards_do_not_keep_classes_or_instances_alive():
    dead_class, dead_instance, method = capture_a_local_class()
    gc.collect()
    assert dead_instance() is None and dead_class() is None
    assert capture.stats(method)["entries"] == 1


# ----- threads -----


def test_the_off_switch_is_per_thread():
    started, release = threading.Event(), threading.Event()
    seen = {}

    def answer(view):
        started.set()
        release.wait(5)
        return None, run(view)

    capture.install(Translator(add, answer=answer), hot_calls=1)

    def other():
        started.wait(5)
        seen["enabled"] = capture.enabled()
        seen["result"] = add(10, 20)  # the same code is compiling: runs as usual
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert add(1, 2) == 3
    thread.join()
    assert seen == {"enabled": True, "result": 30}


def test_threads_share_the_cache_safely():
    class Slow:
        @property
        def value(self):
            os.sched_yield()  # lets the other threads run mid-check
            return 1

    def answer(view):
        guard = typed_guard(view)
        guard.local("a").attr("value").equals(1)
        return capture.Entry(guard, lambda a, b: b), run(view)

    def target(a, b):
        return b

    capture.install(Translator(target, answer=answer), hot_calls=1, budget=1000)
    errors = []

    def worker(seed):
        try:
            for i in range(2000):
                assert target(Slow(), i) == i
                if i % 500 == 250 + seed:
                    capture.reset(target)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert capture.stats(target)["hits"] > 0
