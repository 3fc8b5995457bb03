"""Python constructs through the translator, differentially: every program
runs eagerly and through `janus.jit` from the same state, results and state
must agree, and the compiled entry must really have been used (a test where
the JIT silently ran everything eagerly would prove nothing)."""

from __future__ import annotations

import collections
import dataclasses
import types
import typing

import pytest
from tests.jit.differential import compiled_calls, run_both

import janus


def _fn(fn, observed=dict):
    """A `make` for run_both around a stateless function."""
    return lambda: (fn, observed)


def _xs(n=4, shape=(3,), seed=7):
    janus.manual_seed(seed)
    return [(janus.randn(*shape),) for _ in range(n)]


def _compiled_once(jf, calls: int) -> None:
    """One translation, no graph break, every later call compiled."""
    assert len(jf.report.compiles) == 1, jf.explain()
    assert not jf.report.compiles[0].breaks, jf.explain()
    assert compiled_calls(jf) == calls - 1


# ----- containers the trace creates -----
def test_item_stores_into_containers_made_by_operators_and_constructors():
    def fn(x):
        hs = [None] * 3  # made by `*`: the trace owns it
        for t in range(3):
            hs[t] = x * t
        table = dict()
        table["sum"] = hs[0] + hs[1] + hs[2]
        pair = [x] + [x * 2]
        pair[0] = pair[0] - 1
        return janus.stack(hs), table, pair

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)


def test_augmented_assignment_grows_a_list_the_trace_built():
    def fn(x):
        out = [x]
        alias = out
        out += [x * 2]  # the same list: both names see the new element
        return [t + 1 for t in alias], len(alias)

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)
    grown, n = jf(janus.ones(2))
    assert n == 2 and [t.tolist() for t in grown] == [[2.0, 2.0], [3.0, 3.0]]


# ----- an inlined function from another module -----
def _module(name: str, source: str):
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


helpers = _module(
    "janus_test_helpers",
    "SCALE = 2.0\ndef scaled(x):\n    return x * SCALE + len((1, 2))\n",
)


def test_another_modules_globals_and_builtins_are_guarded_apart():
    # Its globals and its builtins are two tables; a guard that confused them
    # would fail on every call and the frame would never run compiled.
    def fn(x):
        return helpers.scaled(x)

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)
    helpers.SCALE = 3.0
    try:
        x = janus.ones(3)
        assert jf(x).tolist() == [5.0] * 3  # the global changed: a guard miss, then right
    finally:
        helpers.SCALE = 2.0


# ----- names, attributes, operators -----
OFFSET = 0.5


def test_locals_globals_cells_and_arithmetic():
    def make():
        scale = 3.0

        def fn(x):
            nonlocal_sum = 0

            def bump(k):
                nonlocal nonlocal_sum
                nonlocal_sum += k
                return x * scale + k

            a = bump(1) + bump(2)
            n = 7
            ints = (n // 2, n % 3, n**2, -n, +n, ~n, n << 1, n >> 1, n & 3, n | 8, n ^ 5)
            flags = (n < 8, n <= 7, n == 7, n != 7, n > 1, n >= 9, 1 < n < 9)
            y = (a - OFFSET) / 2.0 * x**2 @ x
            return y, ints, flags, nonlocal_sum, x is not None and x is x

        return fn, dict

    jf = run_both(make, _xs())
    _compiled_once(jf, 4)


class Box:
    tag = "box"

    def __init__(self, w):
        self.w = w

    @property
    def doubled(self):
        return self.w * 2

    def apply(self, x, *, bias=0.0):
        return x * self.w + bias

    @staticmethod
    def twice(x):
        return x + x

    @classmethod
    def named(cls, x):
        return x, cls.tag


class ScaledBox(Box):
    def apply(self, x, *, bias=0.0):
        return super().apply(x, bias=bias) * 10


def test_attributes_methods_properties_and_super():
    box = ScaledBox(1.5)

    def fn(x):
        y = box.apply(x, bias=1.0) + box.doubled + Box.twice(x)
        z, tag = box.named(y)
        return z, tag, isinstance(box, Box), isinstance(x, (int, janus.Tensor))

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)


class Affine:
    """A callable object that is not a module (a loss, a transform)."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, x, shift=0.0):
        return x * self.scale + shift


def test_callable_objects_are_inlined():
    """`obj(x)` of a user class with `__call__` was a graph break (a call
    with no graph form); its `__call__` is traced like a method."""
    affine, loss = Affine(2.0), Affine(0.5)

    def fn(x):
        return loss(affine(x, shift=1.0)).sum()

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)
    affine.scale = 3.0  # a value the trace read: guarded
    assert jf(janus.ones(3)).item() == 6.0


Output = collections.namedtuple("Output", "loss logits")


class Stats(typing.NamedTuple):
    mean: object
    count: int = 1


@dataclasses.dataclass
class Record:
    value: object
    scale: float = 1.0
    notes: list = dataclasses.field(default_factory=list)

    def scaled(self):
        return self.value * self.scale


class Accumulator:
    def __init__(self, start):
        self.total = start
        self.steps = 0

    def add(self, x):
        self.total = self.total + x
        self.steps += 1
        return self


def test_objects_made_inside_are_traced_and_rebuilt_per_call():
    """Named tuples, dataclasses and plain objects made inside the frame:
    their `__init__` is traced (it was a graph break), and one that leaves
    the frame is made again on each compiled call from its final state,
    the same object wherever it appears."""

    def make():
        log = []

        def fn(x):
            out = Output(loss=(x**2).sum(), logits=x * 2)
            record = Record(out.logits + 1, scale=out.loss.item())
            record.notes.append("seen")
            acc = Accumulator(x).add(record.scaled()).add(out.logits)
            log.append(record)
            stats = Stats(acc.total.mean())
            return out, stats, acc, (record, record), acc.steps, stats.count

        make.log = log
        return fn, lambda: {"log": list(log)}

    jf = run_both(make, _xs())
    _compiled_once(jf, 4)
    out, stats, acc, (first, second), steps, count = jf(janus.ones(3))
    assert type(out) is Output and type(stats) is Stats and type(acc) is Accumulator
    assert first is second is make.log[-1] and first.notes == ["seen"]
    assert (steps, count) == (2, 1) and first.scale == 3.0  # (read from this call's loss)


class Slotted:
    __slots__ = ("w",)

    def __init__(self, w):
        self.w = w


class Broken:
    def __init__(self):
        return 1


def test_objects_that_cannot_be_rebuilt_still_run_right():
    """A class with __slots__ is made in Python (a break); an `__init__`
    that returns a value raises Python's own TypeError."""

    def fn(x):
        return Slotted(x + 1).w * 2

    jf = run_both(_fn(fn), _xs())
    assert compiled_calls(jf) >= 2

    def broken(x):
        y = x + 1
        Broken()
        return y

    with pytest.raises(TypeError, match="should return None, not 'int'"):
        janus.jit(broken)(janus.ones(2))


# ----- containers -----
def test_tuples_lists_dicts_build_index_slice_unpack():
    def fn(x):
        t = (x, x * 2, x * 3, 4)
        first, *middle, last = t
        a, (b, c) = t[0], t[1:3]
        lst = [a, b, c]
        lst.append(x + 1)
        lst.extend([x - 1, x - 2])
        d = {"a": a, "b": b}
        d["c"] = c
        merged = {**d, "n": len(lst)}
        return (
            lst[-1],
            lst[1:4],
            lst[::2],
            middle,
            last,
            merged,
            [k for k in d],
            list(d.values())[2],
            (*t[:2], *lst[:1]),
        )

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)


def test_comprehensions():
    # On 3.12 these are inlined into the frame (LOAD_FAST_AND_CLEAR etc.);
    # on 3.11 each is a nested function the translator inlines.
    def fn(x):
        squares = [x * k for k in range(3)]
        evens = [s for k, s in enumerate(squares) if k % 2 == 0]
        table = {f"k{k}": s + 1 for k, s in enumerate(squares)}
        keys = {k for k in table}
        nested = [[s * j for j in range(2)] for s in evens]
        return squares, evens, table, sorted(keys), nested

    jf = run_both(_fn(fn), _xs())
    _compiled_once(jf, 4)


# ----- loops and branches -----
def test_for_loops_over_every_kind_of_iterable():
    def fn(x, xs, pairs):
        acc = x
        for k in range(2, 5):
            acc = acc + k
        for t in xs:
            acc = acc * t
        for a, b in pairs:
            acc = acc + a * b
        for k, t in enumerate(xs, 1):
            acc = acc - k * t
        for a, t in zip((1.0, 2.0), xs):
            acc = acc + a * t
        for t in reversed(xs):
            acc = acc / (t.abs() + 1)
        for key, value in {"p": 1.0, "q": 2.0}.items():
            acc = acc + value if key == "p" else acc - value
        for row in x.reshape(3, 1):  # iterating a tensor: its rows
            acc = acc + row
        return acc

    janus.manual_seed(1)
    x, xs = janus.randn(3), [janus.randn(3), janus.randn(3)]
    pairs = ((janus.randn(3), janus.randn(3)),)
    jf = run_both(_fn(fn), [(x, xs, pairs)] * 4, rtol=1e-4)
    _compiled_once(jf, 4)


def test_while_if_else_and_or_and_defaults():
    def fn(x, n, mode="add", *, limit=3):
        k = 0
        while k < n and k < limit:
            if mode == "add":
                x = x + k
            elif mode == "mul":
                x = x * (k + 1)
            else:
                x = x - 1
            k += 1
        extra = (n > 10 or None) and x
        return x, k, extra if extra is not None else -1

    x = janus.ones(2)
    calls = [(x, 2), (x, 2), (x, 2, "mul"), (x, 2, "mul"), (x, 5, "sub")]
    jf = run_both(_fn(fn), calls)
    assert len(jf.report.compiles) == 3, jf.explain()  # one per (n, mode)
    assert compiled_calls(jf) == 2


def test_varargs_kwargs_and_calls_through_them():
    def inner(*args, scale=1.0, **named):
        total = sum(args) * scale
        for name in sorted(named):
            total = total + named[name]
        return total

    def fn(x, *rest, **options):
        return inner(x, *rest, scale=2.0, **options), len(rest), sorted(options)

    x = janus.ones(2)
    calls = [(x, x * 2)] * 3

    def make():
        return (lambda *a: fn(*a, bias=x, tilt=3.0)), dict

    jf = run_both(make, calls)
    _compiled_once(jf, 3)


def test_f_strings_min_max_len_and_assert():
    def fn(x, name, k):
        assert k >= 0, f"negative {k}"
        label = f"{name}:{k:03d}|{min(k, 4)}|{max(1, k, 2)}|{len(name)!r}"
        return x * min(k, 2.5), label

    jf = run_both(_fn(fn), [(janus.ones(2), "ab", 3)] * 3)
    _compiled_once(jf, 3)


def test_module_call_and_grad_modes():
    lin = janus.nn.Linear(3, 2)

    def fn(x):
        with janus.no_grad():
            frozen = lin(x)
        with janus.enable_grad():
            live = lin(x) * 2
        return frozen.requires_grad, (frozen + live.detach()).sum(dim=1)

    janus.manual_seed(2)
    jf = run_both(_fn(fn), [(janus.randn(4, 3),)] * 3)
    _compiled_once(jf, 3)


# ----- recompiling on what changes -----
def test_changing_types_and_shapes_use_the_new_entry():
    def fn(x, k):
        return x * k + x.sum()

    janus.manual_seed(3)
    a, b = janus.randn(3), janus.randn(2, 4)
    calls = [(a, 2), (a, 2), (a, 2.5), (a, 2.5), (b, 2), (b, 2), (a, 2)]
    jf = run_both(_fn(fn), calls)
    assert len(jf.report.compiles) == 3, jf.explain()  # int k, float k, new shape
    assert compiled_calls(jf) == 4
    assert jf.entries[0][1].calls == 2  # the first entry served call 1 and the last call


def test_closures_and_globals_changing_between_calls_are_guarded():
    global OFFSET
    scale = 2.0

    def fn(x):
        return x * scale + OFFSET

    jf = janus.jit(fn)
    x = janus.ones(2)
    try:
        got = [jf(x).tolist(), jf(x).tolist()]
        scale = 3.0  # the closure's cell changes
        got += [jf(x).tolist(), jf(x).tolist()]
        OFFSET = 1.5  # and then the global
        got += [jf(x).tolist(), jf(x).tolist()]
    finally:
        OFFSET = 0.5
    assert got == [[2.5] * 2] * 2 + [[3.5] * 2] * 2 + [[4.5] * 2] * 2
    assert len(jf.report.compiles) == 3 and compiled_calls(jf) == 3
    assert "scale" in str(jf.misses[0]) and "OFFSET" in str(jf.misses[1])


# ----- exceptions -----
def _check(t, k):
    if k > 2:
        raise ValueError(f"k too big: {k}")
    return t * k


def _raising(x, k):
    y = _check(x, k)
    return y + 1


def test_exceptions_in_compiled_code_keep_their_type():
    jf = janus.jit(_raising)
    x = janus.ones(2)
    assert jf(x, 1).tolist() == jf(x, 1).tolist() == [2.0, 2.0]
    assert compiled_calls(jf) == 1
    with pytest.raises(ValueError, match="k too big: 3"):
        jf(x, 3)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        janus.jit(lambda a, b: a @ b)(janus.ones(2, 3), janus.ones(2, 2))
    assert jf(x, 1).tolist() == [2.0, 2.0]  # the entry still serves good calls
    assert compiled_calls(jf) == 2


def test_exception_traceback_runs_through_the_users_code():
    jf = janus.jit(_raising)
    x = janus.ones(2)
    jf(x, 1)
    with pytest.raises(ValueError) as info:
        jf(x, 3)
    entries = [(e.name, e.statement.lines[0].strip()) for e in info.traceback]
    assert entries[-2:] == [
        ("_raising", "y = _check(x, k)"),
        ("_check", 'raise ValueError(f"k too big: {k}")'),
    ]

    def through_a_generator(x, n):
        return sum(_check(x, k) for k in range(n))

    jg = janus.jit(through_a_generator)
    with pytest.raises(ValueError) as info:
        jg(x, 4)
    names = [e.name for e in info.traceback]
    assert names[-3:] == ["through_a_generator", "<genexpr>", "_check"]

    def library_error(a, b):
        return a @ b  # the error is raised inside janus: its frames follow the user's

    with pytest.raises(RuntimeError, match="cannot be multiplied") as info:
        janus.jit(library_error)(janus.ones(2, 3), janus.ones(2, 2))
    names = [e.name for e in info.traceback]
    assert names.index("library_error") < names.index("matmul")


# ----- tensors reached through a container from outside the frame -----
def test_slices_of_an_argument_list_read_the_calls_own_elements():
    def fn(xs):
        out = xs[0] * 0
        for t in xs[1:]:
            out = out + t
        return out + xs[::-1][0]

    one = janus.ones(2)
    calls = [([one, one * 2, one * 3],)] * 2 + [([one, one * 5, one * 7],)] * 2
    jf = run_both(_fn(fn), calls)
    _compiled_once(jf, 4)  # same length: the entry serves new elements
    assert jf([one, one * 3]).tolist() == [6.0, 6.0]  # another length: a guard miss


def test_one_tensor_passed_twice_is_not_assumed_aliased_later():
    def fn(x, y):
        return x + y * 2

    a, b = janus.ones(2), janus.ones(2) * 5
    jf = run_both(_fn(fn), [(a, a), (a, a), (a, b), (a, b), (a, a)])
    assert len(jf.report.compiles) == 2, jf.explain()  # aliased, then distinct
    assert compiled_calls(jf) == 3


def test_tensors_returned_by_builtins_from_outside_containers_are_not_frozen():
    def via_copy(xs):
        return xs.copy()[0] * 2

    def via_sorted(xs):
        return sorted(xs, key=lambda t: 0)[0] * 2

    one = janus.ones(2)
    for fn in (via_copy, via_sorted):
        calls = [([one],)] * 2 + [([one * 5],)] * 2
        jf = run_both(_fn(fn), calls)  # agreeing with eager is the point
        # The list is passed whole to a builtin: its elements are read through
        # their sources (L['xs'][0]), so the result is found again each call.
        assert compiled_calls(jf) >= 1, jf.explain()


def test_module_parameters_are_read_from_the_module_passed_in():
    def fn(model, x):
        penalty = sum(p.pow(2).sum() for p in model.parameters())
        names = [name for name, _ in model.named_parameters()]
        return x + penalty, names, len(list(model.buffers()))  # no other read of them

    janus.manual_seed(4)
    one, two = janus.nn.Linear(2, 2), janus.nn.Linear(2, 2)
    bigger = janus.nn.Sequential(janus.nn.Linear(2, 2), janus.nn.Linear(2, 2))
    x = janus.ones(2)
    calls = [(one, x), (one, x), (two, x), (two, x), (bigger, x)]
    with janus.no_grad():
        jf = run_both(_fn(fn), calls)
    assert len(jf.report.compiles) == 2, jf.explain()  # the Sequential is another tree
    assert compiled_calls(jf) == 3  # `two` ran the entry made for `one`


# ----- outside containers the trace changes -----
def test_dict_get_is_a_guarded_decision_on_the_keys():
    def fn(d, x):
        return x * d.get("w", 1.0) + d.get("b", janus.zeros(2))

    one = janus.ones(2)
    calls = [({"w": 2.0},)] * 2 + [({"w": 3.0},)] * 2 + [({"w": 2.0, "b": one},)] * 2
    jf = run_both(_fn(fn), [(d, one) for (d,) in calls])
    assert len(jf.report.compiles) == 3 and compiled_calls(jf) == 3, jf.explain()


def test_reads_after_changing_an_outside_container():
    def grow(xs, x):
        xs.append(x * 2)
        return len(xs), x + 1  # the length follows from the entry length

    def grow_and_sum(xs, x):
        xs.append(x * 2)
        return sum(t.sum() for t in xs) + x  # the old elements have no source left

    def count(d, x):
        d["k"] = d.get("k", 0) + 1
        return x * d["k"]  # the trace's own store: read back as is

    def fresh():
        return ([janus.ones(1)], janus.ones(1))

    one = janus.ones(1)
    for fn, make_args, compiled in (
        (grow, fresh, 3),  # same entry length each call: compiled
        (grow_and_sum, fresh, 0),
        (count, lambda: ({}, one), 0),  # d["k"] changes every call: never the same guard
    ):
        for mode in ("eager", "jit"):
            f = janus.jit(fn) if mode == "jit" else fn
            shared = make_args()  # the same container across calls: it keeps growing
            with janus._C.capture.disabled():
                got = [repr(f(*(shared if fn is not grow else make_args()))) for _ in range(4)]
            if mode == "eager":
                expected = got
        assert got == expected, fn.__name__
        assert compiled_calls(f) == compiled, f.explain()
