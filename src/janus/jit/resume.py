"""Resume functions: the rest of a frame, from one of its instructions on, as
a function of its live state.

When a frame is split at a graph break (see `split.py`), the compiled entry
runs the graph for the part before the break, runs the breaking instruction
in Python, and then calls a resume function with the frame's state at the
next instruction: the bound locals and the values on the stack, as
positional arguments. The resume function's code is the frame's own code
with a prologue that pushes the stack back and jumps to that instruction;
everything after it is unchanged, so line numbers and tracebacks point at
the user's code. A resume function is a plain function: the frame hook
captures it like any other (it gets hot, is translated, may split again).

A stack slot is one of:
- "value": a value, passed as an argument;
- "data": the same, but a value that Python computed from data (a number
  read from a tensor, a float or string a Python call returned): a
  translation of the resume function does not specialize on it (no guard on
  its value; a decision on it breaks), or every call would recompile;
- "null": CPython's NULL below a callable (pushed with PUSH_NULL).
Locals named in `data` are "data" parameters too (`data_parameters`).
"""

from __future__ import annotations

import dis
import inspect
import types

from bytecode import Bytecode, CellVar, FreeVar, Instr, Label

_STACK_PREFIX = "__janus_stack"
# Flags that change how arguments bind: the resume function takes positional
# arguments only (a `*args` tuple or `**kwargs` dict arrives as one value).
_BINDING_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS

_cache: dict = {}  # (code, offset, stack kinds, local names) -> code
# A resume function's code -> its "data" parameters (see above).
data_parameters: dict = {}
# A resume function's code -> (the code it continues, its instruction
# offsets -> that code's). A resume function of a resume function continues
# the original code: a loop that splits resumes at the same points on every
# iteration, and each point gets one function (whose compiled entries serve
# every iteration), not a new one per iteration.
_origins: dict = {}


def original_code(code):
    """The code a resume function continues (`code` itself for any other)."""
    known = _origins.get(code)
    return code if known is None else known[0]


def resume_function(function, offset: int, stack: tuple, names: tuple, data: tuple = ()):
    """The function that continues `function`'s frame at the instruction at
    byte `offset`, taking the locals `names` and then the stack slots `stack`
    (kinds, bottom first; "null" slots take no argument) as arguments."""
    code = function.__code__
    if code in _origins and offset in _origins[code][1]:
        code, offsets = _origins[code]
        offset = offsets[offset]
    # ("data" slots are part of the key, data locals are not: the code is the
    # same, and its translations read every local ever passed as data so.)
    key = (code, offset, stack, names)
    resumed = _cache.get(key)
    if resumed is None:
        slots = _slot_names(code, stack)
        resumed, prologue = _resume_code(code, offset, stack, slots, names)
        _cache[key] = resumed
        offsets = _offsets_in(resumed, code, prologue)
        if offsets is not None:  # (else its own resume functions continue it)
            _origins[resumed] = (code, offsets)
        stack_data = {slot for slot, kind in zip(slots, stack) if kind == "data"}
        data_parameters[resumed] = frozenset(stack_data)
    data_parameters[resumed] |= frozenset(data)
    # Its closure: the frame's own cells, then its free variables' (see
    # `_cells_as_free`). Each call of the split passes that call's cells;
    # these stand in until then.
    closure = function.__closure__ or ()
    missing = len(resumed.co_freevars) - len(closure)
    closure = tuple(types.CellType() for _ in range(missing)) + closure
    return types.FunctionType(resumed, function.__globals__, resumed.co_name, None, closure or None)


def _resume_code(code, offset: int, stack: tuple, slots: list, names: tuple):
    bc = Bytecode.from_code(code)
    target = _label_at(bc, code, offset)
    _cells_as_free(bc)
    # The frame's head (COPY_FREE_VARS, RESUME) stays first; the prologue
    # follows it, and the rest of the code is unchanged after that.
    head = 0
    while not isinstance(bc[head], Instr) or bc[head].name != "RESUME":
        head += 1
    location = _location_of(bc, target)
    prologue = []
    arguments = []
    for k, kind in enumerate(stack):
        if kind == "null":
            prologue.append(Instr("PUSH_NULL", location=location))
            continue
        name = slots[k]
        arguments.append(name)
        prologue.append(Instr("LOAD_FAST", name, location=location))
    prologue.append(Instr("JUMP_FORWARD", target, location=location))
    bc[head + 1 : head + 1] = prologue
    # The frame's locals first, in their order: the code's first parameter
    # stays first, which 3.11's zero-argument super() reads as `self`.
    bc.argnames = [*names, *arguments]
    bc.argcount = len(bc.argnames)
    bc.posonlyargcount = 0
    bc.kwonlyargcount = 0
    bc.flags = bc.flags & ~_BINDING_FLAGS
    line = location.lineno if location is not None else code.co_firstlineno
    bc.name = code.co_name  # what tracebacks show: the user's function
    bc.qualname = f"{code.co_qualname}.<resume at line {line}>"
    return bc.to_code(), len(prologue)


def _cells_as_free(bc: Bytecode) -> None:
    """Makes the frame's own cells free variables, ahead of its own: the
    resume function continues a frame whose cells already exist (closures
    the first part made share them), so it receives them, where the frame
    made them (MAKE_CELL) at its start."""
    cells = list(bc.cellvars)
    if not cells:
        return
    bc.freevars = cells + list(bc.freevars)
    bc.cellvars = []
    kept = []
    for item in bc:
        if isinstance(item, Instr):
            if item.name == "MAKE_CELL":
                continue
            if isinstance(item.arg, CellVar):
                item.arg = FreeVar(item.arg.name)
            elif item.name == "COPY_FREE_VARS":
                item.arg = len(bc.freevars)
        kept.append(item)
    if not any(isinstance(i, Instr) and i.name == "COPY_FREE_VARS" for i in kept):
        kept.insert(0, Instr("COPY_FREE_VARS", len(bc.freevars)))
    bc[:] = kept


def _offsets_in(resumed, code, prologue: int) -> dict | None:
    """The resumed code's instruction offsets -> `code`'s: its instructions
    are `code`'s with the prologue's in front (after the frame's head, which
    may differ: see `_cells_as_free`). None if the assembler laid them out
    otherwise."""
    mine, theirs = _instructions(resumed), _instructions(code)
    mine_head = next(k for k, ins in enumerate(mine) if ins.opname == "RESUME") + 1
    head = next(k for k, ins in enumerate(theirs) if ins.opname == "RESUME") + 1
    if len(mine) - mine_head != len(theirs) - head + prologue:
        return None
    offsets = {}
    for ours, original in zip(mine[mine_head + prologue :], theirs[head:]):
        if _JUMP_NAMES.get(ours.opname, ours.opname) != _JUMP_NAMES.get(
            original.opname, original.opname
        ):
            return None
        offsets[ours.offset] = original.offset
    return offsets


def _instructions(code) -> list:
    return [i for i in dis.get_instructions(code) if i.opname != "EXTENDED_ARG"]


# Jumps the assembler may turn around (a forward jump becoming a backward one
# as code moves) are the same instruction for the mapping.
_JUMP_NAMES = {"JUMP_FORWARD": "JUMP", "JUMP_BACKWARD": "JUMP"}


def _slot_names(code, stack: tuple) -> list:
    """Parameter names for the stack slots, distinct from the code's locals
    (a resume function of a resume function has slots of its own)."""
    taken = set(code.co_varnames)
    level = 0
    while any(f"{_STACK_PREFIX}{level}_{k}" in taken for k in range(len(stack))):
        level += 1
    return [f"{_STACK_PREFIX}{level}_{k}" for k in range(len(stack))]


def _label_at(bc: Bytecode, code, offset: int) -> Label:
    """A label placed before the instruction at byte `offset` of `code`."""
    # The abstract form holds the same instructions as `dis` minus CACHE and
    # EXTENDED_ARG, in order; matching names on the way checks that.
    real = [i for i in dis.get_instructions(code) if i.opname != "EXTENDED_ARG"]
    k = 0
    for position, item in enumerate(bc):
        if not isinstance(item, Instr):
            continue
        if real[k].opname != item.name:
            raise ValueError(f"bytecode of {code.co_qualname} does not match dis at {k}")
        if real[k].offset == offset:
            label = Label()
            bc.insert(position, label)
            return label
        k += 1
    raise ValueError(f"no instruction at offset {offset} in {code.co_qualname}")


def _location_of(bc: Bytecode, label: Label):
    at = bc.index(label)
    for item in bc[at:]:
        if isinstance(item, Instr):
            return item.location
    return None
