"""Random programs through the translator: hypothesis builds the source of a
small function from a grammar of straight-line code, branches and loops over
tensors and Python ints, execs it, and runs it eagerly and compiled. Every
construct in the grammar is one the translator compiles, so beyond agreeing
with eager, the repeated calls must have run a graph."""

from __future__ import annotations

import textwrap

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import compiled_calls, generated, run_both

import janus

TENSORS = ("x", "y", "z")
UNARY = ("relu()", "tanh()", "sigmoid()", "abs()", "neg()")
BINARY = ("+", "-", "*")


@st.composite
def tensor_expr(draw, depth=0):
    """An expression over the tensor variables, the int `k` and constants."""
    if depth >= 2 or draw(st.booleans()):
        return draw(st.sampled_from(TENSORS))
    kind = draw(st.sampled_from(("binary", "scalar", "unary", "k")))
    a = draw(tensor_expr(depth + 1))
    if kind == "binary":
        return f"({a} {draw(st.sampled_from(BINARY))} {draw(tensor_expr(depth + 1))})"
    if kind == "scalar":
        return (
            f"({a} {draw(st.sampled_from(BINARY))} {draw(st.sampled_from(('0.5', '2', '-1.5')))})"
        )
    if kind == "k":
        return f"({a} * k)"
    return f"{a}.{draw(st.sampled_from(UNARY))}"


@st.composite
def statement(draw, depth=0):
    """One statement (possibly compound), as a list of source lines."""
    target = draw(st.sampled_from(TENSORS))
    kinds = ["assign", "assign", "int", "list", "genexpr", "tuple", "xs", "host"]
    if depth < 2:
        kinds += ["if", "for", "while"]
    kind = draw(st.sampled_from(kinds))
    if kind == "assign":
        return [f"{target} = ({draw(tensor_expr())}).tanh()"]
    if kind == "int":
        return [f"k = (k * {draw(st.integers(1, 3))} + {draw(st.integers(0, 4))}) % 5"]
    if kind == "list":
        m = draw(st.integers(1, 3))
        return [
            f"ts = [{draw(tensor_expr())} * i for i in range({m})]",
            f"ts.append({draw(st.sampled_from(TENSORS))})",
            f"{target} = janus.stack(ts).mean(0) + ts[-1] * len(ts)",
        ]
    if kind == "genexpr":
        return [f"{target} = sum(t * 0.5 for t in ({', '.join(TENSORS)})).tanh()"]
    if kind == "xs":  # the list argument: index, slice, iterate
        use = draw(
            st.sampled_from(
                (
                    "xs[0] * {t}",
                    "xs[-1] + {t}",
                    "sum(xs[1:], {t})",
                    "janus.stack(xs[::-1]).sum(0) - {t}",
                    "sum(t * i for i, t in enumerate(xs)) + {t}",
                    "max(len(xs), 2) * {t}",
                )
            )
        )
        return [f"{target} = ({use.format(t=draw(tensor_expr()))}).tanh()"]
    if kind == "host":  # a Python number from tensor data, computed after the graph
        update = draw(st.sampled_from(("total * 0.5 + {v}", "max(total, {v}) - k", "-abs({v})")))
        value = f"{draw(tensor_expr())}.sum().item()"
        if draw(st.booleans()):  # ... or by the graph, as a tensor operand
            scale = f"({value} * 0.5 - total) / 4"
            return [f"{target} = ({draw(tensor_expr())} * {scale}).tanh()"]
        return [f"total = {update.format(v=value)}"]
    if kind == "tuple":
        a, b = draw(st.permutations(TENSORS))[:2]
        return [f"{a}, {b} = {b}, ({a} + {b}) * 0.5"]
    body = draw(st.lists(statement(depth + 1), min_size=1, max_size=2))
    inner = ["    " + line for stmt in body for line in stmt]
    if kind == "if":
        other = ["    " + line for line in draw(statement(depth + 1))]
        cond = draw(st.sampled_from(("k > 2", "n % 2 == 0", "k == n", "flag")))
        return [f"if {cond}:", *inner, "else:", *other]
    if kind == "for":
        source = draw(st.sampled_from(("range(n)", "range(k)", "enumerate((x, y))", "(0.5, 2.0)")))
        loop_var = "i, _t" if source.startswith("enumerate") else "i"
        return [f"for {loop_var} in {source}:", *inner]
    return ["j = 0", "while j < n and j < 3:", *inner, "    j += 1"]


@st.composite
def program(draw):
    body = [line for stmt in draw(st.lists(statement(), min_size=1, max_size=5)) for line in stmt]
    lines = ["def generated(x, y, xs, n, flag):", "    k = n % 3", "    z = x * y"]
    lines += ["    total = 0.0", *["    " + line for line in body]]
    lines.append("    return x, y, z, k, total")
    return "\n".join(lines) + "\n"


def _function(source: str):
    namespace = {"janus": janus}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace["generated"]


@generated(25)
@given(source=program(), n=st.integers(0, 3), flag=st.booleans())
def test_generated_programs_agree_and_compile(source, n, flag):
    fn = _function(source)
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)
    janus.manual_seed(0)
    x, y = janus.randn(3), janus.randn(3)
    xs_a, xs_b, xs_long = ([janus.randn(3) for _ in range(k)] for k in (3, 3, 4))
    calls = [
        (x, x, xs_a, n, flag),  # aliased arguments
        (x, x, xs_a, n, flag),  # compiled
        (y, x, xs_b, n, flag),  # distinct arguments and new list elements: not that entry
        (x, y, xs_a, n + 1, not flag),  # other decisions
        (x, y, xs_a, n + 1, not flag),  # compiled
        (x, y, xs_long, n, flag),  # a longer list
    ]
    try:
        jf = run_both(lambda: (fn, dict), calls, rtol=1e-4, atol=1e-5)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{textwrap.indent(source, '  ')}") from None
    breaks = [b for t in jf.report.compiles for b in t.breaks]
    assert not breaks, f"{breaks}\n{source}"
    assert compiled_calls(jf) >= 2, f"{jf.explain()}\n{source}"


BREAKS = (
    ["if float(z.sum()) > 0:", "    z = z + 1", "else:", "    z = z - 1"],  # data-dependent
    ["v = (y.sum().item() > 0) * 3", "z = z * v"],  # Python's int arithmetic on data, used
    ["ks = {i: float(np.float32(i + k)) for i in range(2)}", "x = x + len(ks)"],  # inside a dict
    ["ks = {float(np.float32(i * k)) for i in range(3)}", "y = y + len(ks)"],  # ... and a set
    ["x = x + float(np.float32(k))"],  # a call with no graph form
    ["print_sink.append(int(k))", "y = y * len(print_sink) % 3"],  # an outside list, read back
)


def _top_level(line: str) -> bool:
    """Whether a body line starts a top-level statement (an `else:` does not)."""
    return line[4] != " " and not line.strip().startswith("else")


@st.composite
def program_with_breaks(draw):
    """A generated program with graph breaks at its top level, where the
    frame is split: the part before runs as a graph, the break in Python,
    and the rest as a resume function."""
    lines = draw(program()).splitlines()
    body, ret = lines[1:-1], lines[-1]
    for _ in range(draw(st.integers(1, 2))):
        # after `k` and `z` are set, between top-level statements
        tops = [k for k in range(2, len(body) + 1) if k == len(body) or _top_level(body[k])]
        at = draw(st.sampled_from(tops))
        body[at:at] = ["    " + line for line in draw(st.sampled_from(BREAKS))]
    return "\n".join([lines[0], *body, ret]) + "\n"


@generated(20)
@given(source=program_with_breaks(), n=st.integers(0, 3), flag=st.booleans())
def test_generated_programs_with_graph_breaks_agree(source, n, flag):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)
    janus.manual_seed(0)
    x, y = janus.randn(3), janus.randn(3)
    xs_a, xs_b = ([janus.randn(3) for _ in range(3)] for _ in range(2))
    calls = [(x, y, xs_a, n, flag)] * 3 + [(y, x, xs_b, n + 1, not flag)] * 3

    def make():
        namespace = {"janus": janus, "np": np, "print_sink": []}
        exec(compile(source, "<generated>", "exec"), namespace)
        return namespace["generated"], lambda: {"sink": namespace["print_sink"]}

    try:
        run_both(make, calls, rtol=1e-4, atol=1e-5)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{textwrap.indent(source, '  ')}") from None


# Programs over what changes every call in real models: a tree of nested
# tuples (a parse tree, a config) whose numbers change, and a window of a
# tensor at a changing offset. The tree is guarded only where the trace looks
# at it, its changing numbers become data, and the window is taken by
# positions computed on entry, so most calls run a graph.
TREE_STATEMENTS = (
    ["x = (x * tree[0]).tanh()"],
    ["x = x + sum(tree[1]) * 0.25"],
    ["a, (b, c) = tree", "x = (x * a + b - c).tanh()"],
    ["for v in tree[1]:", "    x = (x + v).tanh()"],
    ["x = x * len(tree[1])"],
    ["x = x + table[i : i + 2].sum(0)"],
    ["x = (x - table[i]).tanh()"],
    ["w = table[i : i + 1]", "x = (x + w[0] * tree[1][0]).tanh()"],
    ["x = x * max(tree[1])"],
    ["x = x + float(tree[1][1])"],
    ["lo, hi = tree[1]", "x = janus.where(x > 0, x * lo, x * hi)"],
)


@st.composite
def tree_program(draw):
    chosen = draw(st.lists(st.sampled_from(TREE_STATEMENTS), min_size=1, max_size=5))
    lines = ["def generated(x, tree, table, i):"]
    lines += ["    " + line for stmt in chosen for line in stmt]
    lines.append("    return x")
    return "\n".join(lines) + "\n"


@generated(20)
@given(source=tree_program())
def test_generated_programs_over_changing_trees_and_windows_agree(source):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)
    janus.manual_seed(0)
    x, table = janus.randn(3), janus.randn(6, 3)
    trees = [(2, (0.5, 1.5)), (3, (1.5, -0.5)), (1, (2.0, 0.25)), (4, (-1.0, 0.75))]
    calls = [(x, trees[k % 4], table, k % 5) for k in range(10)]
    try:
        jf = run_both(lambda: (_function(source), dict), calls, rtol=1e-4, atol=1e-5)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{textwrap.indent(source, '  ')}") from None
    breaks = [b for t in jf.report.compiles for b in t.breaks]
    assert not breaks, f"{breaks}\n{source}"
    assert compiled_calls(jf) >= 4, f"{jf.explain()}\n{source}"
