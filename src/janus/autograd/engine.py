"""The backward engine: runs grad rules over the recorded graph.

The walk is iterative (graphs of deep RNNs exceed Python's recursion limit):
one pass discovers the nodes and counts, for each, the edges that reach it;
then nodes run from a heap ordered by creation (newest first) once all their
gradient contributions have arrived. Each grad rule runs with grad mode equal
to `create_graph`, so higher-order graphs are recorded by the same ops.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..ops import registry
from ..ops.creation_ops import ones_like, zeros_from_meta, zeros_like
from ..ops.reduction import sum_to
from ..tensor import _make
from .grad_mode import state as grad_state
from .node import FREED_MESSAGE, AccumulateGrad, Node, edge_of


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _seed_grads(tensors, grad_tensors):
    seeds = []
    for i, t in enumerate(tensors):
        g = grad_tensors[i] if i < len(grad_tensors) else None
        if not t._rg:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = ones_like(t)
        else:
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                    f"output[{i}] has a shape of {tuple(t.shape)}."
                )
            g = g.detach().clone() if not grad_state.enabled else g
        seeds.append((edge_of(t), g))
    return seeds


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates d(tensors)/d(leaf) into each leaf's `.grad`, as `torch.autograd.backward`."""
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    with _GradMode(create_graph):
        seeds = _seed_grads(tensors, grad_tensors)
    targets = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        targets = {edge_of(t): t for t in inputs}
    _run(seeds, retain_graph, create_graph, targets=targets, capture=None)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    allow_unused=None,
    materialize_grads=False,
):
    """Returns d(outputs)/d(inputs) without touching `.grad`, as `torch.autograd.grad`."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    for i, t in enumerate(inputs):
        if not t._rg:
            raise RuntimeError(
                f"One of the differentiated Tensors (index {i}) does not require grad"
            )
    with _GradMode(create_graph):
        seeds = _seed_grads(outputs, _as_tuple(grad_outputs))
    edges = [edge_of(t) for t in inputs]
    capture = {e: None for e in edges}
    _run(seeds, retain_graph, create_graph, targets={e: None for e in edges}, capture=capture)
    return _captured(capture, edges, inputs, allow_unused, materialize_grads)


def grad_without_hooks(outputs, inputs, grad_outputs, create_graph=False) -> tuple:
    """The partial derivatives of `outputs` with respect to `inputs`, each
    input taken as independent of the others, running no gradient hook. For
    code that differentiates part of a graph on the engine's behalf (a
    compiled frame's backward, jit/backward.py): the engine later carries
    the gradient of an input that is computed from another one (`h = W * 2`
    passed beside `W`) through `h`'s own node, so a total derivative here
    would count that path twice; and the hooks on `inputs` run when the
    engine itself reaches them, once."""
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    with _GradMode(create_graph):
        seeds = _seed_grads(outputs, _as_tuple(grad_outputs))
    edges = [edge_of(t) for t in inputs]
    capture = {e: None for e in edges}
    targets = {e: None for e in edges}
    _run(seeds, True, create_graph, targets, capture, hooks=False, through_targets=False)
    return _captured(capture, edges, inputs, allow_unused=True, materialize_grads=False)


def _captured(capture, edges, inputs, allow_unused, materialize_grads) -> tuple:
    result = []
    for i, (e, t) in enumerate(zip(edges, inputs)):
        g = capture[e]
        if g is None:
            if materialize_grads:
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (index {i}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
        result.append(g)
    return tuple(result)


class _GradMode:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.previous = grad_state.enabled
        grad_state.enabled = self.enabled

    def __exit__(self, *exc):
        grad_state.enabled = self.previous


def _discover(root_nodes):
    """Counts, for each node reachable from the roots, the edges that enter it."""
    dependencies: dict = {}
    seen = set(root_nodes)
    stack = list(root_nodes)
    while stack:
        node = stack.pop()
        for edge in node.next_edges:
            if edge is None:
                continue
            child = edge[0]
            dependencies[child] = dependencies.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return dependencies, seen


def _needed(nodes, target_nodes, through_targets: bool) -> set:
    """The nodes from which some target is reachable below them (only those
    must run: a target's own rule runs only when another target lies beyond
    it, as in PyTorch, or never if not `through_targets`; its incoming
    gradient is what is asked for)."""
    parents: dict = {}
    for node in nodes:
        for edge in node.next_edges:
            if edge is not None:
                parents.setdefault(edge[0], []).append(node)
    needed = set()
    stack = [p for n in target_nodes if n in nodes for p in parents.get(n, ())]
    while stack:
        node = stack.pop()
        if node in needed:
            continue
        needed.add(node)
        stack.extend(parents.get(node, ()))
    return needed if through_targets else needed - set(target_nodes)


def _run(
    seeds, retain_graph: bool, create_graph: bool, targets, capture, hooks=True,
    through_targets=True,
):  # fmt: skip
    buffers: dict = {}
    for (node, index), g in seeds:
        slots = buffers.setdefault(node, [None] * _output_count(node))
        slots[index] = g if slots[index] is None else slots[index] + g
    roots = list(buffers)
    dependencies, nodes = _discover(roots)
    needed = None
    if targets is not None:
        needed = _needed(nodes, {e[0] for e in targets if e}, through_targets)
    # Sequence numbers are unique, so heap entries never compare nodes.
    heap = [(-n.seq, n) for n in roots if dependencies.get(n, 0) == 0]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    stolen: set = set()
    with _GradMode(create_graph):
        while heap:
            node = pop(heap)[1]
            grads = buffers.pop(node, None)
            if grads is not None:
                if node.pre_hooks and hooks:
                    grads = _run_prehooks(node, grads)
                if capture is not None:
                    _capture(node, grads, capture)
            if type(node) is AccumulateGrad:
                if capture is None and grads is not None and grads[0] is not None:
                    if targets is None or (node, 0) in targets:
                        _accumulate(node.variable, grads[0], create_graph, stolen)
                continue
            input_grads = None
            if grads is not None and (needed is None or node in needed):
                if len(grads) == 1:
                    if grads[0] is not None:
                        input_grads = _call_rule(node, grads)
                elif any(g is not None for g in grads):
                    input_grads = _call_rule(node, grads)
            if not retain_graph:
                node.release()
            for i, edge in enumerate(node.next_edges):
                if edge is None:
                    continue
                child, index = edge
                if input_grads is not None and i < len(input_grads):
                    g = input_grads[i]
                    if g is not None:
                        slots = buffers.get(child)
                        if slots is None:
                            slots = buffers[child] = [None] * _output_count(child)
                        previous = slots[index]
                        slots[index] = g if previous is None else previous + g
                left = dependencies[child] - 1
                dependencies[child] = left
                if left == 0:
                    push(heap, (-child.seq, child))


def _capture(node, grads, capture) -> None:
    """Records gradients flowing into the edges `autograd.grad` asked for."""
    for i, g in enumerate(grads):
        key = (node, i)
        if key in capture:
            capture[key] = g if capture[key] is None else capture[key] + g


def _output_count(node) -> int:
    return 1 if isinstance(node, AccumulateGrad) or node.op.outputs == 1 else len(node.out_meta)


def _run_prehooks(node, grads):
    grads = list(grads)
    for index, hooks in node.pre_hooks.items():
        for hook in hooks:
            if grads[index] is None:
                continue
            replaced = hook(grads[index])
            if replaced is not None:
                grads[index] = replaced
    return grads


def _call_rule(node: Node, grads):
    op = node.op
    if node.released and (op.save_inputs or op.save_output):
        raise RuntimeError(FREED_MESSAGE)
    if op.outputs == 1:
        result = op.grad(node, grads[0])
    else:
        filled = tuple(
            g if g is not None else zeros_from_meta(shape, dtype, like=_first_grad(grads))
            for g, (shape, dtype) in zip(grads, node.out_meta)
        )
        result = op.grad(node, filled)
    if not isinstance(result, (tuple, list)):
        result = (result,)
    in_shapes = node.in_shapes
    if in_shapes is not None:  # broadcast ops: sum gradients back to the input shapes
        result = [
            sum_to(g, shape)
            if g is not None and shape is not None and g._data.shape != shape
            else g
            for g, shape in zip(result, in_shapes)
        ]
    return result


def _first_grad(grads):
    for g in grads:
        if g is not None:
            return g
    return None


def _accumulate(variable, g, create_graph: bool, stolen: set) -> None:
    """Adds `g` into `variable.grad`, in place unless a graph of the gradient is wanted."""
    existing = variable._grad
    if registry.observers:
        # Recording: keep the gradient a value of the graph (no stolen arrays,
        # no in-place accumulation that the recorder cannot see).
        variable._grad = g if existing is None else existing + g
        return
    if existing is None:
        if create_graph:
            variable._grad = g
            return
        data = g._data
        owns = (
            getattr(data, "base", None) is None
            and getattr(data.flags, "writeable", True)
            and (data.flags.c_contiguous)
        )
        if not owns or id(data) in stolen:
            data = data.copy()
        stolen.add(id(data))
        if data.shape != variable._data.shape:
            data = data.reshape(variable._data.shape)
        variable._grad = _make(data)
        return
    if create_graph or existing._rg:
        variable._grad = existing + g
        return
    out = existing._data
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        variable._grad = _make(out + g._data)
        return
    out += g._data
    existing._bump_version()
