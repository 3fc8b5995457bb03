"""Results of a compiled frame that autograd must track (AOT autograd).

A frame that computes a loss and returns it, or a frame split between its
forward and its `loss.backward()` (a third-party call in a training
step), hands tensors that require grad to eager code, which will call
backward on them. Their autograd graph must exist even though the compiled
call ran no eager op.

So, when such a frame compiles, the backward of those results with respect
to the frame's inputs that require grad is recorded once through the eager
engine (`autograd.grad` on the trace's own tensors, whose graph the trace
built) into a second graph, compiled like the first. The forward graph also
outputs the values that backward reads (the saved activations). Each
compiled call then attaches one autograd node to its tracked results; the
engine calls its rule like any other, and the rule runs the backward
program on the incoming gradients and the saved values.

The node's rule is native work no op records: a trace that reaches it (a
resumed frame calling `loss.backward()`) breaks there, so that call runs in
Python (`registry.notify_unrecordable`). Under `create_graph=True` (a second
derivative) the rule instead computes the results again as eager ops from
the node's inputs (rematerialize.py) and differentiates those.
"""

from __future__ import annotations

from ..autograd import grad_mode
from ..autograd.engine import grad_without_hooks
from ..autograd.node import FREED_MESSAGE, AccumulateGrad, Node, next_sequence
from ..backend import xp_of
from ..ops import registry
from ..random import generator_states
from ..tensor import Tensor, _make
from .program import compile_graph
from .record import Unrecordable, recording
from .rematerialize import CannotReplay, Replay

UNRECORDABLE = "the backward of a compiled frame (a native program)"


class NotDifferentiable(Exception):
    """The tracked results have no compiled backward (the reason is the message)."""


class _FrameOp:
    """What the engine reads of an op declaration, for a compiled frame's node.
    It saves its inputs, version-checked, for a replay (rematerialize.py)."""

    save_inputs = True
    save_output = broadcast = False
    saves = None
    name = "compiled_frame"

    def __init__(self, outputs: int, rule):
        self.outputs = outputs
        self.grad = rule


class CompiledFrameBackward(Node):
    """The autograd node of one compiled call's tracked results: its edges
    lead to the frame's inputs that require grad; it holds the saved values."""

    def __init__(self, op, inputs, out_arrays, saved, replay_arrays, shift):
        super().__init__(op, inputs, {}, out_arrays)
        self.saved_arrays = saved
        # For a replay: the call's input arrays it reads, its random stream shift.
        self.replay_arrays, self.shift = replay_arrays, shift

    def name(self) -> str:
        return "CompiledFrameBackward"

    def release(self) -> None:
        super().release()
        self.saved_arrays = self.replay_arrays = None


class _SpentOp:
    """A graph that a backward without `retain_graph` consumed."""

    save_inputs, save_output, broadcast, saves, outputs = True, False, False, None, 1
    name = "compiled_frame"

    @staticmethod
    def grad(node, grads):
        raise RuntimeError(FREED_MESSAGE)


def spent_node() -> Node:
    """The autograd node of a result that a compiled training step returns
    after its own backward consumed the result's graph (the loss): it
    requires grad, as eagerly, and a second backward raises as it would."""
    node = Node.__new__(Node)
    node.op, node.attrs, node.next_edges = _SpentOp, {}, ()
    node.seq, node.released = next_sequence(), True
    return node


class FrameBackward:
    """Built when the frame compiles: the backward program, and where each of
    its inputs comes from on a call (an incoming gradient, a forward input,
    or a value the forward graph outputs for it)."""

    def __init__(self, rec, outputs: list, add_output, device: str = "cpu"):
        """`rec`: the frame's recorder; `outputs`: its tracked result tensors;
        `add_output(value)`: makes an IR value a forward output, returns its
        index; `device`: where the frame's tensors live (the backward program
        runs there too)."""
        inputs = [t for t in rec.captured_tensors if t._rg]
        _check_graph(outputs, inputs)
        placeholders = [_make(xp_of(t._data).ones_like(t._data)) for t in outputs]

        def vjp(*grads):
            return grad_without_hooks(outputs, inputs, grads)

        observers = registry.observers[:]  # the frame's own recorder: not its graph
        registry.observers.clear()
        before = generator_states()
        try:
            back = recording(vjp, *placeholders)
        except Unrecordable:  # (defensive: the engine stops at the frame's inputs)
            raise NotDifferentiable("its backward runs a compiled frame's backward") from None
        finally:
            registry.observers[:] = observers
        if generator_states() != before:
            raise NotDifferentiable("its backward draws random numbers")
        if back.effects or back.grads:
            raise NotDifferentiable("its backward updates tensors in place")
        self.positions = [k for k, g in enumerate(back.result) if g is not None]
        graph_inputs = {v.name: k for k, v in enumerate(rec.graph.inputs())}
        self.sources = []  # per captured tensor of the backward: ("in", k) or ("out", k)
        for t in back.inputs[len(placeholders) :]:
            value = _known_value(rec, t)
            if value is None:
                raise NotDifferentiable("its backward reads a tensor the trace did not see")
            if value.name in graph_inputs:
                self.sources.append(("in", graph_inputs[value.name]))
            else:
                self.sources.append(("out", add_output(value)))
        self.input_count = len(inputs)
        self.grad_types = [t._data.dtype for t in outputs]
        try:
            self.replay = Replay(rec, [_known_value(rec, t).name for t in outputs], inputs)
        except CannotReplay as why:
            self.replay, self.no_replay = None, str(why)
        self.program = compile_graph(back.graph, device=device).program
        self.op = _FrameOp(len(outputs), self._rule)

    def attach(self, outs: list, arrays: list, inputs: list, at: list, shift: int) -> list:
        """This call's tracked results (the forward outputs at indices `at`),
        with one node whose edges lead to `inputs` (this call's tensors);
        `arrays` are the call's input arrays, `shift` its random stream shift."""
        saved = [arrays[k] if kind == "in" else outs[k] for kind, k in self.sources]
        out_arrays = [outs[k] for k in at]
        replay = None if self.replay is None else [arrays[k] for k in self.replay.array_inputs]
        node = CompiledFrameBackward(self.op, inputs, out_arrays, saved, replay, shift)
        results = []
        for k, data in enumerate(out_arrays):
            t = _make(data)
            t._rg = True
            t.grad_fn = node
            t._output_nr = k
            results.append(t)
        return results

    def _rule(self, node, grads):
        if node.saved_arrays is None:
            raise RuntimeError(FREED_MESSAGE)
        if registry.observers:
            registry.notify_unrecordable(UNRECORDABLE)
        if grad_mode.state.enabled:  # create_graph: the gradient must be differentiable
            return self._replayed_grads(node, grads)
        grads = grads if isinstance(grads, tuple) else (grads,)
        arrays = [
            xp_of(g._data).asarray(g._data, dtype=dtype) for g, dtype in zip(grads, self.grad_types)
        ]
        arrays = [a if a.flags.c_contiguous else a.copy() for a in arrays]  # (keeps 0-d arrays)
        results = self.program.call(arrays + node.saved_arrays, 0)
        input_grads = [None] * self.input_count
        for k, at in enumerate(self.positions):
            input_grads[at] = _make(results[k])
        return tuple(input_grads)

    def _replayed_grads(self, node, grads) -> tuple:
        """The input gradients as eager ops: the frame's results computed
        again from the node's inputs, differentiated with create_graph."""
        if self.replay is None:
            raise RuntimeError(
                "janus.jit: a second derivative (create_graph=True) through this compiled frame "
                f"is not supported ({self.no_replay}); mark the function that computes the "
                "result with janus.jit.skip to run it eagerly"
            )
        inputs = node.inputs  # raises if one was changed in place since the call
        results = self.replay.run(inputs, node.replay_arrays, node.shift)
        grads = grads if isinstance(grads, tuple) else (grads,)
        pairs = [(r, g) for r, g in zip(results, grads) if r._rg and g is not None]
        if not pairs:
            return (None,) * self.input_count
        outputs, grad_outputs = zip(*pairs)
        return grad_without_hooks(outputs, inputs, grad_outputs, create_graph=True)


def _known_value(rec, tensor: Tensor):
    """The trace's IR value for `tensor` (or for the array it wraps), without
    capturing it as a new input; None if the trace never saw it."""
    entry = rec.values.get(id(tensor))
    if entry is not None and entry[0] is tensor:
        return entry[1]
    entry = rec.arrays.get(id(tensor._data))
    if entry is not None and entry[0] is tensor._data:
        return entry[1]
    return None


def _check_graph(outputs: list, inputs: list) -> None:
    """The autograd graph between the frame's tracked results and its inputs
    must be the trace's own: no leaf made inside the frame (its gradient
    would go to a tensor no later call has), no hooks inside it (they would
    run once, at compile time). Hooks on the inputs run when the engine
    reaches them from the frame's node, on every call."""
    leaves = {id(t) for t in inputs if t.grad_fn is None}
    stops = {id(t.grad_fn) for t in inputs if t.grad_fn is not None}
    seen: set = set()
    stack = [t.grad_fn for t in outputs]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or id(node) in stops:
            continue
        seen.add(id(node))
        if type(node) is AccumulateGrad:
            if id(node.variable) not in leaves:
                raise NotDifferentiable("a tensor made inside it requires grad")
            continue
        if node.pre_hooks:
            raise NotDifferentiable("a gradient hook inside it")
        stack.extend(edge[0] for edge in node.next_edges if edge is not None)
