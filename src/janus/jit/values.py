"""What the translator tracks for each Python value on its stack and in locals,
and how it runs the program's own Python (`do`: its exceptions are the
program's)."""

from __future__ import annotations

import operator
import types
from dataclasses import dataclass

_CONSTANT_TYPES = (type(None), bool, int, float, str, complex, bytes, type(Ellipsis))
EXHAUSTED = object()  # next()'s default: the iterator is done


class UserException(Exception):
    """An exception the user's code raised while the translator ran it."""

    def __init__(self, exc: BaseException):
        super().__init__(exc)
        self.exc = exc
        self.frames: list = []  # (code, line) of the interpreted frames it left, innermost first


def do(fn, *args, **kwargs):
    """Runs user-level Python (an operator, a getattr, a call): its exceptions
    are the program's, not the translator's."""
    try:
        return fn(*args, **kwargs)
    except UserException:  # from a VirtualIterator the call pulled: already the program's
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised as the program's own
        raise UserException(exc) from None


def is_constant(value) -> bool:
    if type(value) in _CONSTANT_TYPES:
        return True
    return type(value) is tuple and all(is_constant(v) for v in value)


class Var:
    """A value seen by the translator.

    `value` is the concrete object (the translator runs the real call);
    `source` says how to read it from the frame's entry state, or is None for
    a value the trace computed; `items` holds the element Vars of a tuple,
    list or dict the trace built (so a rebuilt result keeps their tracking);
    `host` marks a Python number read from tensor data (`loss.item()`:
    (tensor Var, reader name)), a value Python computed outside the
    graph that a resume function received ((None, "python"), split.py), or
    one computed from those (a `HostOp`): the trace may return, store, print
    or compute with it, but a decision on it, or baking it into the graph,
    is a graph break;
    `self_var` is the receiver of a bound method loaded by `LOAD_ATTR`.
    """

    __slots__ = ("value", "source", "items", "host", "self_var")

    def __init__(self, value, source=None, items=None, host=None, self_var=None):
        self.value, self.source, self.items = value, source, items
        self.host, self.self_var = host, self_var

    def tracked_items(self):
        """`items`, if they still describe the container: Python the trace did
        not see (a call that broke, a closure) may have changed it since;
        then the tracking is dropped and the concrete value is what counts."""
        items, value = self.items, self.value
        if items is None:
            return None
        if isinstance(items, dict):
            same = type(value) is dict and len(value) == len(items)
            same = same and all(k in value and value[k] is v.value for k, v in items.items())
        else:
            same = len(value) == len(items) and all(v.value is x for v, x in zip(items, value))
        if not same:
            self.items = None
            return None
        return items

    def __repr__(self) -> str:
        where = f" from {self.source.name}" if self.source is not None else ""
        return f"Var({type(self.value).__name__}{where})"


# The types of Python values the trace may compute from host values.
SCALARS = (type(None), bool, int, float, complex, str)
_NUMBERS = (bool, int, float, complex)


def joined(*parts: str) -> str:
    return "".join(parts)


def _str_formatted(value, spec: str) -> str:
    return format(str(value), spec)


def _repr_formatted(value, spec: str) -> str:
    return format(repr(value), spec)


def _ascii_formatted(value, spec: str) -> str:
    return format(ascii(value), spec)


# FORMAT_VALUE's conversion (its arg's low bits: none, !s, !r, !a), then its spec.
CONVERSIONS = {0: format, 1: _str_formatted, 2: _repr_formatted, 3: _ascii_formatted}


# Operations a compiled call may compute after its graph: none of them can
# raise on operands of the types the trace saw (a compiled call has already
# updated tensors when it computes them, so an exception would come too late).
def sum_of(start, *numbers):
    """`sum(numbers, start)` with the numbers as arguments, as a `HostOp`
    takes them (`sum(tree.weights)` of numbers that change per call)."""
    return sum(numbers, start)


_NEVER_RAISE = {
    operator.add, operator.sub, operator.mul, operator.iadd, operator.isub, operator.imul,
    operator.neg, operator.pos, operator.lt, operator.le, operator.eq, operator.ne,
    operator.gt, operator.ge, abs, min, max, bool, sum_of,
}  # fmt: skip
_TEXT = {joined, format, _str_formatted, _repr_formatted, _ascii_formatted, str, repr}
# Divisions never raise by a divisor that is no host value and not zero.
_DIVISIONS = {
    operator.truediv, operator.floordiv, operator.mod,
    operator.itruediv, operator.ifloordiv, operator.imod,
}  # fmt: skip


def deferrable(fn, args: list) -> bool:
    """Whether `fn(*args)` on host values may be computed after the graph."""
    if fn in _TEXT:
        return True
    if fn in (operator.mod, operator.imod) and type(args[0].value) is str:
        return True  # "%.3f" % loss.item(): the format is fixed, the types guarded
    if fn in (operator.add, operator.iadd) and all(type(a.value) is str for a in args):
        return True
    if not all(type(a.value) in _NUMBERS for a in args):
        return False
    if fn is float or fn is int:  # float(x) of a float or an int from a tensor, int(n)
        return len(args) == 1 and (fn is float or type(args[0].value) in (int, bool))
    if fn in _NEVER_RAISE:
        return True
    if fn in _DIVISIONS:
        return args[1].host is None and args[1].value != 0
    return fn is round and len(args) == 2  # round(x, digits) never raises


class HostOp:
    """`Var.host` of a value that a pure Python operation computes from host
    values (`total + loss.item()`, an f-string of it, `round(lr, 3)`): a
    compiled call computes it again after its graph, from that call's
    values. `origin` is the host value it derives from (for messages)."""

    __slots__ = ("fn", "args", "origin")

    def __init__(self, fn, args: tuple):
        self.fn, self.args = fn, args
        hosts = [a.host for a in args if a.host is not None]
        first = hosts[0]
        self.origin = first.origin if isinstance(first, HostOp) else first


NULL = Var(None)  # CPython's NULL stack entry (before a callable, after LOAD_GLOBAL etc.)
OUTSIDE_PYTHON = (None, "python")  # `Var.host` of a value the graph does not compute


class VirtualIterator:
    """An iterator the translator runs itself (over a sourced list, `range`,
    `enumerate`, `zip`, ...) so that each element keeps its source. Iterating
    it from real Python (an opaque call such as `list(zip(a, b))`) yields the
    concrete values."""

    def __init__(self, vars_, replayable: bool = True):
        self._vars = iter(vars_)
        # False when pulling runs the program's Python (a generator the
        # translator interprets): then the elements to come cannot be
        # taken ahead of time (`remaining`).
        self.replayable = replayable

    def remaining(self) -> list:
        """The element Vars still to come, without consuming them."""
        rest = list(self._vars)
        self._vars = iter(rest)
        return rest

    def next_var(self):
        return next(self._vars, None)

    def __iter__(self):
        return self

    def __next__(self):
        var = self.next_var()
        if var is None:
            raise StopIteration
        return var.value


@dataclass
class GraphBreak:
    """Why (part of) a frame could not become a graph."""

    kind: str  # "unsupported-call", "data-dependent", "exception", "effect", ...
    location: str  # file:line of the instruction
    explanation: str
    hint: str
    permanent: bool = False  # every later call would break the same way
    # The translated frame's instruction running when it broke (a break in
    # an inlined callee: the call of that callee), or None (a break the next
    # call will not repeat, or outside the frame's instructions).
    top_index: int | None = None

    def __str__(self) -> str:
        return f"{self.location}: [{self.kind}] {self.explanation} (hint: {self.hint})"


def is_janus(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == "janus" or module.startswith("janus.")


_MISSING = object()


def class_attribute(obj, name):
    """What `type(obj)` defines as `name` (found along its MRO), or None."""
    for klass in type(obj).__mro__:
        found = klass.__dict__.get(name, _MISSING)
        if found is not _MISSING:
            return found
    return None


def user_code(attribute):
    """The user's Python function behind a class attribute (a method, or a
    property's getter), or None for janus's own code and for builtins. The
    translator inlines such a function where it is called implicitly
    (`obj.prop`, `len(obj)`, `obj[k]`, `if obj:`): a guard would call it
    again on every call, repeating its effects and checking its result only."""
    if type(attribute) is property:
        attribute = attribute.fget
    if isinstance(attribute, types.FunctionType) and not is_janus(attribute):
        return attribute
    return None


def is_namedtuple(cls) -> bool:
    """A class made by `collections.namedtuple` or `typing.NamedTuple`."""
    return issubclass(cls, tuple) and cls is not tuple and hasattr(cls, "_fields")


def plain_class(cls) -> bool:
    """A user class whose objects are plain: made by `object.__new__`, with
    a `__dict__` for their state, an `__init__` (if any) in Python, no janus
    or builtin base; so a new one is its attributes, and a compiled call
    can build it again from them."""
    if type(cls).__call__ is not type.__call__ or cls.__new__ is not object.__new__:
        return False
    if any(is_janus(k) or k.__module__ == "builtins" for k in cls.__mro__[:-1]):
        return False
    if any("__slots__" in k.__dict__ for k in cls.__mro__[:-1]):
        return False
    init = cls.__init__
    return init is object.__init__ or user_code(init) is not None
