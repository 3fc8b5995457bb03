"""The JIT. For now: `record`, which turns an eager run into an IR graph (the
bytecode translator of the design comes next and will emit the same IR)."""

from .record import record

__all__ = ["record"]
