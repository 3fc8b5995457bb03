"""Translating one call: run it concolically, then compile what it recorded.

`translate(function, locals)` runs the call (it is the real call: its result
and effects are the program's) and returns a `Translation`: the result,
and either a compiled entry with its guard, or the graph breaks that kept
the frame from compiling.

A frame that broke is split the next time it is translated (split.py): the
translation stops before the instruction where the first break happened,
the compiled entry covers the part before it, and the rest of the call runs
through a resume function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import _C
from ..ops import registry
from ..random import generator_states
from .calls import translatable, unsupported_ops
from .compiled import CompiledFrame, NotCompilable, build_guard
from .record import _Recorder
from .resume import data_parameters
from .sources import Env, Local
from .split import Split, why_not_split
from .tracebacks import with_user_frames
from .translator import Frame, Translator
from .values import OUTSIDE_PYTHON, GraphBreak, UserException, Var

# code -> (instruction index of the translated frame to split before, the
# GraphBreak that happened there), learned from a translation that broke
# there; codes whose split failed are in
# `_unsplittable` (they run as before: eagerly, callees compiled on their own).
_split_at: dict = {}
_unsplittable: set = set()
# code -> names of the sources (a parameter, an attribute) whose int or float
# value kept changing between calls (a step counter, a running average the
# frame updates): later translations read them unguarded, as data, so a new
# value does not recompile; a use that would bake one in breaks there.
changing_numbers: dict = {}
_numbers_seen: dict = {}  # (code, source name) -> the values its guards missed with


def forget_learned() -> None:
    """Forgets the split points and changing numbers learned from earlier
    translations (`janus.jit.reset`)."""
    for table in (_split_at, _unsplittable, changing_numbers, _numbers_seen):
        table.clear()


@dataclass
class Translation:
    result: object
    entry: CompiledFrame | None = None
    guard: object = None
    breaks: list = field(default_factory=list)
    seconds: float = 0.0
    permanent: bool = False  # no later call can compile either (e.g. unsupported bytecode)
    split: Split | None = None  # where the entry hands the call over to Python
    # source name -> (source, the int or float it was guarded equal to)
    numbers: dict = field(default_factory=dict)
    recursed: set = field(default_factory=set)  # codes whose recursion it inlined
    learned_split: bool = False  # it broke, and the next translation splits there


def learn_changing_numbers(function, last: Translation, values: dict, limit: int) -> bool:
    """After a guard miss (the call's parameters are `values`): a source
    guarded equal to a number that now holds another number of the same type
    has changed; once it has held `limit` values, it is data from then on (a
    few values, e.g. a flag-like int, stay specialized: each gets its own
    entry, with no break). True if a source just became data (the next
    translation is worth making)."""
    code_obj = function.__code__
    locals_ = dict(values)  # free variables as their cells, as sources read them
    locals_.update(zip(code_obj.co_freevars, function.__closure__ or ()))
    env = Env(locals_, function.__globals__, builtins_of(function))
    promoted = False
    for name, (source, was) in last.numbers.items():
        try:
            now = source.evaluate(env)
        except Exception:  # noqa: BLE001 - gone (an attribute deleted): not a number now
            continue
        if type(now) is type(was) and now != was:
            seen = _numbers_seen.setdefault((code_obj, name), set())
            seen.update((was, now))
            data = changing_numbers.setdefault(code_obj, set())
            if len(seen) >= limit and name not in data:
                data.add(name)
                promoted = True
    return promoted


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
    recorder.unrecordable = []  # breaks at a compiled frame's backward (opaque calls)
    split_at, split_break = _split_at.get(code_obj, (None, None))
    tr = Translator(recorder, function.__globals__, stop_at=split_at)
    rng_start = generator_states()  # (the frame's device picks its generator)
    names = _C.capture.entry_signature(code_obj)
    params = names[: len(names) - len(code_obj.co_freevars)]
    frame = Frame(code, function, {}, {}, None)
    # numbers that changed from call to call, and a resume function's data
    tr.data_sources = changing_numbers.get(code_obj, frozenset())
    data = data_parameters.get(code_obj, frozenset())
    frame.locals = {
        name: Var(locals_[name], Local(name), host=OUTSIDE_PYTHON)
        if name in data
        else tr.read(locals_[name], Local(name))
        for name in params
        if name in locals_
    }
    frame.cells.update(frame.closure)
    tr.top = frame
    stopped = None
    registry.observers.append(recorder)
    try:
        result = tr.run_frame(frame)
        if result is None:  # at the split point
            stopped = _split(tr, frame, function, names, rng_start, split_break)
            if stopped is None:  # no split after all: the rest of the call, traced
                result = tr.run_frame(frame)
    except UserException as raised:
        raise with_user_frames(raised) from None
    finally:
        registry.observers.remove(recorder)
    if stopped is not None:
        # The first part ran traced; the rest of the call runs as the
        # compiled entry will run it: the breaking instruction, then the
        # resume function (with the recorder off: it is not this graph's).
        stopped.result = stopped.split.run_concretely()
        stopped.seconds = time.perf_counter() - start
        stopped.recursed = tr.recursed
        return stopped
    out = Translation(result.value, breaks=tr.breaks, numbers=_number_guards(tr))
    out.recursed = tr.recursed
    out.learned_split = _learn_split(code_obj, tr.breaks)
    if not tr.breaks:
        try:
            out.entry = CompiledFrame(
                tr, result, names, function.__globals__, frame.builtins, rng_start
            )
            out.guard = build_guard(code_obj, tr, out.entry)
        except NotCompilable as why:
            out.entry = None
            where = f"{code_obj.co_filename}:{code_obj.co_firstlineno}"
            permanent = "no tensor work" in str(why) or "autograd" in str(why)
            out.breaks.append(
                GraphBreak("not-compilable", where, str(why), _hint(str(why)), permanent)
            )
    out.seconds = time.perf_counter() - start
    return out


def _split(tr, frame, function, names, rng_start, at: GraphBreak) -> Translation | None:
    """The translation of a frame stopped before its breaking instruction:
    an entry for the part before it (result filled in by the caller), or
    None (with the reason as a break) where it cannot split there."""
    code_obj = function.__code__
    if tr.breaks:  # it broke earlier than last time: split there next time
        _split_at.pop(code_obj, None)
        return None
    why = why_not_split(frame)
    if why is None:
        split = Split(frame, function)
        try:
            entry = CompiledFrame(
                tr, None, names, function.__globals__, frame.builtins, rng_start, split
            )
            guard = build_guard(code_obj, tr, entry)
        except NotCompilable as reason:
            why = f"the state there cannot be rebuilt: {reason}"
        else:
            return Translation(
                None, entry=entry, guard=guard, breaks=[at], split=split, numbers=_number_guards(tr)
            )
    _unsplittable.add(code_obj)
    _split_at.pop(code_obj, None)
    tr.breaks.append(
        GraphBreak("no-split", frame.location(), f"cannot split the frame here: {why}", _hint(why))
    )
    return None


def _number_guards(tr) -> dict:
    return {
        source.name: (source, arg)
        for source, kind, arg in tr.guards.values()
        if kind == "equals" and type(arg) in (int, float)
    }


def builtins_of(function) -> dict:
    """The builtins a function's frames see."""
    b = function.__globals__.get("__builtins__", __builtins__)
    return b if isinstance(b, dict) else b.__dict__


def _learn_split(code_obj, breaks: list) -> bool:
    """After a translation that broke, the next one splits at its first
    break, if that will happen again (one with no `top_index` will not: e.g.
    the first optimizer step, which creates its state). Later breaks are no
    guide: after a break, the translator calls user functions natively, and
    passing them data breaks where a full trace would not. True if it did."""
    if code_obj in _unsplittable or not breaks or breaks[0].top_index is None:
        return False
    _split_at[code_obj] = (breaks[0].top_index, breaks[0])
    return True


def _hint(reason: str) -> str:
    if "no tensor work" in reason:
        return "nothing to compile; the frame runs as usual"
    if "autograd" in reason:
        return "compile the function that calls backward()"
    if "generator" in reason:
        return "iterate a list, or move the Python-only part into a function of its own"
    if "graph compiler failed" in reason:
        return "a janus bug: the frame runs as usual meanwhile"
    if "a view of a tensor from outside" in reason:
        return "return a copy (.clone()) of the view, or use the view inside the frame only"
    if "mixes tensors" in reason:
        return "move its tensors to one device first; a 0-d CPU tensor may join GPU ones"
    if "no kernel" in reason:
        return "the frame runs eagerly on its device meanwhile"
    if "try or with" in reason:
        return "move the Python-only part out of the try/with block"
    return "return tensors, numbers and containers of them"


class NotTranslatable(Exception):
    """The frame cannot even start translating; it has not run."""

    def __init__(self, why: GraphBreak):
        super().__init__(str(why))
        self.why = why
