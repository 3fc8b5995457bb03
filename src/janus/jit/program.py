"""Compiling IR graphs for the CPU executor, and running them on arrays.

Graphs may hold the control ops (csrc/ir/structural_ops.def): `assert` (a
failed one raises `AssertionFailed`), `cond`, `loop`, `call` (functions added
with `Graph.add_function`) and `callback` (a Python callable from the
`callbacks` table, run with the GIL while the rest runs without it).

`compile_graph(graph)` runs the default passes on a copy of the graph
(`_C.ir.pass_names()`: simplification, constant folding, CSE, DCE, then
elementwise fusion) and builds a `janus._C.cpu.Program`: a flat schedule of
native kernels over one planned arena, a fused group being one kernel. Nodes
without a native kernel run their eager (numpy) kernel through `_fallback`,
on the program's own buffers: co-execution, so every graph runs, and
`Program.fallback_ops()` says which nodes did not run natively. Independent
branches run on a small thread pool (`threads`; csrc/runtime/cpu/thread_pool.h).
"""

from __future__ import annotations

import numpy as np

from .. import _C
from ..ops.registry import OPS

_NUMPY = {
    "f32": np.float32,
    "f64": np.float64,
    "f16": np.float16,
    "i64": np.int64,
    "i32": np.int32,
    "i16": np.int16,
    "i8": np.int8,
    "u8": np.uint8,
    "bool": np.bool_,
}


class ShapeSpeculationError(RuntimeError):
    """A node's result did not have the type the graph was compiled for
    (data-dependent shapes: nonzero, unique, boolean masks)."""


class InputsOverlap(RuntimeError):
    """Two inputs of a call that writes inputs in place share memory (`f(a,
    a)`, overlapping views) where the trace saw them apart: a write through
    one changes the other, which the graph does not follow. Nothing ran."""


class AssertionFailed(RuntimeError):
    """An `assert` node of the graph found its condition false: the speculation
    the graph was compiled under does not hold for these inputs. The run was
    aborted before any output buffer was written. `assert_id` and `message`
    are the node's attributes."""

    def __init__(self, assert_id: int, message: str):
        super().__init__(assert_id, message)  # args as given: it pickles
        self.assert_id = assert_id
        self.message = message

    def __str__(self) -> str:
        return f"assertion {self.assert_id} failed: {self.message}"


# The reductions a fused body may end with (csrc/ir/structural.h).
FUSED_REDUCTIONS = frozenset(_C.ir.fused_reductions())


def _run_fused(args: list, attrs: dict) -> tuple:
    """A fused node's body, op by op with the eager kernels (for groups the
    native engine does not cover); see csrc/ir/structural.h for the format."""
    temps = []
    for op, dtype, operands, pairs in attrs["body"]:
        values = [
            (args[int(o[2:])] if o.startswith("in") else temps[int(o[1:])])
            if isinstance(o, str)
            else o
            for o in operands
        ]
        if op in FUSED_REDUCTIONS:
            # The body's values may still have an input's smaller shape; the
            # reduction folds the whole iteration shape, as the engine does.
            shape = np.broadcast_shapes(*(np.shape(a) for a in args))
            values[0] = np.broadcast_to(values[0], shape)
        result = np.asarray(OPS[op].impl_cpu(*values, **dict(pairs)))
        temps.append(result.astype(_NUMPY[dtype], copy=False))
    return tuple(temps[r] for r in attrs["results"])


def _run_constant(args: list, attrs: dict) -> np.ndarray:
    return np.array(attrs["value"])


# The structural ops (csrc/ir/structural_ops.def) have no eager kernel.
_STRUCTURAL = {"fused": _run_fused, "constant": _run_constant}


def _fallback(name: str, args: list, attrs: dict, outs: list) -> None:
    if name in _STRUCTURAL:
        result = _STRUCTURAL[name](args, attrs)
        if name == "constant":
            result = result.reshape(outs[0].shape)
    else:
        result = OPS[name].impl_cpu(*args, **attrs)
    results = result if isinstance(result, (tuple, list)) else (result,)
    if len(results) != len(outs):
        raise ShapeSpeculationError(f"{name} returned {len(results)} results, expected {len(outs)}")
    for out, value in zip(outs, results):
        value = np.asarray(value)
        if name == "fused":  # a body value may still have an input's broadcast shape
            value = np.broadcast_to(value, out.shape)
        if value.shape != out.shape:
            raise ShapeSpeculationError(
                f"{name} returned shape {value.shape}, the graph expects {out.shape}"
            )
        np.copyto(out, value, casting="unsafe")


def _copy(graph):
    return _C.ir.Graph.parse(str(graph))


class CompiledGraph:
    """A graph compiled for the CPU: call it with one array per graph input;
    it returns a list with one new array per graph output."""

    def __init__(self, graph, passes=None, callbacks=None, threads: int = 0, staged_outputs=()):
        graph = _copy(graph)
        for name in _C.ir.pass_names() if passes is None else passes:
            graph.run_pass(name)
        self.graph = graph
        self.program = _C.cpu.Program(graph, _fallback, callbacks, threads, list(staged_outputs))
        self._inputs = [(_NUMPY[v.dtype], tuple(v.shape)) for v in graph.inputs()]
        self._outputs = [(_NUMPY[v.dtype], tuple(v.shape)) for v in graph.outputs()]

    def __call__(self, *arrays, rng_shift: int = 0) -> list:
        if len(arrays) != len(self._inputs):
            raise TypeError(f"the graph takes {len(self._inputs)} inputs, got {len(arrays)}")
        # (np.ascontiguousarray would turn 0-d arrays into 1-d ones.)
        inputs = [
            np.asarray(a, dtype=dtype, order="C") for a, (dtype, _) in zip(arrays, self._inputs)
        ]
        outputs = [np.empty(shape, dtype=dtype) for dtype, shape in self._outputs]
        self.program.run(inputs, outputs, rng_shift)
        return outputs

    def fallback_ops(self) -> list:
        return self.program.fallback_ops()


def compile_graph(
    graph, passes=None, callbacks=None, threads: int = 0, staged_outputs=(), device: str = "cpu"
) -> CompiledGraph:
    """Compiles an IR graph (e.g. from `janus.jit.record`) for the CPU executor.

    `callbacks` maps the `target` of each `callback` node to a Python callable;
    it gets numpy arrays and returns one array per declared result (checked).
    A failed `assert` node raises `AssertionFailed` before any output is written.
    `threads` caps the workers that run independent branches at once (0:
    `janus._C.cpu.get_threads()`, one per core unless set; 1: one after the
    other); the results are the same, bit for bit. `staged_outputs` (output
    indices) are written to the caller's buffers only after the last step, so
    `program.call(inputs, into={k: array})` may update an input in place.
    `device="cuda"` compiles it for the GPU instead (cuda_program.py: cupy
    arrays in and out, a CUDA graph replayed); `NoKernel` says which node the
    GPU runtime cannot run yet.

    >>> import janus, numpy as np
    >>> graph, _ = janus.jit.record(lambda x: (x * 2).relu().sum(), janus.ones(3))
    >>> janus.jit.compile_graph(graph)(np.array([1.0, -2.0, 3.0], np.float32))
    [array(8., dtype=float32)]
    """
    if device != "cpu":
        if callbacks:
            from .cuda_codegen import NoKernel

            raise NoKernel("Python callbacks")
        from .cuda_program import CudaCompiledGraph

        return CudaCompiledGraph(graph, passes, staged_outputs)
    return CompiledGraph(graph, passes, callbacks, threads, staged_outputs)
