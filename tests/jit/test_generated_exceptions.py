"""Random programs that raise: hypothesis writes a function that changes
state outside its frame (a list, an object's attribute, a tensor in place)
and then, on some calls, raises (an explicit raise, a failed assert, an
index out of range, a KeyError, a shape error from a tensor op), maybe
inside try/except/finally or a with block. A compiled call must raise the
same exception as eager, and leave the same state behind: what ran before
the raise happened, nothing after it did."""

from __future__ import annotations

import contextlib
import textwrap

from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import assert_same, generated, snapshot, state_of

import janus

EFFECTS = (
    "log.append(k)",
    "state.count += 1",
    "buf.add_(x)",
    "state.t = x * 2",
    "x = x + buf",
)
RAISES = (
    "raise ValueError(f'bad k {k}')",
    "assert k < 2, 'k too large'",
    "x = x + janus.ones(k + 3)",  # a shape error when k != 0
    "x = x * table[k]",  # a KeyError when k is not a key
    "x = x * [1.0, 2.0][k]",  # an IndexError when k > 1
    "x = x / (k - 1)",  # a ZeroDivisionError when k == 1
)


@st.composite
def raising_program(draw):
    before = draw(st.lists(st.sampled_from(EFFECTS), max_size=3))
    after = draw(st.lists(st.sampled_from(EFFECTS), max_size=2))
    raising = [f"if k >= {draw(st.integers(1, 3))}:", f"    {draw(st.sampled_from(RAISES))}"]
    form = draw(st.sampled_from(("plain", "caught", "finally", "with")))
    if form == "caught":
        caught = draw(st.sampled_from(("ValueError", "(KeyError, IndexError)", "Exception")))
        handler = [f"except {caught}:", "    log.append(-1)"]
        raising = ["try:", *["    " + r for r in raising], *handler]
    elif form == "finally":
        raising = ["try:", *["    " + r for r in raising], "finally:", "    state.count -= 1"]
    elif form == "with":
        raising = ["with janus.no_grad():", *["    " + r for r in raising]]
    body = [*before, *raising, *after, "return x * 2"]
    return "def generated(x, k):\n" + "".join(f"    {line}\n" for line in body)


class State:
    def __init__(self):
        self.count = 0
        self.t = janus.zeros(3)


def _run(source: str, compiled: bool) -> list:
    namespace = {
        "janus": janus,
        "log": [],
        "state": State(),
        "buf": janus.zeros(3),
        "table": {0: 1.5, 1: -0.5},
    }
    exec(compile(source, "<generated>", "exec"), namespace)
    fn = janus.jit(namespace["generated"]) if compiled else namespace["generated"]
    seen = []
    for j, k in enumerate((0, 1, 0, 2, 1, 3, 0, 2, 3, 0)):
        x = janus.arange(3.0) + j
        try:
            with contextlib.nullcontext() if compiled else janus._C.capture.disabled():
                out = ("returned", fn(x, k))
        except Exception as exc:  # the program's own: compared by type and text
            out = ("raised", type(exc).__name__, str(exc))
        with janus._C.capture.disabled():
            state = {name: namespace[name] for name in ("log", "state", "buf")}
            seen.append(("tuple", [snapshot(out), state_of(state)]))
    return seen


@generated(40)
@given(source=raising_program())
def test_generated_programs_that_raise_agree(source):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)
    eager, jit = _run(source, False), _run(source, True)
    try:
        for k, (a, b) in enumerate(zip(eager, jit)):
            assert_same(a, b, where=f"call {k}")
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{textwrap.indent(source, '  ')}") from None
