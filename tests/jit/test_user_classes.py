"""User classes whose Python runs on attribute access, through the JIT,
differentially: what a read or a store runs (a getter, a setter, a
descriptor, `__getattr__`, `__setattr__`) must run as often and give what it
gives eagerly, and a class patched between calls must be seen. Each program
here was a soundness bug found by fuzzing: a value baked at compile time, or
a guard that called user code again on every call."""

from __future__ import annotations

import contextlib
import functools

import pytest
from tests.jit.differential import compiled_calls, run_both

import janus


def _calls(n=7):
    return [(janus.ones(2), float(k)) for k in range(n)]


def _driven(make, count=6):
    """For programs whose driver changes things between calls: `make()`
    gives (fn, before_call(k) -> args[, observe() -> state]); runs `count`
    calls eagerly (hook off) and compiled from fresh state, asserts the
    results (and the state) agree, and returns them with the jitted
    function."""
    results = {}
    for jit in (False, True):
        fn, before_call, *observe = make()
        f = janus.jit(fn) if jit else fn
        with contextlib.nullcontext() if jit else janus._C.capture.disabled():
            results[jit] = [f(*before_call(k)).tolist() for k in range(count)]
        results[jit].extend(o() for o in observe)  # (what the program's Python did)
    assert results[True] == results[False]
    return results[False], f


class _Base:
    def __init__(self):
        self.hits = 0

    @property
    def value(self):
        self.hits += 1
        return float(self.hits * 10)


class _Child(_Base):
    @property
    def value(self):
        return super().value + 0.5


def test_a_property_read_through_super_is_traced():
    def make():
        obj = _Child()

        def fn(x, k):
            return x * obj.value + k

        return fn, lambda: {"hits": obj.hits}

    run_both(make, _calls())


class _Lazy:
    def __init__(self):
        self.on, self.hits = False, 0

    def __getattr__(self, name):
        self.hits += 1
        if name == "extra" and self.on:
            return 2.0
        raise AttributeError(name)


def test_hasattr_and_getattr_with_a_default_run_getattr_each_call():
    def make():
        obj = _Lazy()

        def fn(x, k):
            obj.on = k >= 3
            return x + hasattr(obj, "extra") + getattr(obj, "extra", 7.0)

        return fn, lambda: {"hits": obj.hits}

    run_both(make, _calls())


def test_a_missing_attribute_read_with_a_default_is_guarded_missing():
    class Config:
        pass

    def make():
        cfg = Config()

        def fn(x, k):
            return x * getattr(cfg, "scale", 1.0) + hasattr(cfg, "bias")

        def before_call(k):
            if k == 3:
                cfg.scale, cfg.bias = 5.0, 0.0
            return (janus.ones(2), float(k))

        return fn, before_call

    out, jf = _driven(make)
    assert out == [[1.0, 1.0]] * 3 + [[6.0, 6.0]] * 3 and compiled_calls(jf) >= 2


class _Doubling:
    def __setattr__(self, name, value):
        object.__setattr__(self, name, value * 2)


class _Setter:
    def __init__(self):
        self._lr = 0.0

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = value * 2


@pytest.mark.parametrize("kind", [_Doubling, _Setter], ids=["__setattr__", "property setter"])
def test_a_store_runs_the_classs_python(kind):
    def make():
        obj = kind()
        obj.lr = 0.0

        def fn(x, k):
            obj.lr = k / 10
            return x * obj.lr

        return fn, lambda: {"lr": obj.lr}

    run_both(make, _calls())


class _Counter:
    calls = 0

    def __get__(self, obj, owner=None):
        _Counter.calls += 1
        return obj.base * 2


class _WithDescriptor:
    v = _Counter()


class _Cached:
    def __init__(self):
        self.n = 0

    @functools.cached_property
    def table(self):
        self.n += 1
        return janus.ones(2) * self.n


class _Logged:
    def __init__(self):
        object.__setattr__(self, "log", [])
        self.k = 1.0

    def __getattribute__(self, name):
        if name == "k":
            object.__getattribute__(self, "log").append(name)
        return object.__getattribute__(self, name)


@pytest.mark.parametrize("kind", ["descriptor", "cached_property", "__getattribute__"])
def test_descriptors_and_getattribute_run_in_python_each_read(kind):
    """A descriptor's `__get__`, a cached property, a class's own
    `__getattribute__`: Python the trace does not follow, so the read is a
    graph break (guards called them on every call, or the value was baked)."""

    def make():
        _Counter.calls = 0
        described, cached, logged = _WithDescriptor(), _Cached(), _Logged()

        def fn(x, k):
            if kind == "descriptor":
                described.base = k
                return x * described.v
            if kind == "cached_property":
                return x + cached.table
            logged.k = k
            return x * logged.k

        def before_call(k):
            if k in (2, 4) and "table" in vars(cached):
                del cached.table
            return (janus.ones(2), float(k))

        return fn, before_call, lambda: (_Counter.calls, cached.n, len(logged.log))

    _driven(make)


class _Patched:
    def method(self, x):
        return x * 2

    @property
    def prop(self):
        return 1.0

    def __call__(self, x):
        return x + 100


@pytest.mark.parametrize("patch", ["method", "property", "__call__", "instance"])
def test_a_class_patched_between_calls_is_seen(patch):
    def make():
        cls = type("Patched", (_Patched,), {})
        obj = cls()

        def fn(x, k):
            return obj.method(x) + obj.prop + obj(x)

        def before_call(k):
            if k == 3 and patch == "method":
                cls.method = lambda self, x: x * 3
            elif k == 3 and patch == "property":
                cls.prop = property(lambda self: 7.0)
            elif k == 3 and patch == "__call__":
                cls.__call__ = lambda self, x: x - 100
            elif k == 3:
                obj.method = lambda x: x * 0
            return (janus.ones(2), float(k))

        return fn, before_call

    out, jf = _driven(make)
    assert out[2] != out[3] and compiled_calls(jf) >= 2


class _Scaled:
    def __init__(self, x):
        self.value = x * 2


def test_a_class_whose_init_is_patched_between_calls_makes_objects_by_the_new_one():
    """An object the frame makes is made by its class's `__init__`, traced:
    a new `__init__` (set on the class, or on a base it inherits from) is a
    guard miss, not the old one replayed."""

    def make():
        base = type("Base", (_Scaled,), {})
        cls = type("Made", (base,), {})

        def fn(x, k):
            return cls(x).value + k

        def before_call(k):
            if k == 3:
                base.__init__ = lambda self, x: setattr(self, "value", x * 5)
            elif k == 5:
                cls.__init__ = lambda self, x: setattr(self, "value", x - 1)
            return (janus.ones(2), float(k))

        return fn, before_call

    out, jf = _driven(make, count=8)
    assert out[3] == [8.0, 8.0] and out[5] == [5.0, 5.0]
    assert compiled_calls(jf) >= 3


class _Fallback:
    @property
    def value(self):
        raise AttributeError("value")

    def __getattr__(self, name):
        return -1.0


def test_a_getter_raising_attribute_error_falls_back_to_getattr():
    def make():
        obj = _Fallback()

        def fn(x, k):
            return x * obj.value

        return fn, dict

    run_both(make, _calls(4))


class _Range:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def test_iterating_an_object_the_frame_made_follows_its_iter():
    def make():
        def fn(x, n):
            count = 0
            for _ in _Range(n):
                count += 1
            return x * count

        return fn, dict

    run_both(make, [(janus.ones(1), n) for n in (2, 3, 1, 4, 5, 2, 6, 1)])


def test_a_jit_function_replaced_between_calls_is_seen():
    def make():
        table = {}
        small, large = janus.jit(lambda x: x * 2.5), janus.jit(lambda x: x * 100)

        def fn(x, k):
            return table["g"](x)

        def before_call(k):
            table["g"] = small if k % 2 else large
            return (janus.ones(2), float(k))

        return fn, before_call

    out, jf = _driven(make)
    assert out[0] != out[1] and compiled_calls(jf) >= 2
