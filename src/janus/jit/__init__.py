"""The JIT. For now: `record` turns an eager run into an IR graph, and
`compile_graph` compiles a graph for the CPU executor (the bytecode translator
of the design comes next and will emit the same IR)."""

from .program import CompiledGraph, ShapeSpeculationError, compile_graph
from .record import Recording, record, recording
from .trace import TracedFunction, trace

__all__ = [
    "CompiledGraph",
    "Recording",
    "ShapeSpeculationError",
    "compile_graph",
    "record",
    "recording",
    "TracedFunction",
    "trace",
]
