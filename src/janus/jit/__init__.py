"""The JIT.

`janus.jit(fn)` compiles one function; with the frame hook on (at import,
unless `JANUS_JIT=0`) hot frames that do tensor work compile by themselves.
Underneath: `record` turns an eager run into an IR graph, `compile_graph`
compiles a graph for the CPU executor, `trace` records a tensors-in,
tensors-out function once and replays it (no guards), and the translator
(`translator.py`, `calls.py`) runs a call concolically to produce a graph
with guards on everything it assumed.
"""

import sys
import types

from .frontend import (
    Explanation,
    JitFunction,
    config,
    disable,
    enable,
    explain,
    is_enabled,
    jit,
    reset,
    skip,
    to_dot,
)
from .program import AssertionFailed, CompiledGraph, ShapeSpeculationError, compile_graph
from .record import Recording, record, recording
from .trace import TracedFunction, trace

__all__ = [
    "CompiledGraph",
    "Explanation",
    "JitFunction",
    "Recording",
    "ShapeSpeculationError",
    "AssertionFailed",
    "TracedFunction",
    "compile_graph",
    "config",
    "disable",
    "enable",
    "explain",
    "is_enabled",
    "jit",
    "record",
    "recording",
    "reset",
    "skip",
    "to_dot",
    "trace",
]


class _CallableModule(types.ModuleType):
    """`janus.jit(fn)` compiles `fn`; `janus.jit.<name>` is this package."""

    def __call__(self, fn=None, **kwargs):
        return jit(fn, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
