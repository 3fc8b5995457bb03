"""Autograd graph nodes.

A `Node` is one recorded op application. It holds what the op's grad rule reads
(inputs and/or output, per the op's declaration) and one edge per input: the
(node, output index) that produced it, an `AccumulateGrad` for a leaf that
requires grad, or None. Saved tensors carry the version they had when saved, so
a later in-place change is reported instead of giving a wrong gradient.

Invariant: a Node never holds a strong reference to a Tensor whose `grad_fn`
is that Node (outputs are saved as arrays and rebuilt on access), so graphs are
freed by reference counting alone.
"""

from __future__ import annotations

import itertools
import weakref

from ..tensor import Tensor, _make

_sequence = itertools.count()


def next_sequence() -> int:
    """A number below the `seq` of every node made after this call."""
    return next(_sequence)


def nodes_behind(tensors):
    """Every node of the autograd graph behind `tensors`, once each (leaves'
    gradient sinks included), in no particular order."""
    seen: set = set()
    stack = [edge_of(t) for t in tensors if isinstance(t, Tensor)]
    stack = [e[0] for e in stack if e is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if type(node) is not AccumulateGrad:
            stack.extend(edge[0] for edge in node.next_edges if edge is not None)


def history_before(tensors, first: int) -> bool:
    """Whether the autograd graph behind `tensors` has an op node made before
    sequence number `first` (leaves' gradient sinks do not count)."""
    return any(type(n) is not AccumulateGrad and n.seq < first for n in nodes_behind(tensors))


def has_hooks(tensors) -> bool:
    """Whether a gradient hook waits anywhere in the autograd graph behind
    `tensors` (leaves' gradient sinks included)."""
    return any(n.pre_hooks for n in nodes_behind(tensors))


def consumed(tensors) -> bool:
    """Whether a backward without `retain_graph` freed part of the autograd
    graph behind `tensors` (a second backward through it raises)."""
    return any(type(n) is not AccumulateGrad and n.released for n in nodes_behind(tensors))


FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class AccumulateGrad:
    """The sink of a leaf tensor's gradient: adds it into `.grad`."""

    __slots__ = ("variable", "pre_hooks", "seq", "__weakref__")

    def __init__(self, variable):
        self.variable = variable
        self.pre_hooks = None
        self.seq = next(_sequence)

    def name(self) -> str:
        return "AccumulateGrad"

    next_edges = ()


def accumulator_of(tensor) -> AccumulateGrad:
    """The leaf's AccumulateGrad, shared by every use of the leaf while alive."""
    ref = tensor._accumulator
    acc = ref() if ref is not None else None
    if acc is None:
        acc = AccumulateGrad(tensor)
        tensor._accumulator = weakref.ref(acc)
    return acc


def edge_of(value):
    """The graph edge a value contributes, or None (constants, no-grad tensors)."""
    if getattr(value, "_rg", False):
        fn = value.grad_fn
        if fn is not None:
            return (fn, value._output_nr)
        return (accumulator_of(value), 0)
    return None


class Node:
    """One recorded application of an op (see the module docstring)."""

    # Attributes most nodes leave at their default live on the class, so that
    # creating a node (once per recorded op) sets only what it must.
    _saved = None
    _versions = None
    _outputs = None
    _out_versions = None
    out_meta = None
    in_shapes = None
    pre_hooks = None
    released = False

    def __init__(self, op, args, attrs, out_arrays):
        self.op = op
        self.attrs = attrs
        self.next_edges = tuple([edge_of(a) for a in args])
        self.seq = next(_sequence)
        if op.save_inputs:
            self._saved = args
            read = op.saves(*args) if op.saves is not None else None
            versions = []
            for i, a in enumerate(args):
                if isinstance(a, Tensor) and (read is None or read[i]):
                    counter = a._vc
                    if counter is None:
                        counter = a._vc = [0]
                    versions.append(counter[0])
                else:
                    versions.append(None)
            self._versions = versions
        if op.save_output:
            self._outputs = out_arrays
        if op.outputs != 1:
            self.out_meta = tuple([(o.shape, o.dtype) for o in out_arrays])
        if op.broadcast:
            self.in_shapes = tuple([a._data.shape if isinstance(a, Tensor) else None for a in args])

    def needs_grad(self, index: int) -> bool:
        """Whether input `index` takes part in the graph (its gradient is used)."""
        return self.next_edges[index] is not None

    def name(self) -> str:
        return "".join(p.capitalize() for p in self.op.name.split("_")) + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name()} object>"

    @property
    def inputs(self) -> tuple:
        """The op's arguments as the grad rule sees them (checked for in-place changes)."""
        if self.released and self.op.save_inputs:
            raise RuntimeError(FREED_MESSAGE)
        saved = self._saved
        if saved is None:
            raise RuntimeError(f"op {self.op.name} does not save its inputs (save_inputs=False)")
        for a, version in zip(saved, self._versions):
            if version is not None and a._vc[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{a._data.dtype}{list(a._data.shape)}] is at "
                    f"version {a._vc[0]}; expected version {version} instead (saved by "
                    f"{self.name()})."
                )
        return saved

    @property
    def attrs_dict(self) -> dict:
        return self.attrs

    def track_outputs(self, results) -> None:
        """Gives saved outputs version counters, so in-place changes to them are caught."""
        counters = []
        for r in results:
            if r._vc is None:
                r._vc = [0]
            counters.append((r._vc, r._vc[0]))
        self._out_versions = counters

    def _output_tensor(self, index: int):
        if self.released:
            raise RuntimeError(FREED_MESSAGE)
        counter, version = self._out_versions[index]
        if counter[0] != version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: the output {index} of {self.name()} is at version "
                f"{counter[0]}; expected version {version} instead."
            )
        t = _make(self._outputs[index])
        t._vc = counter
        t._rg = True
        t.grad_fn = self
        t._output_nr = index
        return t

    @property
    def output(self):
        """The op's (first) output, as a Tensor whose grad_fn is this node."""
        return self._output_tensor(0)

    @property
    def outputs(self) -> tuple:
        return tuple(self._output_tensor(i) for i in range(len(self._outputs)))

    def release(self) -> None:
        """Frees saved values after a backward without retain_graph."""
        self.released = True
        self._saved = None
        self._outputs = None

    def register_prehook(self, output_nr: int, hook) -> None:
        if self.pre_hooks is None:
            self.pre_hooks = {}
        self.pre_hooks.setdefault(output_nr, []).append(hook)
