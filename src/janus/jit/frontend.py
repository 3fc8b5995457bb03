"""The JIT's surface: the frame hook's callback, `janus.jit(fn)`,
`janus.explain(fn, *args)`, `JANUS_JIT`/`JANUS_LOG` and `janus.config`.

With the hook installed (at `import janus` unless `JANUS_JIT=0`), every
function that becomes hot (`config.hot_calls` calls) and touches tensors,
modules or optimizers is translated; later calls whose guards pass run the
compiled graph. A frame that cannot compile (see `explain`) runs as usual.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import re
import types
from dataclasses import dataclass, field

from .. import _C
from ..tensor import Tensor
from .calls import recursion_breaks, skipped_codes
from .compiler import (
    NotTranslatable,
    builtins_of,
    forget_learned,
    learn_changing_numbers,
    translate,
)
from .sources import NumberInput

log = logging.getLogger("janus.jit")
# The translator's own files: an exception from the user's code that leaves a
# hooked call shows none of their frames, only the user's.
_JIT_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep
capture = _C.capture


@dataclass
class Config:
    """JIT settings; change them, then call `janus.jit.enable()` again."""

    enabled: bool = os.environ.get("JANUS_JIT", "1") != "0"
    hot_calls: int = 2  # calls before a frame is translated
    budget: int = 8  # translations per code object, then it runs as usual
    # A code whose translations never got a compiled call (a new structure
    # every call, e.g. a recursive model on a new tree) stops translating
    # after this many: it then runs at eager speed.
    unprofitable_after: int = 3
    # An int or float argument seen with this many values (a step counter) is
    # read as data from then on: new values no longer recompile.
    number_values: int = 3


config = Config()


@dataclass
class CodeReport:
    """What the JIT did with one code object."""

    name: str
    compiles: list = field(default_factory=list)  # Translations, in order
    skipped: str | None = None
    # Translations before this one do not count against `unprofitable_after`:
    # they were made before an argument became data (a new start).
    counted_from: int = 0

    def unprofitable(self, promoted: bool) -> bool:
        """Enough translations since the last new start that none may pay off?
        (One that only found where the frame splits does not count: the
        translations that compile come after it.)"""
        if promoted:
            self.counted_from = len(self.compiles)
        since = self.compiles[self.counted_from :]
        learning = any(t.learned_split for t in since)
        return len(since) - learning >= config.unprofitable_after

    def __str__(self) -> str:
        lines = [f"{self.name}: {len(self.compiles)} translation(s)"]
        if self.skipped:
            lines.append(f"  skipped: {self.skipped}")
        for k, t in enumerate(self.compiles):
            lines.extend("  " + line for line in describe(t, k).splitlines())
        return "\n".join(lines)


reports: dict = {}  # code object -> CodeReport
_never: set = set()  # codes that can never compile: answered SKIP


def _report(code) -> CodeReport:
    report = reports.get(code)
    if report is None:
        report = reports[code] = CodeReport(
            f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
        )
    return report


def describe(t, k: int = 0) -> str:
    """A translation as text: graph size, guards, breaks, time."""
    lines = [f"translation {k}: {t.seconds * 1e3:.1f} ms"]
    if t.entry is not None:
        g = t.entry.graph
        lines.append(
            f"  graph: {g.node_count()} nodes, {len(g.inputs())} inputs, {len(g.outputs())} outputs"
        )
        numbers = [
            f"    %{value.name} = {source.name}"
            for value, source in zip(g.inputs(), t.entry.inputs)
            if isinstance(source, NumberInput)
        ]
        if numbers:
            lines.append("  numbers each call passes as 0-d tensors:")
            lines.extend(numbers)
        lines.append("  guards:")
        lines.extend("    " + line for line in t.guard.describe())
    if t.split is not None:
        lines.append(
            f"  split at {t.split.location}: the graph runs up to there, the instruction "
            "runs in Python, and a resume function runs the rest"
        )
    for b in t.breaks:
        lines.append(f"  graph break: {b}")
    if t.entry is None and not t.breaks:
        lines.append("  not compiled")
    return "\n".join(lines)


# ----- the frame hook -----
_JANUS_TYPES: tuple = ()


def _janus_types() -> tuple:
    global _JANUS_TYPES
    if not _JANUS_TYPES:
        from ..nn.modules.module import Module
        from ..optim.optimizer import Optimizer

        _JANUS_TYPES = (Tensor, Module, Optimizer)
    return _JANUS_TYPES


def _touches_tensors(view) -> bool:
    """A cheap look before translating: does the frame see a tensor, module or
    optimizer in its arguments, free variables or the globals it names?"""
    if view.code in _tensor_comprehensions:
        return True
    kinds = _janus_types()
    values = list(view.locals.values())
    g = view.globals
    values += [g[name] for name in view.code.co_names if name in g]
    for v in values:
        if isinstance(v, kinds):
            return True
        if type(v) is types.ModuleType and v.__dict__.get("__name__", "").startswith("janus"):
            return True
        if type(v) in (list, tuple) and any(isinstance(x, kinds) for x in v[:8]):
            return True
        if type(v) is dict and any(isinstance(x, kinds) for x in list(v.values())[:8]):
            return True
    return False


# The comprehensions (3.11 runs each in a frame of its own) of frames that
# touch tensors: a break inside one splits its loop, in its own frame, which
# sees no tensor on entry (its only argument is an iterator).
_tensor_comprehensions: set = set()
_COMPREHENSIONS = ("<listcomp>", "<setcomp>", "<dictcomp>")


def _note_comprehensions(code) -> None:
    for const in code.co_consts:
        if type(const) is types.CodeType and const.co_name in _COMPREHENSIONS:
            _tensor_comprehensions.add(const)


def _callback(view):
    code = view.code
    if code in _never:
        return capture.SKIP
    try:
        touches = _touches_tensors(view)
    except Exception:  # noqa: BLE001 - a value whose isinstance/len misbehaves
        touches = False
    if not touches:
        return _skip(code)
    _note_comprehensions(code)
    report = _report(code)
    promoted = bool(report.compiles) and learn_changing_numbers(
        view.function, report.compiles[-1], view.locals, config.number_values
    )  # (after a guard miss, or a translation that broke)
    _learn_recursion(report)
    if report.unprofitable(promoted):
        if sum(e.hits for e in capture.entries(code)) == 0:
            report.skipped = f"{len(report.compiles)} translations and no compiled call used"
            return _skip(code)
    try:
        t = translate(view.function, view.locals)
    except NotTranslatable as why:
        report.skipped = str(why.why)
        log.info("janus.jit: not translating %s: %s", report.name, why.why)
        return _skip(code)
    report.compiles.append(t)
    _log_translation(report, t)
    if t.entry is not None and t.split is not None and t.entry.no_tensor_work:
        _empty_splits[code] = t.split
        if _leads_nowhere(t.split, frozenset([code])):
            _skip(code)
            return None, t.result
    elif t.entry is not None:
        _useful.add(code)
    if t.entry is not None:
        return capture.Entry(t.guard, t.entry), t.result
    if any(b.kind == "not-compilable" and b.permanent for b in t.breaks):
        _skip(code)
    return None, t.result


def _learn_recursion(report: CodeReport) -> None:
    """Before a new translation of a code whose last one compiled (its
    guards missed): the recursion that translation inlined was over a
    structure that changed, so it is a break from now on (calls.py)."""
    last = report.compiles[-1] if report.compiles else None
    if last is not None and last.entry is not None:
        recursion_breaks.update(last.recursed)


# Codes whose compiled entry does no tensor work before it splits (no graph,
# no tensor effects) -> that Split. Such an entry pays only when the rest
# compiles (a loop's first split hands over to resume functions that do); one
# that leads only to code that never compiles costs a guard check and a
# Python piece per call for nothing. So does a chain of them: a 3.11
# comprehension over a recursive model's children splits at its loop and at
# the recursive call, and none of its pieces has tensor work of its own.
_empty_splits: dict = {}
_useful: set = set()  # codes with an entry that does tensor work


def _skip(code):
    """`code` never compiles: answered SKIP from now on, and so are the empty
    splits that lead only to code like it."""
    _never.add(code)
    for before, split in list(_empty_splits.items()):
        if _leads_nowhere(split, frozenset([before])):
            del _empty_splits[before]
            _never.add(before)
            _report(before).skipped = "its pieces run no tensor work, and the rest never compiles"
            capture.reset(before)  # its entry goes; its next call is answered SKIP
    return capture.SKIP


_BRANCHES = ("FOR_ITER", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE")


def _leads_nowhere(split, visiting: frozenset) -> bool:
    """Whether every resume function `split` made never compiles, or only
    splits again with nothing before (an empty split) and leads nowhere
    itself. `visiting`: the empty splits' codes on the way here (a loop's
    pieces lead back to each other)."""
    codes = [function.__code__ for function in split.resume_functions]
    if split.instruction.op in _BRANCHES and len(codes) < 2:
        return False  # (the way not taken yet, past a loop's end, may do tensor work)
    for c in codes:
        if c in _never or c in visiting or capture.stats(c)["skipped"]:
            continue
        further = _empty_splits.get(c)
        if further is None or c in _useful or not _leads_nowhere(further, visiting | {c}):
            return False
    return bool(codes)


def _log_translation(report: CodeReport, t) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info("janus.jit: %s\n%s", report.name, describe(t, len(report.compiles) - 1))


def enable() -> None:
    """Installs the frame hook with `config`'s settings (or removes it when
    `config.enabled` is false)."""
    if not config.enabled:
        disable()
        return
    capture.install(
        _callback, hot_calls=config.hot_calls, budget=config.budget, hidden_prefixes=[_JIT_FOLDER]
    )


def disable() -> None:
    if capture.is_installed():
        capture.uninstall()


def is_enabled() -> bool:
    return capture.is_installed()


def reset() -> None:
    """Forgets what the JIT compiled and learned, as `torch.compiler.reset()`
    does: every code's cached entries and verdicts, the translation reports,
    the numbers found to change, the recursions made breaks, the split
    points. Functions marked `skip` stay skipped; a `janus.jit` function
    object keeps the entries it holds itself."""
    capture.reset()
    reports.clear()
    _never.clear()
    _never.update(skipped_codes)
    for table in (_empty_splits, _useful, _tensor_comprehensions, recursion_breaks):
        table.clear()
    forget_learned()


# ----- janus.jit(fn) -----
class JitFunction:
    """`fn` compiled on its first call, with its own entries and budget (it
    does not need the frame hook)."""

    def __init__(self, fn, budget: int | None = None):
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"janus.jit compiles Python functions, not {type(fn).__name__}")
        self.fn = fn
        self.budget = config.budget if budget is None else budget
        self.signature = inspect.signature(fn)
        self.names = capture.entry_signature(fn.__code__)
        self.entries: list = []  # (guard, entry), most recently used first
        self.report = CodeReport(f"{fn.__qualname__} ({fn.__code__.co_filename})")
        self.misses: list = []  # the first failing expectation, per recompile
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", "fn")
        self.__doc__ = fn.__doc__

    def _locals(self, args, kwargs) -> dict:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        for name, cell in zip(self.fn.__code__.co_freevars, self.fn.__closure__ or ()):
            values[name] = cell
        return values

    def _plain(self, values: dict) -> dict:
        """`values` with free variables' contents instead of their cells."""
        free = self.fn.__code__.co_freevars
        return {n: (v.cell_contents if n in free else v) for n, v in values.items()}

    def _as_usual(self, hooked: bool, args, kwargs):
        """`fn` run as Python, as if it were not compiled: with the frame
        hook as the caller had it, so the functions it calls compile as they
        would (a step function that never compiles whole, because it sees a
        new tree every call, still gets its model's compiled frames). The
        hook leaves `fn`'s own frame to this object."""
        if not hooked:
            return self.fn(*args, **kwargs)
        _never.add(self.fn.__code__)
        return capture.call_with_hook(functools.partial(self.fn, *args, **kwargs))

    def __call__(self, *args, **kwargs):
        hooked = capture.enabled()
        with capture.disabled():
            values = self._locals(args, kwargs)
            plain = self._plain(values)  # guards read free variables' contents
            g, b = self.fn.__globals__, builtins_of(self.fn)
            for k, (guard, entry) in enumerate(self.entries):
                if guard.check(plain, g, b):
                    if k:
                        self.entries.insert(0, self.entries.pop(k))
                    result = entry(*[values[n] for n in self.names])
                    if result is not capture.FALLBACK:
                        return result
                    return self._as_usual(hooked, args, kwargs)
            if len(self.report.compiles) >= self.budget or self.report.skipped:
                return self._as_usual(hooked, args, kwargs)
            if self.entries:
                self.misses.append(self.entries[0][0].first_failure(plain, g, b))
            promoted = bool(self.report.compiles) and learn_changing_numbers(
                self.fn, self.report.compiles[-1], plain, config.number_values
            )
            _learn_recursion(self.report)
            if self.report.unprofitable(promoted) and not any(
                entry.calls for _, entry in self.entries
            ):  # as the hook does: a new structure every call (a new tree) stays eager
                translated = len(self.report.compiles)
                self.report.skipped = f"{translated} translations and no compiled call used"
                return self._as_usual(hooked, args, kwargs)
            try:
                t = translate(self.fn, plain)
            except NotTranslatable as why:
                self.report.skipped = str(why.why)
                return self._as_usual(hooked, args, kwargs)
            self.report.compiles.append(t)
            if t.entry is not None:
                self.entries.insert(0, (t.guard, t.entry))
            elif any(b.permanent for b in t.breaks):
                self.report.skipped = "every call would break the same way"
            return t.result

    def explain(self) -> str:
        text = str(self.report)
        if self.misses:
            text += "\n  recompiles after guard misses:\n" + "\n".join(
                f"    {m}" for m in self.misses
            )
        return text


def skip(fn):
    """Marks `fn` to always run in the interpreter, as `torch.compiler.disable`
    does: the frame hook never compiles its frames, and a traced caller does
    not trace into it (the call is a graph break). Returns `fn`, so it works
    as a decorator."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        raise TypeError(f"janus.jit.skip takes a Python function, not {type(fn).__name__}")
    skipped_codes.add(code)
    _never.add(code)
    return fn


def jit(fn=None, *, budget: int | None = None):
    """Compiles `fn`: its first call is translated (and runs), later calls
    whose guards pass run the compiled graph. Usable as `@janus.jit`."""
    if fn is None:
        return lambda f: JitFunction(f, budget)
    return JitFunction(fn, budget)


# ----- explain -----
@dataclass
class Explanation:
    name: str
    translation: object

    @property
    def graphs(self) -> list:
        return [] if self.translation.entry is None else [self.translation.entry.graph]

    @property
    def breaks(self) -> list:
        return list(self.translation.breaks)

    @property
    def guards(self) -> list:
        return [] if self.translation.guard is None else list(self.translation.guard.describe())

    def __str__(self) -> str:
        text = f"{self.name}\n{describe(self.translation)}"
        for g in self.graphs:
            text += "\n" + str(g)
        return text


def explain(fn, *args, **kwargs) -> Explanation:
    """Translates `fn(*args, **kwargs)` (running it once), prints and returns
    what the JIT makes of it: graphs and their sizes, guards, graph breaks."""
    jf = fn if isinstance(fn, JitFunction) else JitFunction(fn)
    with capture.disabled():
        values = jf._locals(args, kwargs)
        plain = jf._plain(values)
        try:
            t = translate(jf.fn, plain)
        except NotTranslatable as why:
            from .compiler import Translation

            t = Translation(jf.fn(*args, **kwargs), breaks=[why.why])
    out = Explanation(jf.report.name, t)
    print(out)
    return out


# ----- graph dumps -----
_LINE = re.compile(r"^\s*(%[\w.]+(?:\s*,\s*%[\w.]+)*)\s*(?::[^=]*)?=\s*([\w.]+)\((.*?)\)")


def to_dot(graph) -> str:
    """The graph in Graphviz DOT (from its text form)."""
    lines = ["digraph janus {", "  node [shape=box, fontname=monospace];"]
    text = str(graph)
    for k, line in enumerate(text.splitlines()):
        m = _LINE.match(line)
        if m is None:
            continue
        outs = [o.split(":")[0].strip() for o in m.group(1).split(",")]
        lines.append(f'  n{k} [label="{m.group(2)}"];')
        for operand in re.findall(r"%[\w.]+", m.group(3)):
            lines.append(f'  "{operand}" -> n{k};')
        for o in outs:
            lines.append(f'  n{k} -> "{o}";')
    lines.append("}")
    return "\n".join(lines)


def _configure_logging() -> None:
    level = os.environ.get("JANUS_LOG")
    if not level:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if level.lower() == "debug" else logging.INFO)


_configure_logging()
