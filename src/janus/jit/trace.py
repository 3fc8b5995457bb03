"""`janus.jit.trace`: record a function once, then replay it compiled.

Like `torch.jit.trace`, the trace is specialized to what the recorded run did:
Python control flow, Python numbers (a learning rate, Adam's step count read
with `.item()`), the set of tensors it touched, and state the run created on
the Python heap are fixed. Hence the warm-up: the first `warmup` calls per
input signature run eagerly (an optimizer creates its momentum buffers on its
first step), the next one is recorded, later ones replay it. Calls with inputs
of other dtypes or shapes, or after the generator was reseeded, start over.
The bytecode translator (planned) removes these limits with guards.

A replay reads the current values of every tensor the trace captured
(parameters, buffers), runs the compiled graph, and only then commits the
effects: in-place updates (parameters after `optimizer.step()`, running
statistics) and new `.grad` tensors. If the run raises, nothing is committed.
"""

from __future__ import annotations

from ..device import CPU
from ..random import generator_for
from ..tensor import Tensor, _make
from .program import compile_graph
from .record import _flatten, recording


def _signature(inputs) -> tuple:
    return tuple((t._data.dtype, t._data.shape, str(t.device)) for t in inputs)


def _rebuild(structure, values):
    """`structure` (fn's result) with its tensors replaced, in order, by `values`."""
    if isinstance(structure, Tensor):
        return next(values)
    if isinstance(structure, (list, tuple)):
        items = [_rebuild(item, values) for item in structure]
        return (
            type(structure)(items) if not hasattr(structure, "_fields") else type(structure)(*items)
        )
    if isinstance(structure, dict):
        return {key: _rebuild(item, values) for key, item in structure.items()}
    return structure


def _device(inputs):
    """The device a trace of `inputs` runs on: that of its GPU tensors (a
    0-d CPU tensor beside them, as eager lets it join, is a host input),
    else the CPU."""
    return next((t.device for t in inputs if t.device.type != "cpu"), CPU)


def _generator(inputs):
    """The generator a run on `inputs` draws from: their device's."""
    return generator_for(_device(inputs), None)


class _Trace:
    def __init__(self, fn, inputs):
        self.generator = gen = _generator(inputs)
        start = (gen._seed, gen._offset)
        rec = recording(fn, *inputs)
        self.seed, self.offset = start
        self.words = gen._offset - start[1]  # the stream the run used
        self.compiled = compile_graph(rec.graph, device=_device(inputs).type)
        self.captured = rec.inputs[len(inputs) :]
        self.structure = rec.result
        self.results = len(_flatten(rec.result))
        self.effects = rec.effects
        self.grads = rec.grads
        self.result = rec.result

    def run(self, inputs):
        arrays = [t._data for t in inputs] + [t._data for t in self.captured]
        shift = self.generator._offset - self.offset
        outs = self.compiled(*arrays, rng_shift=shift)
        # Commit: nothing above changed any tensor or the generator.
        self.generator._offset += self.words
        at = self.results
        for target in self.effects:
            target._data[...] = outs[at]
            target._bump_version()
            at += 1
        for tensor, has_grad in self.grads:
            if has_grad:
                tensor._grad = _make(outs[at])
                at += 1
            else:
                tensor._grad = None
        return _rebuild(self.structure, iter(_make(a) for a in outs[: self.results]))


class TracedFunction:
    """`fn` compiled from recorded runs, one per input signature."""

    def __init__(self, fn, warmup: int = 1):
        self.fn = fn
        self.warmup = warmup
        self._traces: dict = {}
        self._calls: dict = {}  # eager calls so far, per signature

    def __call__(self, *inputs):
        for k, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise TypeError(f"traced function input {k} is a {type(t).__name__}, not a Tensor")
        key = (_signature(inputs), _generator(inputs)._seed)
        trace = self._traces.get(key)
        if trace is None and self._calls.get(key, 0) < self.warmup:
            self._calls[key] = self._calls.get(key, 0) + 1
            return self.fn(*inputs)
        if trace is None:  # the recording run is the eager call itself
            trace = self._traces[key] = _Trace(self.fn, inputs)
            return trace.result
        return trace.run(inputs)

    def fallback_ops(self) -> list:
        """Per trace, the ops that ran through the eager kernels."""
        return [t.compiled.fallback_ops() for t in self._traces.values()]


def trace(fn, warmup: int = 1) -> TracedFunction:
    """Compiles `fn` (tensors in, tensors out) by recording it; see the module
    docstring for what the trace fixes.

    >>> import janus
    >>> double = janus.jit.trace(lambda x: x * 2, warmup=0)
    >>> double(janus.ones(2)), double(janus.tensor([1.0, 5.0]))
    (tensor([2., 2.]), tensor([ 2., 10.]))
    """
    return TracedFunction(fn, warmup)
