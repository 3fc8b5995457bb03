"""Python constructs through the translator, differentially: every program
runs eagerly and through `janus.jit` from the same state, results and state
must agree, and the compiled entry must really have been used (a test where
the JIT silently ran everything eagerly would prove nothing)."""

from __future__ import annotations

import types

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
