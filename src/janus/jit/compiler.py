"""Translating one call: run it concolically, then compile what it recorded.

`translate(function, locals)` runs the call (it is the real call: its result
and effects are the program's) and returns a `Translation`: the result,
and either a compiled entry with its guard, or the graph breaks that kept
the frame from compiling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import _C
from ..ops import registry
from ..random import default_generator
from .calls import translatable, unsupported_ops
from .compiled import CompiledFrame, NotCompilable, build_guard
from .record import _Recorder
from .sources import Local
from .tracebacks import with_user_frames
from .translator import Frame, Translator
from .values import GraphBreak, UserException


@dataclass
class Translation:
    result: object
    entry: CompiledFrame | None = None
    guard: object = None
    breaks: list = field(default_factory=list)
    seconds: float = 0.0
    permanent: bool = False  # no later call can compile either (e.g. unsupported bytecode)


def translate(function, locals_: dict) -> Translation:
    """Runs `function` with `locals_` (its parameters as bound, and its free
    variables' values) through the translator."""
    code_obj = function.__code__
    code = translatable(code_obj)
    if code is None:
        raise NotTranslatable(
            GraphBreak(
                "unsupported-bytecode",
                f"{code_obj.co_filename}:{code_obj.co_firstlineno}",
                f"{code_obj.co_qualname} uses "
                f"{', '.join(unsupported_ops(code_obj)) or 'a generator'}",
                "the translator has no handler for these instructions yet",
            )
        )
    start = time.perf_counter()
    recorder = _Recorder()
    tr = Translator(recorder, function.__globals__)
    rng_start = (default_generator._seed, default_generator._offset)
    names = _C.capture.entry_signature(code_obj)
    params = names[: len(names) - len(code_obj.co_freevars)]
    frame = Frame(code, function, {}, {}, None)
    frame.locals = {name: tr.read(locals_[name], Local(name)) for name in params if name in locals_}
    frame.cells.update(frame.closure)
    registry.observers.append(recorder)
    try:
        result = tr.run_frame(frame)
    except UserException as raised:
        raise with_user_frames(raised) from None
    finally:
        registry.observers.remove(recorder)
    out = Translation(result.value, breaks=tr.breaks)
    if not tr.breaks:
        try:
            out.entry = CompiledFrame(
                tr, result, names, function.__globals__, frame.builtins, rng_start
            )
            out.guard = build_guard(code_obj, tr, rng_start[0])
        except NotCompilable as why:
            out.entry = None
            where = f"{code_obj.co_filename}:{code_obj.co_firstlineno}"
            permanent = "no tensor work" in str(why) or "autograd" in str(why)
            out.breaks.append(
                GraphBreak("not-compilable", where, str(why), _hint(str(why)), permanent)
            )
    out.seconds = time.perf_counter() - start
    return out


def _hint(reason: str) -> str:
    if "no tensor work" in reason:
        return "nothing to compile; the frame runs as usual"
    if "autograd" in reason:
        return "compile the function that calls backward()"
    return "return tensors, numbers and containers of them"


class NotTranslatable(Exception):
    """The frame cannot even start translating; it has not run."""

    def __init__(self, why: GraphBreak):
        super().__init__(str(why))
        self.why = why
