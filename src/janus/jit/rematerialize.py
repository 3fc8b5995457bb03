"""A compiled frame's tracked results, computed again by eager ops.

A compiled call attaches one autograd node to the results it hands to eager
code (backward.py); its rule runs the compiled backward program on arrays,
which autograd cannot differentiate again. A second derivative through that
node (`autograd.grad(..., create_graph=True)`: a gradient penalty, a
Hessian-vector product) needs the gradient as eager ops of the frame's
inputs instead.

So the node rematerializes: `Replay` keeps the slice of the recorder's tape
(record.py) that computes the tracked results from the frame's inputs, and
reruns it as eager ops on this call's input tensors (those that require
grad, version-checked as eager's saved tensors are) and input arrays. The
results are the same as the compiled call's (random ops draw at the call's
shifted stream position), and their autograd graph is eager's own, so the
engine differentiates it with `create_graph` like any other.
"""

from __future__ import annotations

import numpy as np

from ..backend import to_device_array
from ..ops import registry
from ..random import NORMAL, UNIFORM
from ..tensor import Tensor, _make
from .record import Ref

_RANDOM = (UNIFORM, NORMAL)


class CannotReplay(Exception):
    """The tracked results depend on something the tape cannot recompute."""


class Replay:
    """The tape entries that compute a frame's tracked results, and where
    each graph input they read comes from on a call."""

    def __init__(self, rec, results: list, grad_inputs: list):
        """`results`: the IR value names of the tracked results; `grad_inputs`:
        the captured tensors that require grad (the node's inputs, in order)."""
        producers = {}
        for k, entry in enumerate(rec.tape):
            for name in _results_of(entry):
                producers[name] = k
        position = {v.name: k for k, v in enumerate(rec.graph.inputs())}
        grad_at = {id(t): j for j, t in enumerate(grad_inputs)}
        self.inputs: dict = {}  # value name -> ("grad", j) or ("array", k)
        self.array_inputs: list = []  # the call's input arrays the slice reads
        needed: set = set()
        pending = list(results)
        while pending:
            name = pending.pop()
            if name in needed or name in self.inputs:
                continue
            if name in position:
                tensor = rec.captured_tensors[position[name]]
                j = grad_at.get(id(tensor))
                if j is not None:
                    self.inputs[name] = ("grad", j)
                else:
                    self.inputs[name] = ("array", len(self.array_inputs))
                    self.array_inputs.append(position[name])
                continue
            k = producers.get(name)
            if k is None:
                raise CannotReplay(f"value %{name} has no eager form")
            needed.add(k)
            pending.extend(_operands_of(rec.tape[k]))
        self.entries = [rec.tape[k] for k in sorted(needed)]
        self.results = list(results)

    def run(self, grad_inputs, arrays: list, shift: int) -> list:
        """The tracked results as eager tensors: `grad_inputs` are this call's
        tensors that require grad, `arrays` its input arrays at
        `array_inputs`, `shift` its random stream shift."""
        env = {}
        for name, (kind, k) in self.inputs.items():
            env[name] = grad_inputs[k] if kind == "grad" else _make(arrays[k])
        for entry in self.entries:
            kind = entry[0]
            if kind == "op":
                _, op, operands, attrs, names = entry
                args = [env[a.name] if isinstance(a, Ref) else a for a in operands]
                if op in _RANDOM:
                    attrs = {**attrs, "offset": attrs["offset"] + shift}
                out = registry.apply(op, *args, **attrs)
                for result, tensor in zip(names, out if isinstance(out, tuple) else (out,)):
                    env[result] = tensor
            elif kind == "write":
                _, name, source, dtype, shape = entry
                value = env[source.name] if isinstance(source, Ref) else source
                env[name] = _written(value, dtype, shape)
            elif kind == "fill":
                _, name, fill, shape, np_dtype, device = entry
                env[name] = _make(to_device_array(np.full(shape, fill, dtype=np_dtype), device))
            else:  # "constant"
                _, name, data = entry
                env[name] = _make(data.copy())
        return [env[name] for name in self.results]


def _written(source, dtype, shape: tuple) -> Tensor:
    """The value an in-place write leaves in a tensor of `dtype` and `shape`."""
    if not isinstance(source, Tensor):
        return _make(np.full(shape, source, dtype=dtype.np))
    if source.dtype is not dtype:
        source = source.to(dtype)
    if tuple(source.shape) != shape:
        source = source.expand(*shape)
    return source


def _results_of(entry) -> list:
    return entry[4] if entry[0] == "op" else [entry[1]]


def _operands_of(entry) -> list:
    if entry[0] == "op":
        return [a.name for a in entry[2] if isinstance(a, Ref)]
    if entry[0] == "write" and isinstance(entry[2], Ref):
        return [entry[2].name]
    return []
