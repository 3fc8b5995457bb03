"""From a finished translation to a compiled entry: the guard, the graph's
inputs and outputs, and the effects to commit.

A compiled call reads its tensor inputs through their sources (or holds the
tensor itself when the trace found it with no source, e.g. an optimizer's
momentum buffer), runs the graph, and only then commits: in-place updates of
outside tensors, new `.grad` tensors, and the Python heap effects in program
order; then it rebuilds the result. If the graph raises, nothing is
committed and the frame runs as usual.
"""

from __future__ import annotations

from .. import _C
from ..autograd import grad_mode
from ..random import default_generator
from ..tensor import Tensor, _make
from .program import AssertionFailed, ShapeSpeculationError, compile_graph
from .sources import Env, Fixed
from .values import Var, is_constant


class NotCompilable(Exception):
    """The trace ran, but has no compiled form (the reason is the message)."""


class _Builder:
    """Collects graph outputs while turning Vars into rebuild templates."""

    def __init__(self, tr):
        self.tr, self.recorder = tr, tr.recorder
        self.outputs: list = []  # IR values
        self.positions: dict = {}  # id(tensor) -> output index

    def output(self, tensor: Tensor) -> int:
        at = self.positions.get(id(tensor))
        if at is None:
            at = self.positions[id(tensor)] = len(self.outputs)
            self.outputs.append(self.recorder.value_of(tensor))
        return at

    def tensor(self, t: Tensor, data_only: bool = False):
        rec = self.recorder
        produced = id(t) not in rec.external and (id(t) in rec.values or id(t._data) in rec.arrays)
        if produced:
            # A training step (it ran backward itself) may return its loss:
            # the compiled call returns it without the consumed autograd graph.
            if (
                t.requires_grad
                and grad_mode.state.enabled
                and not data_only
                and not self.tr.ran_backward
            ):
                raise NotCompilable(
                    "the frame returns or stores a tensor that autograd must track "
                    "(compile the whole training step: forward, backward and update)"
                )
            return ("out", self.output(t))
        return ("source", _where(rec, t))

    def template(self, var):
        if var.host is not None:
            tensor_var, kind = var.host
            if isinstance(tensor_var.value, Tensor):
                return ("host", self.tensor(tensor_var.value, data_only=True), kind)
            return ("host", self.template(tensor_var), kind)
        value = var.value
        if var.items is not None and type(value) in (tuple, list):
            return (type(value), [self.template(v) for v in var.items])
        if var.items is not None and type(value) is dict:
            return (dict, [(k, self.template(v)) for k, v in var.items.items()])
        if isinstance(value, Tensor):
            return self.tensor(value)
        if is_constant(value):
            return ("const", value)
        if var.source is not None and not self.tr.is_mutated(value):
            return ("source", var.source)
        if type(value) in (tuple, list):
            return (type(value), [self.template(Var(v)) for v in value])
        raise NotCompilable(f"a {type(value).__name__} object made inside the frame escapes it")


_HOST_READS = {
    "item": lambda t: t.item(),
    "tolist": lambda t: t.tolist(),
    "float": float,
    "int": int,
}


def _build(template, outs, env):
    kind = template[0]
    if kind == "out":
        return _make(outs[template[1]])
    if kind == "const":
        return template[1]
    if kind == "source":
        return template[1].evaluate(env)
    if kind == "host":
        tensor = _build(template[1], outs, env)
        return _HOST_READS[template[2]](tensor)
    if kind is dict:
        return {k: _build(t, outs, env) for k, t in template[1]}
    items = [_build(t, outs, env) for t in template[1]]
    return tuple(items) if kind is tuple else items


def _where(rec, tensor):
    """How a compiled call finds an outside tensor: its source, or the tensor
    itself when the trace met it with none (inside a library call)."""
    known = rec.sources.get(id(tensor))
    if known is not None and known[0] is tensor:
        return known[1]
    return Fixed(tensor, "tensor")


class CompiledFrame:
    """The compiled entry for one frame: `entry(*values)` with the values in
    `janus._C.capture.entry_signature(code)` order; it returns the call's
    result, or `capture.FALLBACK` when the frame must run as usual."""

    def __init__(self, tr, result_var, names, globals_, builtins_, rng_start):
        rec = tr.recorder
        if rec.graph.node_count() == 0 and not tr.effects:
            raise NotCompilable("the frame does no tensor work")
        for t in rec.captured_tensors:
            if str(t.device) != "cpu":
                raise NotCompilable("CUDA tensors: compiled CUDA graphs come with the CUDA runtime")
        b = _Builder(tr)
        self.result = b.template(result_var)
        self.heap_effects = []
        for effect in tr.effects:
            kind, target = effect[0], effect[1]
            if kind == "setglobal":
                self.heap_effects.append((kind, target, effect[2], b.template(effect[3])))
            elif target.source is None:
                raise NotCompilable(f"a {kind} on an object with no source")
            elif kind == "append":
                self.heap_effects.append((kind, target.source, None, b.template(effect[2])))
            else:
                self.heap_effects.append((kind, target.source, effect[2], b.template(effect[3])))
        # Outside tensors updated in place, and .grad changes: committed
        # after the run, to the tensor found through its source (or held).
        self.tensor_effects = [(_where(rec, t), b.output(t)) for t in rec.effects.values()]
        self.grads = [
            (_where(rec, t), None if t._grad is None else b.tensor(t._grad))
            for t, before in rec.grad_watch.values()
            if t._grad is not before
        ]
        rec.graph.set_outputs(b.outputs)
        self.program = compile_graph(rec.graph)
        self.inputs = [_where(rec, t) for t in rec.captured_tensors]
        self.names, self.globals, self.builtins = names, globals_, builtins_
        self.rng_offset = rng_start[1]
        self.rng_words = default_generator._offset - rng_start[1]
        self.graph = rec.graph
        self.calls = 0

    def __call__(self, *values):
        env = Env(dict(zip(self.names, values)), self.globals, self.builtins)
        arrays = [source.evaluate(env)._data for source in self.inputs]
        shift = default_generator._offset - self.rng_offset
        try:
            outs = self.program(*arrays, rng_shift=shift)
        except (ShapeSpeculationError, AssertionFailed):
            # A data-dependent shape differed from the recorded one, or an
            # in-graph speculation check failed: nothing is committed yet, so
            # the frame simply runs as usual.
            return _C.capture.FALLBACK
        # Commit: nothing above changed any tensor, object or the generator.
        default_generator._offset += self.rng_words
        for target, at in self.tensor_effects:
            tensor = target.evaluate(env)
            tensor._data[...] = outs[at]
            tensor._bump_version()
        for target, grad in self.grads:
            target.evaluate(env)._grad = None if grad is None else _build(grad, outs, env)
        for kind, target, key, value in self.heap_effects:
            value = _build(value, outs, env)
            if kind == "setglobal":
                target[key] = value
            elif kind == "setattr":
                setattr(target.evaluate(env), key, value)
            elif kind == "setitem":
                target.evaluate(env)[key] = value
            else:  # append
                target.evaluate(env).append(value)
        self.calls += 1
        return _build(self.result, outs, env)


def build_guard(code, tr, rng_seed):
    """The native guard: the trace's checks on sources, then global state."""
    guard = _C.capture.Guard(code)
    nodes: dict = {}
    for source, kind, arg in tr.guards.values():
        node = source.node(guard, nodes)
        if kind == "equals":
            node.equals(arg)
        elif kind == "tensor":
            node.tensor(
                dtype=arg._data.dtype,
                shape=tuple(arg._data.shape),
                requires_grad=arg._rg,
                device=str(arg.device),
                requires_grad_attr="_rg",
            )
        elif kind == "is":
            node.is_(arg, getattr(arg, "__qualname__", type(arg).__name__))
        elif kind == "type":
            node.type_is(arg)
        elif kind == "len":
            node.len_is(arg)
        else:
            raise AssertionError(kind)
    guard.object(grad_mode.state, "grad_mode.state").attr("enabled").equals(tr.grad_enabled)
    from .. import dtypes

    default = dtypes._default[0]
    guard.object(dtypes._default, "dtypes._default").item(0).is_(default, repr(default))
    guard.object(default_generator, "default_generator").attr("_seed").equals(rng_seed)
    return guard
