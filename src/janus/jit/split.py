"""Co-execution at a graph break: the frame is split where it breaks.

A frame that breaks (a third-party call, printing a tensor, a decision on tensor
data) is not left to run eagerly as a whole. Its next translation stops
right before the instruction that broke (in the translated frame itself: a
break inside an inlined callee stops at the call of that callee), and the
compiled entry becomes three pieces:

1. the graph of everything before that instruction, with its effects
   committed as for any compiled call;
2. the instruction itself, run in Python on the materialized stack (a call,
   a branch, a comparison, ...): this is the piece with no graph form;
3. a resume function (`resume.py`) for the rest of the frame, called with
   the stack and locals after that instruction; the frame hook captures it
   like any function, so the rest compiles on its own and may split again.

A break inside a loop splits the same way. The resume function continues
the loop; its own translation reaches the loop's `FOR_ITER` on an iterator
it received, which is a break of its own (advancing the iterator is the
Python piece, so what it yields is read afresh each iteration), and splits
again there. Resume functions always continue the original code, so the
loop goes round through the same two or three of them, each compiled once.
A split that a resume function's call reaches hands its own resume call back
to the caller (`TailCall`), so iterations follow one another instead of
nesting one call deeper each (a loop of a thousand batches must not
overflow the stack). A list, tuple or range the loop was iterating in the
trace is handed on as an iterator over the elements still to come.

A frame whose locals inner functions capture (cells: a comprehension over
`self` on 3.11) splits too: each compiled call makes its own cells, the
functions the first part made are made again over them, and the rest
receives them as free variables.

A break whose instruction is not one of those below, or inside a try or with
block, is not split: the frame runs as before (eagerly, with the functions
it calls compiled on their own).
"""

from __future__ import annotations

import threading
import types

import numpy as np

from .. import _C
from .resume import original_code, resume_function
from .tracebacks import with_user_frames
from .translator import BINARY_OPERATORS, COMPARISONS
from .values import NULL, UserException, VirtualIterator

SPLITTABLE = {
    "CALL",
    "CALL_FUNCTION_EX",
    "POP_JUMP_IF_TRUE",
    "POP_JUMP_IF_FALSE",
    "COMPARE_OP",
    "BINARY_OP",
    "UNARY_NOT",
    "FORMAT_VALUE",
    "GET_ITER",
    "FOR_ITER",
}
_EXHAUSTED = object()


class _Null:
    """CPython's NULL stack entry, materialized."""

    def __repr__(self) -> str:
        return "NULL"


MATERIALIZED_NULL = _Null()


def why_not_split(frame) -> str | None:
    """None if `frame` can be split before its next instruction, else why not."""
    code, index = frame.code, frame.ip
    ins = code.instructions[index]
    if ins.op not in SPLITTABLE:
        return f"the break is in a {ins.op} instruction, which has no split form"
    handler = code.handler_for(index)
    if handler is not None and not code.only_restores(handler):
        # (The breaking instruction runs outside the frame: an exception it
        # raises would miss the frame's handler.)
        return "the break is inside a try or with block"
    for var in frame.stack:
        if isinstance(var.value, VirtualIterator) and not var.value.replayable:
            return "a loop over a generator the translator runs is under way"
    if frame.kw_names and ins.op != "CALL":
        return "the break is between KW_NAMES and its CALL"
    return None


class Split:
    """Where a translation stopped: the frame, its state before the breaking
    instruction, and how to run that instruction and resume after it."""

    def __init__(self, frame, function):
        self.frame, self.function = frame, function
        self.index = frame.ip
        self.instruction = frame.code.instructions[self.index]
        self.kw_names = frame.kw_names
        self.stack = list(frame.stack)  # Vars, bottom first
        # The locals of the code the frame continues (a resume function's
        # stack parameters are dead once its prologue ran).
        varnames = original_code(frame.code.code).co_varnames
        self.names = tuple(n for n in varnames if n in frame.locals)
        self.locals = [frame.locals[n] for n in self.names]
        # The frame's own cells (a local an inner function captures): the
        # rest receives them ahead of the free variables' (resume.py).
        self.cells = [frame.cells[n] for n in frame.code.code.co_cellvars]
        self._resumes: dict = {}  # next instruction index -> (function, null slots)

    @property
    def resume_functions(self) -> list:
        """The resume functions made so far (one per instruction that follows)."""
        return [function for function, _ in self._resumes.values()]

    @property
    def location(self) -> str:
        return f"{self.frame.code.code.co_filename}:{self.instruction.line}"

    def run(self, stack: list, local_values: list, closure: tuple | None = None):
        """Runs the breaking instruction on `stack` (materialized values,
        NULL as MATERIALIZED_NULL) and the rest of the frame: the call's
        result. `closure`: this call's cells, the frame's own and then its
        free variables' (the rest reads them, not the translated call's);
        None if the frame has neither."""
        stack = list(stack)
        # The hook is off inside a compiled entry; the Python piece and the
        # rest run with it on, so user functions they call compile as usual.
        hooked = _C.capture.is_installed()
        call = _C.capture.call_with_hook if hooked else _call
        # Called as the resume function a split is calling right now: the
        # next resume call goes back to that split's loop (see TailCall).
        tail = _calling.code is self.function.__code__
        if tail:
            _calling.code = None
        try:
            following, pushed = call(self._step, stack)
        except Exception as exc:  # the program's own: its traceback shows this line
            raised = UserException(exc)
            raised.frames.append((self.frame.code.code, self.instruction.line))
            raise with_user_frames(raised)  # noqa: B904 - the same exception, not a new one
        resume, nulls = self._resume(following, stack, pushed)
        if closure is not None:
            resume = types.FunctionType(resume.__code__, resume.__globals__, None, None, closure)
        args = [*local_values, *(v for k, v in enumerate(stack) if k not in nulls)]
        if tail:
            return TailCall(resume, args)
        outer = _calling.code
        try:
            while True:
                _calling.code = resume.__code__
                result = call(resume, *args)
                if type(result) is not TailCall:
                    return result
                resume, args = result.function, result.args
        finally:
            _calling.code = outer

    def run_concretely(self):
        """The rest of the translated call itself, on the trace's own values."""
        stack = [MATERIALIZED_NULL if v is NULL else _handed_on(v.value) for v in self.stack]
        closure = None
        if self.cells:
            closure = (*self.cells, *(self.function.__closure__ or ()))
        return self.run(stack, [v.value for v in self.locals], closure)

    def _step(self, stack: list) -> tuple:
        """Runs the instruction on `stack` in place; returns the index of the
        instruction that follows, and whether it pushed a result."""
        ins, following = self.instruction, self.index + 1
        op = ins.op
        pushed = op not in ("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE")
        if op == "CALL":
            args = _pop(stack, ins.arg)
            below, top = _pop(stack, 2)
            fn, args = (top, args) if below is MATERIALIZED_NULL else (below, [top, *args])
            split = len(args) - len(self.kw_names)
            stack.append(fn(*args[:split], **dict(zip(self.kw_names, args[split:]))))
        elif op == "CALL_FUNCTION_EX":
            kwargs = stack.pop() if ins.arg & 1 else {}
            args = stack.pop()
            fn = stack.pop()
            if stack and stack[-1] is MATERIALIZED_NULL:
                stack.pop()
            stack.append(fn(*args, **kwargs))
        elif op in ("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE"):
            if bool(stack.pop()) == (op == "POP_JUMP_IF_TRUE"):
                following = ins.target
        elif op == "COMPARE_OP":
            a, b = _pop(stack, 2)
            stack.append(COMPARISONS[ins.argval](a, b))
        elif op == "BINARY_OP":
            a, b = _pop(stack, 2)
            stack.append(BINARY_OPERATORS[ins.argval](a, b))
        elif op == "UNARY_NOT":
            stack.append(not stack.pop())
        elif op == "GET_ITER":
            stack.append(iter(stack.pop()))
        elif op == "FOR_ITER":  # the loop's next element, or past the loop
            value = next(stack[-1], _EXHAUSTED)
            if value is _EXHAUSTED:
                stack.pop()
                following, pushed = ins.target, False
            else:
                stack.append(value)
        elif op == "FORMAT_VALUE":
            spec = stack.pop() if ins.arg & 0x04 else ""
            value = stack.pop()
            convert = {1: str, 2: repr, 3: ascii}.get(ins.arg & 0x03)
            stack.append(format(value if convert is None else convert(value), spec))
        else:  # why_not_split admits no other instruction
            raise AssertionError(op)
        return following, pushed

    def _is_data(self, value) -> bool:
        """Whether the Python piece's result is passed on unguarded: numbers
        and text computed from data would make every call recompile, and so
        would a loop's counter; other ints, bools and None are specialized
        on (they are usually sizes, counts and flags)."""
        if self.instruction.op == "FOR_ITER" and type(value) is int:
            return True
        return type(value) in (float, complex, str, bytes) or isinstance(value, np.generic)

    def _resume(self, following: int, stack: list, pushed: bool):
        known = self._resumes.get(following)
        if known is None:
            kept = len(stack) - pushed  # slots below the result are the trace's Vars
            kinds = []
            for k, value in enumerate(stack):
                if value is MATERIALIZED_NULL:
                    kinds.append("null")
                elif self.stack[k].host is not None if k < kept else self._is_data(value):
                    kinds.append("data")
                else:
                    kinds.append("value")
            data = tuple(n for n, v in zip(self.names, self.locals) if v.host is not None)
            offset = self.frame.code.instructions[following].offset
            function = resume_function(self.function, offset, tuple(kinds), self.names, data)
            nulls = {k for k, kind in enumerate(kinds) if kind == "null"}
            known = self._resumes[following] = (function, nulls)
        return known


class TailCall:
    """What a split returns instead of calling its resume function, when it
    runs as the resume function another split is calling: that split's loop
    makes the call. Never seen outside `Split.run`."""

    __slots__ = ("function", "args")

    def __init__(self, function, args: list):
        self.function, self.args = function, args


class _Calling(threading.local):
    code = None  # the code of the resume function this thread's innermost split is calling


_calling = _Calling()


def _handed_on(value):
    """A stack value as the resume function receives it: an iterator the
    trace was running over a list, tuple or range becomes a plain iterator
    over the elements still to come."""
    if isinstance(value, VirtualIterator):
        return iter([v.value for v in value.remaining()])
    return value


def _call(fn, *args):
    return fn(*args)


def _pop(stack: list, n: int) -> list:
    if n == 0:
        return []
    out = stack[-n:]
    del stack[-n:]
    return out
