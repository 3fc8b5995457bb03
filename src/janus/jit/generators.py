"""Generator expressions consumed at once by a call: `sum(x * x for x in xs)`,
`tuple(f(t) for t in ts)`, `any(...)`, `", ".join(...)`, `janus.stack(...)`.

The genexpr's code is interpreted like an inlined function, but lazily: its
frame runs until `YIELD_VALUE`, hands the yielded Var to whoever iterates it
(the consumer, through a `VirtualIterator`), and resumes on the next pull.
Tensor ops it runs are recorded as usual, and its reads of outside values are
guarded as usual, so the expression compiles into the caller's graph.

A genexpr frame, 3.11 and 3.12 alike, after normalization (`RESUME` dropped):
    RETURN_GENERATOR; POP_TOP            # the first resume pushes the sent None
    LOAD_FAST .0; FOR_ITER end           # `.0` is the iterator the caller made
    ... YIELD_VALUE; POP_TOP; JUMP        # each resume pushes the sent None again
    end: [END_FOR] RETURN_CONST None
3.12 adds a handler turning a StopIteration raised in the body into a
RuntimeError (`CALL_INTRINSIC_1 INTRINSIC_STOPITERATION_ERROR`; RERAISE):
this runner does that conversion itself and never enters the handler.

Only a generator the next instruction hands to a known consumer is inlined:
one that escapes (stored, returned, passed to user code) would be resumed
after the translation ended. Any other genexpr stays a graph break.
"""

from __future__ import annotations

import inspect
import types

from ..ops import shape as S
from ..tensor import Tensor
from .builtin_calls import lookup
from .instructions import Code
from .tracebacks import note_frame
from .values import NULL, UserException, Var, VirtualIterator

# Ops the generator runner handles itself (the translator has no handler).
_GENERATOR_OPS = {
    "RETURN_GENERATOR",
    "YIELD_VALUE",
    "CALL_INTRINSIC_1 INTRINSIC_STOPITERATION_ERROR",
}
# Consumers that iterate the generator to its end (or stop early, as any()
# and all() do, after which the generator is dropped in Python too).
_CONSUMERS = {sum, tuple, list, min, max, any, all, dict, set, frozenset, sorted}
# Consumers that decide on the elements (truth, order, hash): a tensor among
# them means a decision on tensor data.
_DECIDING = {min, max, any, all, sorted, set, frozenset}
# Consumers that keep each element's Var (see calls._sequence): a number read
# from tensor data may pass through them.
_KEEPING = {tuple, list}

_codes: dict = {}  # code object -> Code, or None


def generator_code(func) -> Code | None:
    """The normalized code of a generator expression the runner can
    interpret, or None (not a genexpr, or an instruction with no handler)."""
    code = func.__code__
    if code in _codes:
        return _codes[code]
    from .translator import SUPPORTED

    result = None
    if code.co_flags & inspect.CO_GENERATOR and code.co_name == "<genexpr>":
        normalized = Code(code)
        if all(ins.op in SUPPORTED or ins.op in _GENERATOR_OPS for ins in normalized.instructions):
            result = normalized
    _codes[code] = result
    return result


class GeneratorsMixin:
    def start_generator(self, func, code: Code, args: list, kwargs: dict) -> Var | None:
        """The generator `func(*args)` as a lazily interpreted iterator, or
        None when its consumer is not one that iterates it at once."""
        from .calls import bind
        from .translator import Frame

        consumer = self._consumer_of_next_call(self.frame)
        if consumer is None:
            return None
        frame = Frame(code, func, bind(func, args, kwargs), {}, self.top_globals)
        frame.cells.update(frame.closure)
        deciding = lookup(_DECIDING, consumer.value)
        keeping = lookup(_KEEPING, consumer.value)
        return Var(VirtualIterator(self._run_generator(frame, deciding, keeping), replayable=False))

    def _consumer_of_next_call(self, caller) -> Var | None:
        """The callable of the call that the caller's next instruction makes,
        if the generator being made now is among its arguments and the
        callable iterates it at once; else None."""
        instructions = caller.code.instructions
        ip, constants = caller.ip, 0  # `max(gen, default=0)`: constants follow it
        while ip < len(instructions) and instructions[ip].op in ("KW_NAMES", "LOAD_CONST"):
            constants += instructions[ip].op == "LOAD_CONST"
            ip += 1
        if ip >= len(instructions) or instructions[ip].op != "CALL":
            return None
        # The stack at that CALL is [NULL, fn, args...] or [fn, self, args...];
        # the generator (not pushed yet) and the constants are the last args.
        before = instructions[ip].arg - 1 - constants
        stack = caller.stack
        if before < 0 or len(stack) < before + 2:
            return None
        below, top = stack[len(stack) - before - 2], stack[len(stack) - before - 1]
        fn = top if below is NULL else below
        return fn if consumes_at_once(fn.value) else None

    def _run_generator(self, frame, deciding: bool, keeping: bool):
        """Yields the Vars the generator frame yields, interpreting it between
        pulls (each pull runs with the generator as the current frame)."""
        while True:
            outer, self.frame = self.frame, frame
            self.depth += 1
            try:
                var = self._resume(frame)
            finally:
                self.depth -= 1
                self.frame = outer
            if var is None:
                return
            if var.host is not None and not keeping:
                self.value(var, "consumed by a builtin")  # reports the data-dependent break
            if deciding and isinstance(var.value, Tensor):
                self.graph_break(
                    "data-dependent",
                    "a generator's tensors are compared or tested by its consumer",
                    "reduce with tensor ops (stack, then max/any) instead",
                )
            yield var

    def _resume(self, frame) -> Var | None:
        """Runs the generator frame up to its next yield (the yielded Var) or
        its end (None)."""
        instructions = frame.code.instructions
        while True:
            frame.index = frame.ip
            ins = instructions[frame.ip]
            frame.ip += 1
            if ins.op == "RETURN_GENERATOR":
                frame.stack.append(Var(None))
            elif ins.op == "YIELD_VALUE":
                var = frame.stack.pop()
                frame.stack.append(Var(None))  # what the consumer sends: next() sends None
                return var
            elif ins.op in ("RETURN_VALUE", "RETURN_CONST"):
                return None
            else:
                try:
                    getattr(self, ins.op)(frame, ins)
                except UserException as raised:
                    if isinstance(raised.exc, StopIteration):
                        raised = UserException(RuntimeError("generator raised StopIteration"))
                    note_frame(raised, frame)
                    raise raised from None


def consumes_at_once(target) -> bool:
    """Does calling `target` with an iterable iterate it at once?"""
    if lookup(_CONSUMERS, target):
        return True
    if isinstance(target, types.BuiltinMethodType) and isinstance(target.__self__, str):
        return target.__name__ == "join"
    return target is S.stack or target is S.cat  # janus's stack and cat take any iterable
