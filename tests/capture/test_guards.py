"""Native guards (janus._C.capture.Guard): each accessor and leaf check, what
first_failure reports, and guards that raise while reading."""

import gc

import numpy as np
import pytest

import janus
from janus import _C, dtypes
from janus.autograd import grad_mode

capture = _C.capture
LIMIT = 10


@pytest.fixture(autouse=True)
def _uninstall_after_test():
    """Every test ends with the hook uninstalled, whatever it did; then the
    JIT's own hook is back if it was on."""
    was_on = capture.is_installed()
    yield
    capture.uninstall()
    assert not capture.is_installed()
    if was_on:
        janus.jit.enable()


def guard():
    return capture.Guard()


# ----- accessors -----


def test_locals_globals_and_builtins():
    g = guard()
    g.local("x").equals(1)
    g.global_("LIMIT").equals(10)
    g.builtin("len").is_(len, "len")
    ok = {"globals": {"LIMIT": 10}, "builtins": {"len": len}}
    assert g.check({"x": 1}, **ok)
    assert g.first_failure({"x": 2}, **ok) == "L['x'] == 1"
    assert g.first_failure({}, **ok) == "L['x'] can be read"
    assert g.first_failure({"x": 1}, globals={"LIMIT": 11}, builtins={"len": len}) == (
        "G['LIMIT'] == 10"
    )
    assert g.first_failure({"x": 1}, globals={}, builtins={"len": len}) == "G['LIMIT'] can be read"
    assert (
        g.first_failure({"x": 1}, globals={"LIMIT": 10}, builtins={"len": max}) == "B['len'] is len"
    )


def test_guards_read_a_frame_view():
    def f(x):
        return x + LIMIT

    views = []

    def callback(view):
        if view.code is not f.__code__:
            return capture.SKIP
        views.append(view)
        return None

    capture.install(callback, hot_calls=1)
    f(1)
    capture.uninstall()
    g = guard()
    g.local("x").equals(1)
    g.global_("LIMIT").equals(10)
    g.builtin("len").is_(len)
    assert g.check(views[0])
    assert g.first_failure(views[0], globals={"LIMIT": 3}) == "G['LIMIT'] == 10"


def test_attributes_items_and_lengths():
    class Point:
        def __init__(self):
            self.xy = (3, 4)
            self.tags = {"kind": "p", 7: [1, 2]}

    g = guard()
    p = g.local("p")
    p.attr("xy").item(0).equals(3)
    p.attr("xy").item(-1).equals(4)
    p.attr("xy").len_is(2)
    p.attr("tags").item("kind").equals("p")
    p.attr("tags").item(7).len().equals(2)
    assert g.check({"p": Point()})
    point = Point()
    point.xy = [3, 5]  # a list reads the same way
    assert g.first_failure({"p": point}) == "L['p'].xy[-1] == 4"
    point.xy = (3,)  # a node's own checks run before its children's
    assert g.first_failure({"p": point}) == "len(L['p'].xy) == 2"
    out_of_range = guard()
    out_of_range.local("xs").item(-2).equals(3)
    assert out_of_range.first_failure({"xs": (3,)}) == "L['xs'][-2] can be read"
    point = Point()
    point.tags = {7: [1, 2]}
    assert g.first_failure({"p": point}) == "L['p'].tags['kind'] can be read"
    assert g.describe() == [
        "len(L['p'].xy) == 2",
        "L['p'].xy[0] == 3",
        "L['p'].xy[-1] == 4",
        "L['p'].tags['kind'] == 'p'",
        "len(L['p'].tags[7]) == 2",
    ]


def test_items_keyed_by_objects_hashed_by_identity():
    """An optimizer's state is keyed by parameter tensors: the guard holds the
    key object, compares keys by `is`, names it as told, and reads a
    defaultdict without calling __missing__ (which would insert the key)."""
    from collections import defaultdict

    w, other = janus.ones(2), janus.ones(2)
    g = guard()
    state = g.local("state")
    state.item(w, "<param 0>").len().equals(1)
    assert state.item(w, "<param 0>") is not None  # asked twice: the same node
    assert g.check({"state": {w: {"step": 1}}})
    table = defaultdict(dict)
    table[other] = {"step": 1}
    assert g.first_failure({"state": table}) == "L['state'][<param 0>] can be read"
    assert w not in table and len(table) == 1
    with pytest.raises(TypeError, match="hashed by identity"):
        state.item([1, 2])


def test_items_of_other_containers_use_getitem():
    class Table:
        def __getitem__(self, key):
            return key * 2

    g = guard()
    g.local("t").item(21).equals(42)
    g.local("t").item("ab").equals("abab")
    assert g.check({"t": Table()})
    with pytest.raises(TypeError, match="item keys"):
        g.local("t").item([1])


def test_asking_twice_for_an_accessor_gives_the_same_node():
    g = guard()
    g.local("x").attr("a").equals(1)
    g.local("x").attr("a").equals(1)
    g.local("x").item(1).equals(2)
    g.local("x").item(True).equals(3)  # True is not the key 1
    assert g.local("x").attr("a").source == "L['x'].a"
    assert g.describe() == ["L['x'].a == 1", "L['x'].a == 1", "L['x'][1] == 2", "L['x'][True] == 3"]


def test_object_and_call_roots_guard_global_state():
    g = guard()
    g.object(grad_mode.state, "grad_mode.state").attr("enabled").equals(True)
    g.object(dtypes._default, "dtypes._default").item(0).is_(janus.float32, "janus.float32")
    g.call(janus.is_grad_enabled, "janus.is_grad_enabled()").equals(True)
    assert g.check({})
    with janus.no_grad():
        assert g.first_failure({}) == "grad_mode.state.enabled == True"
    janus.set_default_dtype(janus.float64)
    try:
        assert g.first_failure({}) == "dtypes._default[0] is janus.float32"
    finally:
        janus.set_default_dtype(janus.float32)
    only_call = guard()
    only_call.call(janus.is_grad_enabled, "janus.is_grad_enabled()").equals(True)
    with janus.no_grad():
        assert only_call.first_failure({}) == "janus.is_grad_enabled() == True"

    class Mode:
        def enabled(self):
            return True

    bound = guard()  # a bound method made for the call is held by the guard alone
    bound.call(Mode().enabled, "mode.enabled()").equals(True)
    gc.collect()
    assert bound.check({})


def test_local_by_index_counts_the_entry_signature():
    def f(a, b, *rest):
        return a

    g = capture.Guard(f)
    assert g.local(2).source == "L['rest']"
    with pytest.raises(IndexError):
        g.local(3)
    with pytest.raises(ValueError, match="Guard\\(code\\)"):
        guard().local(0)


# ----- leaf checks -----


def test_type_identity():
    g = guard()
    g.local("x").type_is(int)
    g.local("t").type_is(janus.Tensor)
    assert g.check({"x": 1, "t": janus.ones(1)})
    assert g.first_failure({"x": True, "t": janus.ones(1)}) == "type(L['x']) is int"
    assert g.first_failure({"x": 1, "t": 1}) == "type(L['t']) is janus.tensor.Tensor"
    with pytest.raises(TypeError):
        g.local("x").type_is(3)


def test_object_identity():
    marker, other = object(), object()
    g = guard()
    g.local("x").is_(marker, "marker")
    assert g.check({"x": marker}) and not g.check({"x": other})
    assert g.first_failure({"x": other}) == "L['x'] is marker"
    none = guard()
    none.local("x").is_(None)
    assert none.check({"x": None}) and none.first_failure({"x": 0}) == "L['x'] is None"


def test_identity_is_held_weakly():
    class Thing:
        pass

    thing = Thing()
    g = guard()
    g.local("x").is_(thing)
    g.local("y").type_is(Thing)
    assert g.check({"x": thing, "y": thing})
    del thing
    gc.collect()
    assert not g.check({"x": None, "y": None})  # a dead referent never matches, not even None


@pytest.mark.parametrize(
    ("expected", "same", "different"),
    [
        (1, [1], [True, 1.0, 2, "1"]),
        (True, [True], [1, False]),
        (1.5, [1.5], [2.5, "1.5"]),
        (0.0, [0.0], [0, -0.0]),  # (-0.0 == 0.0, but 1 / -0.0 is -inf)
        ("ab", ["ab"], ["abc", b"ab"]),
        (None, [None], [0, False]),
        (
            (1, ("a", None)),
            [(1, ("a", None))],
            [(1, ("a",)), (True, ("a", None)), [1, ["a", None]]],
        ),
    ],
)
def test_value_equality_is_exact_about_types(expected, same, different):
    g = guard()
    g.local("v").equals(expected)
    for value in same:
        assert g.check({"v": value}), value
    for value in different:
        assert not g.check({"v": value}), value
    assert g.first_failure({"v": different[0]}) == f"L['v'] == {expected!r}"


def test_a_float_equals_bit_for_bit():
    g = guard()
    g.local("v").equals(0.0)
    assert g.check({"v": 0.0}) and not g.check({"v": -0.0})  # (1 / v differs)
    assert g.first_failure({"v": -0.0}) == "L['v'] == 0.0"
    h = guard()
    h.local("v").equals((1, -0.0))
    assert h.check({"v": (1, -0.0)}) and not h.check({"v": (1, 0.0)})


def test_nan_never_equals_and_lists_are_refused():
    g = guard()
    g.local("v").equals(float("nan"))
    assert not g.check({"v": float("nan")})
    with pytest.raises(TypeError, match="equals expects"):
        guard().local("v").equals([1])


def test_length_equality():
    g = guard()
    g.local("xs").len_is(3)
    assert g.check({"xs": [1, 2, 3]}) and g.check({"xs": "abc"})
    assert g.first_failure({"xs": (1,)}) == "len(L['xs']) == 3"
    assert (
        g.first_failure({"xs": 5})
        == "len(L['xs']) == 3 (TypeError: object of type 'int' has no len())"
    )


def test_key_membership():
    g = guard()
    g.local("d").contains("a", True).contains(3, False)
    assert g.check({"d": {"a": 1}}) and g.check({"d": {"a", 4}})
    assert g.first_failure({"d": {"b": 1}}) == "'a' in L['d']"
    assert g.first_failure({"d": {"a": 1, 3: 0}}) == "3 not in L['d']"
    assert g.first_failure({"d": 5}).startswith("'a' in L['d'] (TypeError:")
    assert "'a' in L['d']" in g.describe()
    with pytest.raises(TypeError, match="contains expects"):
        guard().local("d").contains([1], True)


def test_tensor_checks():
    g = guard()
    g.local("x").tensor(dtype=np.float32, shape=(3, 4), requires_grad=False, device="cpu")
    assert g.check({"x": janus.ones(3, 4)})
    assert g.first_failure({"x": janus.ones(3, 5)}) == "L['x']._data.shape == (3, 4)"
    assert g.first_failure({"x": janus.ones(3)}) == "L['x']._data.shape == (3, 4)"
    assert g.first_failure({"x": janus.ones(3, 4, dtype=janus.float64)}) == (
        "L['x']._data.dtype == float32"
    )
    assert g.first_failure({"x": janus.ones(3, 4, requires_grad=True)}) == (
        "L['x'].requires_grad == False"
    )
    assert g.first_failure({"x": np.ones((3, 4))}).startswith("L['x']._data can be read")
    assert g.describe() == [
        "type(L['x']._data) is numpy.ndarray",
        "L['x']._data.dtype == float32",
        "L['x']._data.shape == (3, 4)",
        "L['x'].requires_grad == False",
    ]


def test_tensor_dynamic_dimensions_and_the_plain_requires_grad_attribute():
    g = guard()
    g.local("x").tensor(
        dtype="float32", shape=(None, 4), requires_grad=True, requires_grad_attr="_rg"
    )
    assert g.check({"x": janus.ones(7, 4, requires_grad=True)})
    assert g.check({"x": janus.ones(1, 4, requires_grad=True)})
    assert g.first_failure({"x": janus.ones(7, 5, requires_grad=True)}) == (
        "L['x']._data.shape matches (None, 4)"
    )
    assert g.first_failure({"x": janus.ones(7, 4)}) == "L['x']._rg == True"


class FakeDeviceArray:
    """Stands in for a cupy array: dtype and shape are read as attributes."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, np.dtype(dtype)


class FakeTensor:
    requires_grad = False

    def __init__(self, data):
        self._data = data


def test_tensor_checks_on_other_array_types():
    g = guard()
    g.local("x").tensor(dtype=np.float32, shape=(2, None), device=FakeDeviceArray)
    assert g.check({"x": FakeTensor(FakeDeviceArray((2, 9), "float32"))})
    assert g.first_failure({"x": FakeTensor(FakeDeviceArray((2, 9), "int64"))}) == (
        "L['x']._data.dtype == float32"
    )
    assert g.first_failure({"x": FakeTensor(FakeDeviceArray((3, 9), "float32"))}) == (
        "L['x']._data.shape matches (2, None)"
    )
    assert g.first_failure({"x": janus.ones(2, 2)}) == (
        "type(L['x']._data) is test_guards.FakeDeviceArray"
    )


# ----- guards that raise -----


def test_exceptions_while_reading_fail_the_check():
    class Touchy:
        @property
        def value(self):
            raise RuntimeError("boom")

        def __len__(self):
            raise ValueError("no length")

        def __getitem__(self, key):
            raise KeyError(key)

    for build, text in [
        (
            lambda g: g.local("x").attr("value").equals(1),
            "L['x'].value can be read (RuntimeError: boom)",
        ),
        (
            lambda g: g.local("x").attr("missing").equals(1),
            "L['x'].missing can be read (AttributeError:",
        ),
        (lambda g: g.local("x").len_is(1), "len(L['x']) == 1 (ValueError: no length)"),
        (lambda g: g.local("x").len().equals(1), "len(L['x']) can be read (ValueError: no length)"),
        (lambda g: g.local("x").item("k").equals(1), "L['x']['k'] can be read (KeyError: 'k')"),
        (
            lambda g: g.local("x").tensor(dtype="float32"),
            "L['x']._data can be read (AttributeError:",
        ),
    ]:
        g = guard()
        build(g)
        assert g.check({"x": Touchy()}) is False
        assert g.first_failure({"x": Touchy()}).startswith(text)


def test_raising_guards_miss_in_the_hook():
    class Touchy:
        @property
        def value(self):
            raise RuntimeError("boom")

    def f(x):
        return "ran"

    def callback(view):
        if view.code is not f.__code__:
            return capture.SKIP
        g = capture.Guard()
        g.local("x").attr("value").equals(1)
        return capture.Entry(g, lambda x: "entry"), "first"

    capture.install(callback, hot_calls=1, budget=2)
    assert [f(Touchy()) for _ in range(3)] == ["first", "first", "ran"]
    [entry, _] = capture.entries(f)
    assert entry.last_failure == "L['x'].value can be read"


def test_keyboard_interrupt_while_checking_propagates():
    class Interrupting:
        @property
        def value(self):
            raise KeyboardInterrupt

    g = guard()
    g.local("x").attr("value").equals(1)
    with pytest.raises(KeyboardInterrupt):
        g.check({"x": Interrupting()})
    with pytest.raises(KeyboardInterrupt):
        g.first_failure({"x": Interrupting()})

    def f(x):
        return "ran"

    def callback(view):
        if view.code is not f.__code__:
            return capture.SKIP
        entry_guard = capture.Guard()
        entry_guard.local("x").attr("value").equals(1)
        return capture.Entry(entry_guard, lambda x: "entry"), "first"

    capture.install(callback, hot_calls=1)
    assert f(Interrupting()) == "first"
    with pytest.raises(KeyboardInterrupt):
        f(Interrupting())  # the call raises it instead of losing it


# ----- building -----


def test_an_entry_freezes_its_guard():
    g = guard()
    g.local("x").equals(1)
    entry = capture.Entry(g, lambda x: x)
    assert g.frozen and entry.guard is g
    with pytest.raises(ValueError, match="can no longer change"):
        g.local("y")
    with pytest.raises(TypeError, match="callable"):
        capture.Entry(guard(), 3)


def test_a_guard_prints_its_expectations():
    g = guard()
    g.local("x").type_is(int).equals(2)
    g.local("y").len_is(0)
    assert str(g) == "type(L['x']) is int\nL['x'] == 2\nlen(L['y']) == 0"
    assert g.first_failure({"x": 2, "y": []}) is None
    assert repr(g.local("x")) == "<GuardNode L['x']>"
