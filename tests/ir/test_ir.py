"""The IR as Python sees it (janus._C.ir): op kinds agree with the op table, and
graphs built from the table's shape rules print and parse back."""

import pytest

import janus
from janus import _C
from janus.ops import OPS
from janus.ops.meta import Meta


def test_ir_op_kinds_are_the_op_table():
    assert _C.ir.op_kinds() == [(name, op.outputs) for name, op in OPS.items()]


def test_structural_kinds_are_apart_from_the_op_table():
    """The compiler's own kinds (csrc/ir/structural_ops.def) are not table ops,
    so op_kinds() leaves them out; they still build, print and parse."""
    assert _C.ir.structural_kinds() == [
        ("fused", -1),
        ("constant", 1),
        ("assert", 0),
        ("cond", -1),
        ("loop", -1),
        ("call", -1),
        ("callback", -1),
    ]
    assert not {name for name, _ in _C.ir.structural_kinds()} & set(OPS)
    g = _C.ir.Graph()
    x = g.add_input("x", "f32", [2])
    [k] = g.add_node("constant", [], {"value": (1.0, 2.0)}, [("f32", [2])])
    body = ((("add", "f32", ("in0", "in1"), ()),), (0,))
    [y] = g.add_node("fused", [x, k], {"body": body[0], "results": body[1]}, [("f32", [2])])
    g.set_outputs([y])
    assert g.verify() == []
    assert str(_C.ir.Graph.parse(str(g))) == str(g)
    bad = _C.ir.Graph()
    x = bad.add_input("x", "f32", [2])
    [y] = bad.add_node(
        "fused", [x], {"body": (("exp", "f32", ("t3",), ()),), "results": (0,)}, [("f32", [2])]
    )
    bad.set_outputs([y])
    assert any('"t3" is not defined' in problem for problem in bad.verify())
    with pytest.raises(ValueError, match="malformed graph"):
        _C.cpu.Program(bad)


def _type(meta: Meta):
    short = {"float32": "f32", "float64": "f64", "int64": "i64", "bool": "bool"}
    return (short[meta.dtype.name], list(meta.shape))


def _node(graph, name, operands, metas, **attrs):
    """Appends op `name`, typing its results with the op table's meta rule."""
    result = OPS[name].meta(*metas, **attrs)
    results = (result,) if isinstance(result, Meta) else tuple(result)
    return graph.add_node(name, operands, attrs, [_type(m) for m in results]), results


def test_graph_from_shape_rules_round_trips_through_text():
    g = _C.ir.Graph()
    x = g.add_input("x", "f32", [4, 3])
    w = g.add_input("w", "f32", [5, 3])
    mx, mw = Meta((4, 3), janus.float32), Meta((5, 3), janus.float32)
    [h], (mh,) = _node(g, "linear", [x, w, None], [mx, mw, None])
    [r], (mr,) = _node(g, "relu", [h], [mh])
    [s], _ = _node(g, "sum", [r], [mr], dims=(0, 1), keepdim=False)
    [v, i], _ = _node(g, "max_dim", [r], [mr], dim=1, keepdim=False, largest=True)
    [y], _ = _node(g, "index_basic", [r], [mr], spec=(("s", None, 2, None), ("i", -1)))
    g.set_outputs([s, i, y])
    assert g.verify() == []
    text = str(g)
    assert "%0: f32[4,5] = linear(%x, %w, none)" in text
    assert "max_dim(%1) {dim=1, keepdim=false, largest=true}" in text
    again = _C.ir.Graph.parse(text)
    assert str(again) == text
    assert again.node_attrs(4)["spec"] == (("s", None, 2, None), ("i", -1))
    assert (i.dtype, i.shape, v.shape) == ("i64", (4,), (4,))


def test_builder_refuses_bad_input():
    g = _C.ir.Graph()
    x = g.add_input("x", "f32", [2])
    with pytest.raises(ValueError, match="unknown op"):
        g.add_node("frobnicate", [x], {}, [("f32", [2])])
    other = _C.ir.Graph()
    foreign = other.add_input("z", "f32", [2])
    with pytest.raises(ValueError, match="another graph"):
        g.add_node("neg", [foreign], {}, [("f32", [2])])
    with pytest.raises(TypeError, match="IR constants"):
        g.add_node("add", [x, object()], {}, [("f32", [2])])
    g.add_node("max_dim", [x], {"dim": 0}, [("f32", [])])  # one result; the op has two
    assert any("the op has 2" in problem for problem in g.verify())
    with pytest.raises(ValueError, match="line 2"):
        _C.ir.Graph.parse("graph() {\n  %0: f32[] = nope()\n  return %0\n}")


def test_passes_run_from_python():
    g = _C.ir.Graph.parse(
        "graph(%x: f32[3]) {\n"
        "  %a: f32[3] = mul(%x, 1)\n"
        "  %b: f32[3] = exp(%a)\n"
        "  %c: f32[3] = exp(%x)\n"
        "  %d: f32[3] = add(%b, %c)\n"
        "  return %d\n}\n"
    )
    assert _C.ir.pass_names() == [
        "infer_types",
        "simplify",
        "fold",
        "cse",
        "batch_matmuls",
        "fold_transposes",
        "dce",
        "fuse",
    ]
    assert [g.run_pass(name) for name in _C.ir.pass_names()] == [0, 1, 0, 1, 0, 0, 0, 1]
    # exp(%x) once, and the add of it to itself, in one fused node
    assert '["exp", "f32", ["in0"], []], ["add", "f32", ["t0", "t0"], []]' in str(g)
    assert g.node_count() == 1
    with pytest.raises(ValueError, match="unknown pass"):
        g.run_pass("frobnicate")


def test_stream_assignment_from_python():
    g = _C.ir.Graph.parse(
        "graph(%x: f32[3]) {\n"
        "  %a: f32[3] = exp(%x)\n"
        "  %b: f32[3] = neg(%a)\n"
        "  %c: f32[3] = sin(%a)\n"
        "  %d: f32[3] = add(%b, %c)\n"
        "  return %d\n}\n"
    )
    result = g.assign_streams()
    assert result["streams"] == 2 and len(result["syncs"]) == 2
    assert result["stream"][1] != result["stream"][2]


def test_memory_plan_from_python():
    g = _C.ir.Graph.parse(
        "graph(%x: f32[256]) {\n"
        "  %a: f32[256] = exp(%x)\n"
        "  %b: f32[256] = neg(%a)\n"
        "  %c: f32[256] = sin(%b)\n"
        "  return %c\n}\n"
    )
    plan = g.plan_memory()
    # %c, the output, is written into the caller's buffer: only %a and %b are planned
    assert plan["unshared_bytes"] == 2 * 1024 and plan["arena_bytes"] == 2 * 1024
    assert plan["offsets"]["a"] != plan["offsets"]["b"] and "c" not in plan["offsets"]
    assert plan["dynamic"] == [] and plan["caller_owned"] == ["c"]
    # In place: %b may be written over %a, which dies at %b's node.
    plan = g.plan_memory(in_place=[("a", "b")])
    assert plan["arena_bytes"] == 1024 and plan["reused"] == {"b": "a"}
    with pytest.raises(KeyError, match="%nope"):
        g.plan_memory(in_place=[("a", "nope")])
    # An alias (a reshape) shares its operand's block.
    plan = g.plan_memory(aliases=[("a", "b")])
    assert plan["aliased"] == {"b": "a"} and plan["offsets"]["b"] == plan["offsets"]["a"]
    with pytest.raises(KeyError, match="aliases names .*%nope"):
        g.plan_memory(aliases=[("nope", "b")])
