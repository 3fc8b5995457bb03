"""Random programs over views and in-place writes: hypothesis chains view
ops (slices, indices by a changing int, transposes, reshapes, chunks) from a
tensor the frame made, a constant it made, and one from outside, then
writes through them, reads them, and writes their bases, in any order. A
graph value is not memory, so each write must reach every alias as eager's
does (put back by graph ops), or the frame must not be compiled; either
way, every call must agree with eager, and no program may hang the
translator (a write through a reshape of a slice once did)."""

from __future__ import annotations

import math
import textwrap

from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import generated, run_both

import janus

BASES = {"x": (4, 6), "a": (4, 6), "b": (4, 6)}


def _views(shape: tuple) -> list:
    """The view ops that apply to a tensor of `shape`, each with the shape
    it gives."""
    n, rest = (shape[0], shape[1:]) if shape else (0, ())
    out = [(".reshape(-1)", (math.prod(shape),))]
    if len(shape) <= 2:
        out.append((".unsqueeze(0)", (1, *shape)))
    if shape:
        out.append(("[0]", rest))
        out.append((f"[i % {n}]", rest))  # an index that changes per call
    if shape and n >= 2:
        out.append(("[1:]", (n - 1, *rest)))
        out.append((f"[i % {n - 1} : i % {n - 1} + 2]", (2, *rest)))  # a changing window
    if len(shape) >= 2 and shape[1] >= 2:
        out.append(("[:, 1:]", (n, shape[1] - 1, *shape[2:])))
    if len(shape) == 2:
        out.append((".t()", (shape[1], shape[0])))
    if shape and shape[-1] >= 2:
        out.append((".chunk(2, dim=-1)[1]", (*shape[:-1], shape[-1] // 2)))
    return out


WRITES = ("{v}.add_(1.5)", "{v}.mul_(-1)", "{v}.copy_({v} * 2 - 1)", "{v}.zero_()")
INDEXED_WRITES = ("{v}[0] = 7.0", "{v}[-1] += 2.0")
READS = ("out = out + {v}.sum()", "outs.append({v} * 1)", "out = out * 0.5 + {v}.mean()")


@st.composite
def view_program(draw):
    shapes = dict(BASES)
    lines = []
    for _ in range(draw(st.integers(2, 8))):
        name = draw(st.sampled_from(sorted(shapes)))
        shape = shapes[name]
        kind = draw(st.sampled_from(("view", "view", "write", "read")))
        if kind == "view":
            op, made = draw(st.sampled_from(_views(shape)))
            view = f"v{len(shapes) - len(BASES)}"
            shapes[view] = made
            lines.append(f"{view} = {name}{op}")
        elif kind == "write":
            forms = WRITES
            if shape:  # item stores, at a fixed and at a changing index
                changing = (f"{{v}}[i % {shape[0]}] = 3.0", f"{{v}}[i % {shape[0]}] *= 0.5")
                forms += INDEXED_WRITES + changing
            lines.append(draw(st.sampled_from(forms)).format(v=name))
        else:
            lines.append(draw(st.sampled_from(READS)).format(v=name))
    # Read every view at the end: a stale one shows there.
    lines += [f"outs.append({v} * 1)" for v in shapes if v not in BASES]
    body = ["a = x * 1", "b = janus.arange(24.0).reshape(4, 6)", "out = a.sum() * 0"]
    body += ["outs = []", *lines, "return out, a, b, outs"]
    return "def generated(i):\n" + "".join(f"    {line}\n" for line in body)


@generated(150)
@given(source=view_program())
def test_generated_programs_over_views_and_writes_agree(source):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)

    def make():
        x = janus.arange(24.0).reshape(4, 6) / 10
        namespace = {"janus": janus, "x": x}
        exec(compile(source, "<generated>", "exec"), namespace)
        return namespace["generated"], lambda: {"x": x}

    calls = [(i,) for i in (0, 1, 2, 3, 1, 4, 0, 2)]
    try:
        run_both(make, calls)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{textwrap.indent(source, '  ')}") from None
