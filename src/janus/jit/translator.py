"""The concolic bytecode translator: runs a call instruction by instruction on
concrete values and records what a compiled version of it needs.

For each value it tracks where it came from (`sources.py`); tensor ops are
recorded into an IR graph by the eager layer's op observers (the same
mechanism as `record.py`), so backward passes and optimizer steps that the
call runs become part of the graph. Decisions on Python values become guards
on their sources. Calls into user Python are inlined (their frames are
interpreted too); calls into janus's tensor library run as they are while
the recorder watches; anything else is a graph break: the call still runs
(the translation is the real call, so it always completes), but the frame
gets no compiled entry and the break is reported.

This file holds the frame loop and the handlers for data movement; reading
values and guarding them is in `reads.py`, calls are in `calls.py`,
attributes in `attributes.py`, and what is done with a finished trace in
`compiled.py`.
"""

from __future__ import annotations

import operator
import types

from ..autograd import grad_mode
from ..autograd.node import next_sequence
from ..tensor import Tensor
from .attributes import AttributesMixin
from .calls import CallsMixin
from .containers import ContainersMixin
from .generators import GeneratorsMixin
from .instructions import Code, subscripts_passed_to
from .optimizers import OptimizerMixin
from .reads import ALL, ReadsMixin
from .resume import original_code
from .sources import Builtin, Fixed, FreeVar, Global
from .tracebacks import note_frame
from .values import (
    NULL,
    OUTSIDE_PYTHON,
    GraphBreak,
    UserException,
    Var,
    class_attribute,
    do,
    is_constant,
    user_code,
)

BINARY_OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "@": operator.matmul,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
    "<<": operator.lshift,
    ">>": operator.rshift,
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "@=": operator.imatmul,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
}

COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
}

MAX_INLINE_DEPTH = 48


def _user_getitem(obj):
    if type(obj) in (list, tuple, dict) or isinstance(obj, (Tensor, type)):
        return None
    return user_code(class_attribute(obj, "__getitem__"))


class Frame:
    """One interpreted Python frame (the translated one or an inlined callee)."""

    def __init__(self, code: Code, function, locals_: dict, cells: dict, top_globals: dict | None):
        self.code, self.function = code, function
        self.locals = locals_  # name -> Var
        self.cells = cells  # name -> real cell object (cells and free variables)
        self.globals = function.__globals__
        self.builtins = self.globals.get("__builtins__", __builtins__)
        if isinstance(self.builtins, types.ModuleType):
            self.builtins = self.builtins.__dict__
        # The translated frame's globals (None: this is that frame): names
        # read from them are `G[...]` sources; another module's globals are
        # reached through the inlined function's fixed globals dict.
        self.top_globals = top_globals
        self.closure = dict(zip(code.code.co_freevars, function.__closure__ or ()))
        self.stack: list[Var] = []
        self.ip = 0
        self.index = 0  # the instruction running now
        self.kw_names: tuple = ()

    def global_source(self, name: str, builtin: bool):
        if self.top_globals is None or self.top_globals is self.globals:
            return (Builtin if builtin else Global)(name)
        # The two tables need distinct names: guard nodes are shared by name.
        table, label = (self.builtins, "__builtins__") if builtin else (self.globals, "__dict__")
        return Fixed(table, f"{self.function.__module__}.{label}").item(name)

    def cell_source(self, name: str, cell):
        """A free variable's contents: the translated frame's own cell (the
        compiled entry receives it), or an inlined function's cell (fixed by
        that function's identity guard); None for cells this frame made."""
        if self.closure.get(name) is not cell:
            return None
        if self.top_globals is None:
            return FreeVar(name)
        return Fixed(cell, f"{self.function.__qualname__}.<{name}>").cell_contents()

    def location(self) -> str:
        ins = self.code.instructions[self.index]
        return f"{self.code.code.co_filename}:{ins.line}"

    def pop(self, n: int = 1) -> list:
        if n == 0:
            return []
        out = self.stack[-n:]
        del self.stack[-n:]
        return out


def _fits(value, window: Tensor) -> bool:
    """Whether `window.copy_(value)` or `fill_` takes `value` as the item
    store would (a tensor of more dimensions is the item store's alone)."""
    if isinstance(value, Tensor):
        return value.ndim <= window.ndim
    return type(value) in (int, float, bool)


def _store_into(window: Tensor, value) -> None:
    """`x[key] = value` through `window`, the view `x[key]` takes."""
    if isinstance(value, Tensor):
        window.copy_(value)
    else:
        window.fill_(value)


class Translator(
    ReadsMixin, CallsMixin, AttributesMixin, OptimizerMixin, ContainersMixin, GeneratorsMixin
):
    """Runs one call concolically. `run_top` returns the result Var; then
    `breaks`, `guards`, the recorder and the effects describe the trace."""

    def __init__(self, recorder, top_globals: dict, stop_at: int | None = None):
        self.recorder = recorder
        # Co-execution (split.py): the translated frame's instruction index
        # to stop before, where an earlier translation broke.
        self.stop_at = stop_at
        self.passed_on: frozenset | None = None  # (see `_passed_on`)
        self.top: Frame | None = None  # the translated frame
        self.top_globals = top_globals  # the translated function's globals
        self.grad_enabled = grad_mode.state.enabled  # at entry: a guard
        self.breaks: list[GraphBreak] = []
        self.guards: dict = {}  # (source name, kind) -> (source, kind, arg)
        self.effects: list = []  # heap effects, in program order
        self.first_node = next_sequence()  # autograd nodes from here on are the trace's
        # Names of sources whose numbers are read as data, unguarded (compiler.py)
        self.data_sources: frozenset = frozenset()
        # (source name, dtype name) -> the 0-d tensor a host number became as
        # a tensor operand (reads.number_input): one graph input per number.
        self.number_inputs: dict = {}
        # (id(object), attribute or key) -> (object, Var): what the trace stored
        # there, read back as the same Var (a host value stays one).
        self.stored: dict = {}
        # id -> (object, keys) the trace wrote to: reads of those attributes or
        # items no longer show the entry state (ALL: any of them).
        self.mutated: dict = {}
        self.created: dict = {}  # id -> object the trace constructed (stores into it are local)
        self.cell_vars: dict = {}  # id(cell) -> (cell, Var) for cells the trace wrote
        self.made_cells: dict = {}  # id -> cell a frame the trace ran made (MAKE_CELL)
        # id -> (function, defaults Var, keyword defaults Var, closure Var) for
        # the functions the trace made (MAKE_FUNCTION): a compiled call makes
        # them again, over its own cells (compiled.py).
        self.made_functions: dict = {}
        # id -> (container, its length before the trace changed it, {key stored: was it there})
        self.entry_lengths: dict = {}
        self.grads_dirty = False  # a backward/zero_grad/step ran: .grad is the trace's own
        self.ran_backward = False  # the frame ran backward itself (a training step)
        self.backward_node = 0  # the autograd sequence number at that backward
        self.depth = 0
        self.active_codes: list = []  # the code objects of the frames being interpreted
        # The codes of recursive functions whose recursion the trace inlined
        # (see `calls.recursion_breaks`).
        self.recursed: set = set()
        self.frame: Frame | None = None

    # ----- reporting -----
    def graph_break(self, kind: str, explanation: str, hint: str, transient=False) -> None:
        """Records a break. `transient`: the next call will not break here
        (so the frame is not split for it)."""
        where = self.frame.location() if self.frame is not None else "?"
        # Where the translated frame was: a split stops before that instruction.
        at = None if transient or self.top is None else self.top.index
        self.breaks.append(GraphBreak(kind, where, explanation, hint, top_index=at))

    # ----- the frame loop -----
    def run_frame(self, frame: Frame) -> Var | None:
        """Interprets `frame` to its return: the result Var; None when the
        translated frame stopped at `stop_at` (it may be run on after)."""
        instructions = frame.code.instructions
        outer, self.frame = self.frame, frame
        self.depth += 1
        self.active_codes.append(original_code(frame.code.code))  # (a resume function's: its own)
        try:
            while True:
                if frame.ip == self.stop_at and frame is self.top:
                    self.stop_at = None
                    return None
                frame.index = frame.ip
                ins = instructions[frame.ip]
                frame.ip += 1
                try:
                    result = getattr(self, ins.op)(frame, ins)
                except UserException as raised:
                    handler = frame.code.handler_for(frame.index)
                    if handler is None:
                        note_frame(raised, frame)
                        raise
                    self._enter_handler(frame, handler, raised.exc)
                    continue
                if result is not None:
                    return result
        finally:
            self.depth -= 1
            self.active_codes.pop()
            self.frame = outer

    def _enter_handler(self, frame: Frame, handler, exc) -> None:
        # Exceptions caught inside the call: the call runs on, but the frame
        # is not compiled (a compiled graph has no exception edges).
        self.graph_break(
            "exception",
            f"{type(exc).__name__} raised and caught inside the frame",
            "compiled frames must not raise; move the try/except outside",
        )
        del frame.stack[handler.depth :]
        if handler.lasti:
            frame.stack.append(Var(frame.code.instructions[frame.index].offset))
        frame.stack.append(Var(exc))
        frame.ip = handler.target

    # ----- locals, globals, cells, constants -----
    def LOAD_FAST(self, f, ins):
        var = f.locals.get(ins.argval)
        if var is None:
            raise UserException(
                UnboundLocalError(f"local variable '{ins.argval}' referenced before assignment")
            )
        f.stack.append(var)

    def LOAD_FAST_AND_CLEAR(self, f, ins):
        f.stack.append(f.locals.pop(ins.argval, NULL))

    def STORE_FAST(self, f, ins):
        var = f.stack.pop()
        if var is NULL:
            f.locals.pop(ins.argval, None)
        else:
            f.locals[ins.argval] = var

    def DELETE_FAST(self, f, ins):
        f.locals.pop(ins.argval, None)

    def LOAD_CONST(self, f, ins):
        f.stack.append(Var(ins.argval))

    def RETURN_VALUE(self, f, ins):
        return f.stack.pop()

    def RETURN_CONST(self, f, ins):
        return Var(ins.argval)

    def LOAD_GLOBAL(self, f, ins):
        name = ins.argval
        if name in f.globals:
            value, source = f.globals[name], f.global_source(name, False)
            stored = self.stored_var(f.globals, name, value)
            if stored is not None:  # the trace stored it: its Var, not the entry's value
                if ins.push_null:
                    f.stack.append(NULL)
                f.stack.append(stored)
                return
        elif name in f.builtins:
            value, source = f.builtins[name], f.global_source(name, True)
        else:
            raise UserException(NameError(f"name '{name}' is not defined"))
        if ins.push_null:
            f.stack.append(NULL)
        f.stack.append(self.read(value, source))

    def STORE_GLOBAL(self, f, ins):
        var = f.stack.pop()
        self.effects.append(("setglobal", f.globals, ins.argval, var))
        f.globals[ins.argval] = var.value
        self.remember_store(f.globals, ins.argval, var)

    def MAKE_CELL(self, f, ins):
        name = ins.argval
        value = f.locals.pop(name, None)
        cell = types.CellType() if value is None else types.CellType(value.value)
        f.cells[name] = cell
        self.made_cells[id(cell)] = cell
        if value is not None:
            self.cell_vars[id(cell)] = (cell, value)

    def LOAD_CLOSURE(self, f, ins):
        f.stack.append(Var(f.cells[ins.argval]))

    def LOAD_DEREF(self, f, ins):
        cell = f.cells[ins.argval]
        try:
            contents = cell.cell_contents
        except ValueError:
            raise UserException(
                NameError(f"free variable '{ins.argval}' referenced before assignment")
            ) from None
        written = self.cell_vars.get(id(cell))
        if written is not None and written[1].value is contents:
            f.stack.append(written[1])
        else:
            source = None if id(cell) in self.cell_vars else self.cell_source(f, ins.argval, cell)
            f.stack.append(self.read(contents, source))

    def STORE_DEREF(self, f, ins):
        var = f.stack.pop()
        cell = f.cells[ins.argval]
        # (A cell the trace made, which an inlined closure writes, is the
        # trace's own: each compiled call makes it again, compiled.py.)
        source = None if id(cell) in self.made_cells else self.cell_source(f, ins.argval, cell)
        if source is not None:  # a cell from outside the frame: the store is an effect
            where = source.cell() if isinstance(source, FreeVar) else source.base
            self.effects.append(("setattr", Var(cell, where), "cell_contents", var))
        cell.cell_contents = var.value
        self.cell_vars[id(cell)] = (cell, var)

    def cell_source(self, f: Frame, name: str, cell):
        """The source of `cell`'s contents as frame `f` sees it. A function
        the trace made (a 3.11 comprehension, a lambda) over the translated
        frame's free variables holds that frame's cells, which each call
        passes anew (a resume function's closure): it reads them as the
        translated frame's own (not as a fixed cell, which only an inlined
        function from outside, guarded by identity, holds)."""
        made = self.made_functions.get(id(f.function))
        if f is not self.top and made is not None and made[0] is f.function:
            for top_name, top_cell in self.top.closure.items():
                if top_cell is cell:
                    return FreeVar(top_name)
        return f.cell_source(name, cell)

    # ----- stack -----
    def POP_TOP(self, f, ins):
        f.stack.pop()

    def PUSH_NULL(self, f, ins):
        f.stack.append(NULL)

    def COPY(self, f, ins):
        f.stack.append(f.stack[-ins.arg])

    def SWAP(self, f, ins):
        s = f.stack
        s[-1], s[-ins.arg] = s[-ins.arg], s[-1]

    def END_FOR(self, f, ins):
        f.pop(2)

    # ----- operators -----
    def BINARY_OP(self, f, ins):
        a, b = f.pop(2)
        symbol = ins.argval
        if symbol.endswith("=") and a.source is not None and type(a.value) in (list, dict):
            self.graph_break(
                "effect",
                f"in-place {symbol} on a list or dict from outside the frame",
                "build a new container instead",
            )
        fn = BINARY_OPERATORS[symbol]
        if a.host is not None or b.host is not None:  # `total += loss.item()`
            f.stack.append(self.compute(fn, [a, b], "an operand"))
            return
        self.check_state(a, "an operand")
        self.check_state(b, "an operand")
        result = do(fn, self.baked(a, "an operand"), self.baked(b, "an operand"))
        if type(result) in (list, dict, set):
            if result is a.value:  # `xs += ...` grew it: its element Vars are stale
                a.items = None
            else:  # `[None] * n`, `xs + ys`, `d | e`: a new container the trace owns
                self.created[id(result)] = result
        f.stack.append(Var(result))

    def COMPARE_OP(self, f, ins):
        a, b = f.pop(2)
        f.stack.append(self.compute(COMPARISONS[ins.argval], [a, b], "compared"))

    def IS_OP(self, f, ins):
        a, b = f.pop(2)
        same_source = (
            a.source is not None and b.source is not None and a.source.name == b.source.name
        )
        for var in (a, b):  # identity between two objects rests on both identities
            if same_source:  # `x is x`: true whatever x is
                break
            if a.value is not None and b.value is not None and var.source is not None:
                self.guard(var.source, "is", var.value)
        result = (a.value is b.value) != bool(ins.arg)
        f.stack.append(Var(result))

    def CONTAINS_OP(self, f, ins):
        item, container = f.pop(2)
        if container.source is not None and not is_constant(container.value):
            if isinstance(container.value, dict) and is_constant(item.value):
                self._guard_keys(container)
            elif not isinstance(container.value, (list, tuple)):
                self.graph_break(
                    "unsupported",
                    f"`in` on a {type(container.value).__name__} from outside the frame",
                    "pass the decision in as an argument",
                )
        found = do(
            operator.contains, self.value(container, "searched"), self.baked(item, "searched")
        )
        if isinstance(container.value, (list, tuple)):  # (a dict's keys: `_guard_keys`)
            self.baked(container, "searched")
        f.stack.append(Var(found != bool(ins.arg)))

    def _guard_keys(self, container: Var) -> None:
        # Present keys are guarded by reading them; an absent key cannot be
        # expressed as a native check, so the key set is pinned by its size
        # and the present keys' types.
        self.guard_len(container)
        for k in container.value:
            if is_constant(k):
                self.read(container.value[k], container.source.item(k))

    def UNARY_NEGATIVE(self, f, ins):
        f.stack.append(self.compute(operator.neg, [f.stack.pop()], "negated"))

    def UNARY_POSITIVE(self, f, ins):
        f.stack.append(self.compute(operator.pos, [f.stack.pop()], "an operand"))

    def UNARY_INVERT(self, f, ins):
        f.stack.append(self.compute(operator.invert, [f.stack.pop()], "an operand"))

    def UNARY_NOT(self, f, ins):
        f.stack.append(Var(not self.truth(f.stack.pop())))

    def truth(self, var: Var) -> bool:
        """A branch decision on `var`."""
        if isinstance(var.value, (list, tuple, dict)):
            self.guard_len(var)
        if isinstance(var.value, Tensor):
            self.graph_break(
                "data-dependent",
                "a branch on tensor data",
                "branch on Python values, or compute both sides with torch.where",
            )
        decided = self.user_truth(var)
        if decided is not None:  # by the user's __bool__ or __len__, inlined
            return self.truth(decided)
        if self.state_unchecked(var):  # truth from the object's state, if its type has any
            if hasattr(type(var.value), "__bool__"):
                self.check_state(var, "a branch condition")
            elif hasattr(type(var.value), "__len__"):  # truth is len() != 0
                self.guard(var.source, "len", do(len, var.value))
        return bool(do(bool, self.value(var, "a branch condition")))

    # ----- jumps -----
    def JUMP(self, f, ins):
        f.ip = ins.target

    def POP_JUMP_IF_TRUE(self, f, ins):
        if self.truth(f.stack.pop()):
            f.ip = ins.target

    def POP_JUMP_IF_FALSE(self, f, ins):
        if not self.truth(f.stack.pop()):
            f.ip = ins.target

    def POP_JUMP_IF_NONE(self, f, ins):
        if f.stack.pop().value is None:
            f.ip = ins.target

    def POP_JUMP_IF_NOT_NONE(self, f, ins):
        if f.stack.pop().value is not None:
            f.ip = ins.target

    def JUMP_IF_TRUE_OR_POP(self, f, ins):
        if self.truth(f.stack[-1]):
            f.ip = ins.target
        else:
            f.stack.pop()

    def JUMP_IF_FALSE_OR_POP(self, f, ins):
        if not self.truth(f.stack[-1]):
            f.ip = ins.target
        else:
            f.stack.pop()

    # ----- items (attributes: attributes.py) -----
    def BINARY_SUBSCR(self, f, ins):
        container, key = f.pop(2)
        method = _user_getitem(container.value)
        if method is not None:  # a dataset's, a user container's: inlined
            self.guard_class_attribute(container, "__getitem__", instance=False)
            f.stack.append(self.call(Var(method), [container, key], {}))
            return
        if isinstance(container.value, Tensor):  # `x[i : i + n]`, i changing: no break
            taken = self.dynamic_slice(container, key)
            if taken is not None:
                f.stack.append(taken)
                return
        if self._passed_on(f) and type(container.value) in (tuple, list, dict):
            # `f(tree[0])` where this translation splits at f: the call runs
            # in Python and nothing else sees the item, so it is not guarded
            # (a new subtree or leaf is no guard miss); a compiled call reads
            # it on entry.
            source = self.child_source(container, lambda s: s.item(key.value), key.value)
            if source is not None:
                value = do(operator.getitem, container.value, key.value)
                f.stack.append(Var(value, source, host=OUTSIDE_PYTHON))
                return
        self.guard_contents(key)  # (`x[idx]` with a list or tuple from outside: its elements)
        k = self.value(key, "an index")
        items = container.tracked_items()
        if items is not None and not isinstance(k, slice):
            # An element of a container the trace built keeps its tracking.
            if isinstance(items, dict) and k in items:
                f.stack.append(items[k])
                return
            if isinstance(items, list) and isinstance(k, int) and -len(items) <= k < len(items):
                f.stack.append(items[k])
                return
        if isinstance(k, slice):
            f.stack.append(self.slice_of(container, k))
            return
        value = do(operator.getitem, self.value(container, "indexed"), k)
        source = None
        if is_constant(k) and not isinstance(container.value, Tensor):
            source = self.child_source(container, lambda s: s.item(k), k)
            if source is None and container.source is not None:
                self.read_back(container, k)
                stored = self.stored_var(container.value, k, value)
                if stored is not None:
                    f.stack.append(stored)
                    return
        f.stack.append(self.read(value, source))

    def _passed_on(self, f) -> bool:
        """Is the instruction `f` runs a subscript whose result only reaches
        the call this translation splits at (`subscripts_passed_to`)?"""
        if self.stop_at is None or f is not self.top:
            return False
        if self.passed_on is None:
            self.passed_on = subscripts_passed_to(f.code, self.stop_at)
        return f.index in self.passed_on

    def BINARY_SLICE(self, f, ins):
        container, start, stop = f.pop(3)
        key = self.slice_var([start, stop])
        if key.host is not None and isinstance(container.value, Tensor):
            taken = self.dynamic_slice(container, key)
            if taken is not None:
                f.stack.append(taken)
                return
        f.stack.append(self.slice_of(container, self.value(key, "a slice bound")))

    def STORE_SUBSCR(self, f, ins):
        value, container, key = f.pop(3)
        target = container.value
        if isinstance(target, Tensor) and self._store_window(container, key, value):
            return
        self.guard_contents(key)
        k = self.value(key, "an index")
        if isinstance(target, Tensor):
            do(operator.setitem, target, k, self.baked(value, "stored into a tensor"))
            return
        if container.source is not None:
            self.remember_length(container, k)
            self.effects.append(("setitem", container, k, value))
        elif container.items is None and id(target) not in self.created:
            self.graph_break(
                "effect",
                f"an item store into a {type(target).__name__} the frame did not receive",
                "store into containers reachable from arguments or globals",
            )
        if container.items is not None:
            if isinstance(container.items, dict) or (
                isinstance(k, int) and -len(container.items) <= k < len(container.items)
            ):
                container.items[k] = value
            else:
                container.items = None
        do(operator.setitem, target, k, value.value)
        self.mark_mutated(target, k if is_constant(k) else ALL)
        if is_constant(k):
            self.remember_store(target, k, value)

    def _store_window(self, container: Var, key: Var, value: Var) -> bool:
        """`x[i] = v` or `x[i:j] = v` with `i` changing from call to call:
        a write into the window `dynamic_slice` takes (put back into `x` at
        the call's positions, as any write into it is). False where the key
        changes nothing, or where the store records autograd history (a
        different op from a write into a view: kept as the item store)."""
        target, v = container.value, value.value
        grads = target.requires_grad or (isinstance(v, Tensor) and v.requires_grad)
        if grads and grad_mode.state.enabled:
            return False
        window = self.dynamic_slice(container, key)
        if window is None or not _fits(v, window.value):
            return False
        do(_store_into, window.value, self.baked(value, "stored into a tensor"))
        return True

    def STORE_SLICE(self, f, ins):
        value, container, start, stop = f.pop(4)
        if isinstance(container.value, Tensor):
            key = self.slice_var([start, stop])
            if key.host is not None and self._store_window(container, key, value):
                return
        s = slice(self.value(start, "a slice bound"), self.value(stop, "a slice bound"))
        if not isinstance(container.value, Tensor):
            self.graph_break(
                "effect", "slice assignment into a Python container", "build a new list"
            )
        do(operator.setitem, container.value, s, self.value(value, "stored"))

    def DELETE_SUBSCR(self, f, ins):
        container, key = f.pop(2)
        if container.source is not None:
            self.graph_break(
                "effect", "del on a container from outside the frame", "build a new container"
            )
        container.items = None
        do(operator.delitem, container.value, self.value(key, "an index"))

    # ----- with, exceptions -----
    def BEFORE_WITH(self, f, ins):
        manager = f.stack.pop()
        cm = self.value(manager, "a context manager")
        exit_ = do(getattr, type(cm), "__exit__")
        enter = do(getattr, type(cm), "__enter__")
        f.stack.append(Var(types.MethodType(exit_, cm), self_var=manager))
        bound = Var(types.MethodType(enter, cm), self_var=manager)
        f.stack.append(self.call(bound, [], {}))

    def PUSH_EXC_INFO(self, f, ins):
        exc = f.stack.pop()
        f.stack.append(Var(None))  # the previous exception, for POP_EXCEPT
        f.stack.append(exc)

    def POP_EXCEPT(self, f, ins):
        f.stack.pop()

    def CHECK_EXC_MATCH(self, f, ins):
        kind = f.stack.pop()
        f.stack.append(Var(isinstance(f.stack[-1].value, kind.value)))

    def RERAISE(self, f, ins):
        exc = f.stack.pop()
        raise UserException(exc.value)

    def WITH_EXCEPT_START(self, f, ins):
        exc = f.stack[-1].value
        exit_ = f.stack[-4]
        f.stack.append(Var(do(exit_.value, type(exc), exc, exc.__traceback__)))

    def RAISE_VARARGS(self, f, ins):
        args = f.pop(ins.arg)
        if ins.arg == 0:
            raise UserException(RuntimeError("No active exception to reraise"))
        exc = args[0].value
        if isinstance(exc, type):
            exc = do(exc)
        if ins.arg == 2:
            exc.__cause__ = args[1].value
        raise UserException(exc)

    def LOAD_ASSERTION_ERROR(self, f, ins):
        f.stack.append(Var(AssertionError))

    # ----- imports -----
    def IMPORT_NAME(self, f, ins):
        level, fromlist = (v.value for v in f.pop(2))
        module = do(__import__, ins.argval, f.globals, None, fromlist, level)
        f.stack.append(Var(module))

    def IMPORT_FROM(self, f, ins):
        f.stack.append(Var(do(getattr, f.stack[-1].value, ins.argval)))


# The opcodes of the normalized form the translator has a handler for.
SUPPORTED = frozenset(name for name in dir(Translator) if name.isupper())
