"""One instruction form for CPython 3.11 and 3.12 bytecode.

The translator has one handler per opcode of this form, so version
differences live here only:
- jumps carry the index of their target instruction (3.11 has forward and
  backward variants of each conditional jump; 3.12 has relative jumps);
- `LOAD_ATTR` carries `method` (3.11 spells it `LOAD_METHOD`, 3.12 sets the
  low bit of the argument); `LOAD_GLOBAL` carries `push_null`;
- `FOR_ITER` targets the first instruction after the loop and pops the
  iterator when it is exhausted (3.12 jumps to an `END_FOR` that it skips);
- instructions with no effect on the stack or locals (`RESUME`, `PRECALL`,
  `NOP`, `CACHE`, `EXTENDED_ARG`, `COPY_FREE_VARS`) are dropped; the frame is
  set up with its free variables already in place;
- `LOAD_FAST_CHECK` is `LOAD_FAST`; `KW_NAMES` carries its tuple of names;
  3.12's `CALL_INTRINSIC_1` list-to-tuple and unary-plus are 3.11's opcodes.
"""

from __future__ import annotations

import dis
import sys
from dataclasses import dataclass

_DROPPED = {"RESUME", "PRECALL", "NOP", "CACHE", "EXTENDED_ARG", "COPY_FREE_VARS"}

_RENAMED = {
    "LOAD_METHOD": "LOAD_ATTR",
    "LOAD_FAST_CHECK": "LOAD_FAST",
    "JUMP_FORWARD": "JUMP",
    "JUMP_BACKWARD": "JUMP",
    "JUMP_BACKWARD_NO_INTERRUPT": "JUMP",
    "POP_JUMP_FORWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_BACKWARD_IF_FALSE": "POP_JUMP_IF_FALSE",
    "POP_JUMP_FORWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_BACKWARD_IF_TRUE": "POP_JUMP_IF_TRUE",
    "POP_JUMP_FORWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_BACKWARD_IF_NONE": "POP_JUMP_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
    "POP_JUMP_BACKWARD_IF_NOT_NONE": "POP_JUMP_IF_NOT_NONE",
}

_INTRINSICS = {
    "INTRINSIC_LIST_TO_TUPLE": "LIST_TO_TUPLE",
    "INTRINSIC_UNARY_POSITIVE": "UNARY_POSITIVE",
}

_JUMPS = {
    "JUMP",
    "POP_JUMP_IF_FALSE",
    "POP_JUMP_IF_TRUE",
    "POP_JUMP_IF_NONE",
    "POP_JUMP_IF_NOT_NONE",
    "JUMP_IF_FALSE_OR_POP",
    "JUMP_IF_TRUE_OR_POP",
    "FOR_ITER",
    "SEND",
}


@dataclass
class Instruction:
    op: str
    arg: int | None
    argval: object
    offset: int  # in the original code, for exception-table lookups and reports
    line: int | None
    target: int | None = None  # index of the jump target in the normalized list
    method: bool = False  # LOAD_ATTR: push (function, self) rather than the attribute
    push_null: bool = False  # LOAD_GLOBAL: push NULL before the global

    def __repr__(self) -> str:
        extra = f" -> {self.target}" if self.target is not None else ""
        return f"{self.op} {self.argval!r}{extra}"


# What a comprehension's cleanup handler does before it re-raises (3.12).
_RESTORING = ("SWAP", "POP_TOP", "STORE_FAST")


@dataclass
class Handler:
    """An exception-table entry: instructions [start, end) jump to `target`."""

    start: int  # indexes into the normalized list
    end: int
    target: int
    depth: int
    lasti: bool


class Code:
    """A code object's normalized instructions and exception handlers."""

    def __init__(self, code):
        if sys.version_info[:2] not in ((3, 11), (3, 12)):
            raise RuntimeError(f"janus translates CPython 3.11 and 3.12 only, not {sys.version}")
        self.code = code
        raw = list(dis.get_instructions(code))
        self.instructions: list[Instruction] = []
        index_at: dict[int, int] = {}  # original offset -> index of the next kept instruction
        pending: list[int] = []
        line = code.co_firstlineno
        for ins in raw:
            pending.append(ins.offset)
            if ins.positions is not None and ins.positions.lineno is not None:
                line = ins.positions.lineno
            if ins.opname in _DROPPED:
                continue
            for offset in pending:
                index_at[offset] = len(self.instructions)
            pending.clear()
            self.instructions.append(_normalize(code, ins, line))
        for offset in pending:
            index_at[offset] = len(self.instructions)
        end_for = sys.version_info >= (3, 12)
        for ins, original in zip(self.instructions, (i for i in raw if i.opname not in _DROPPED)):
            if ins.op in _JUMPS:
                target = index_at[original.argval]
                if ins.op == "FOR_ITER" and end_for:
                    target += 1  # past END_FOR, which pops what 3.11's FOR_ITER pops itself
                ins.target = target
        self.handlers = [
            Handler(index_at[e.start], index_at[e.end], index_at[e.target], e.depth, e.lasti)
            for e in dis.Bytecode(code).exception_entries
        ]

    def handler_for(self, index: int) -> Handler | None:
        for h in self.handlers:  # entries do not overlap in 3.11+
            if h.start <= index < h.end:
                return h
        return None

    def only_restores(self, handler: Handler) -> bool:
        """Whether `handler` only puts locals back and re-raises, with no
        handler around it: 3.12's cleanup of an inlined comprehension, which
        restores the loop variable it shadowed. An exception there leaves
        the frame as if the handler were not there (no one sees the local)."""
        k = handler.target
        while k < len(self.instructions) and self.instructions[k].op in _RESTORING:
            if self.handler_for(k) is not None:
                return False
            k += 1
        ins = self.instructions[k] if k < len(self.instructions) else None
        return ins is not None and ins.op == "RERAISE" and self.handler_for(k) is None


def _normalize(code, ins, line) -> Instruction:
    op = _RENAMED.get(ins.opname, ins.opname)
    out = Instruction(op, ins.arg, ins.argval, ins.offset, line)
    if ins.opname == "LOAD_METHOD":
        out.method = True
    elif op in ("LOAD_ATTR", "LOAD_SUPER_ATTR") and sys.version_info >= (3, 12):
        out.method = bool(ins.arg & 1)
    elif op == "LOAD_GLOBAL":
        out.push_null = bool(ins.arg & 1)
    elif op == "KW_NAMES":
        out.argval = code.co_consts[ins.arg]
    elif op == "CALL_INTRINSIC_1":
        # 3.12 spells two 3.11 opcodes as intrinsics; any other intrinsic keeps
        # a name no handler has, so the code is not translated at all.
        out.op = _INTRINSICS.get(ins.argrepr, f"CALL_INTRINSIC_1 {ins.argrepr}")
    elif op == "BINARY_OP":
        out.argval = ins.argrepr  # "+", "+=", ...
    return out


# Instructions that push and consume nothing (`KW_NAMES` does neither).
_PUSH_ONLY = {"LOAD_FAST", "LOAD_CONST", "LOAD_DEREF", "LOAD_GLOBAL", "PUSH_NULL", "KW_NAMES"}


def subscripts_passed_to(code: Code, call_at: int) -> frozenset:
    """The indexes of the `name[constant]` subscripts whose results reach
    the call at `call_at` untouched, as its arguments (`self.encode(tree[0],
    x)`): from each to the call, every instruction only pushes (a load, or
    another such subscript). Nothing but the call uses such a result."""
    ins = code.instructions
    if not 0 <= call_at < len(ins) or ins[call_at].op != "CALL":
        return frozenset()
    found = []
    k = call_at - 1
    while k >= 0:
        if ins[k].op in _PUSH_ONLY and not ins[k].method:
            k -= 1
        elif (
            ins[k].op == "BINARY_SUBSCR"
            and k >= 2
            and ins[k - 1].op == "LOAD_CONST"
            and ins[k - 2].op in ("LOAD_FAST", "LOAD_DEREF")
        ):
            found.append(k)
            k -= 3
        else:
            break
    return frozenset(found)
