"""Builtins in the translator: the ones that keep sources (`len`, `range`'s
iteration, `enumerate`, `zip`, `reversed`, `iter`, `next`, `list`, `tuple`,
`getattr`), `float`/`int` of a tensor (host values), `print` (an effect),
zero-argument `super`, and the tables of builtins run concretely."""

from __future__ import annotations

import builtins

from ..tensor import Tensor
from .values import SCALARS, UserException, Var, VirtualIterator, class_attribute, do, user_code

PURE_BUILTINS = {
    abs, all, any, bool, callable, divmod, float, format, hasattr, int, isinstance, issubclass,
    max, min, pow, range, repr, round, sorted, str, sum, type, dict, set, frozenset, slice, ord,
    chr,
}  # fmt: skip

# Pure builtins whose result does not depend on a container's elements.
SHALLOW_BUILTINS = {callable, hasattr, isinstance, issubclass, type}

# Builtins whose result is always a new container.
CONSTRUCTORS = {dict, set, list, sorted}


def _len(tr, args, kwargs):
    (var,) = args
    if isinstance(var.value, (list, tuple, dict, set)):
        tr.guard_len(var)
    elif user_code(class_attribute(var.value, "__len__")):
        return tr.user_len(var)
    elif tr.state_unchecked(var):  # an object with __len__ (a dataset, a ModuleList)
        n = do(len, var.value)
        tr.guard(var.source, "len", n)
        return Var(n)
    return Var(do(len, tr.value(var, "measured")))


def _enumerate(tr, args, kwargs):
    it = tr.iterate(args[0])
    start = tr.value(args[1], "a start") if len(args) > 1 else kwargs.get("start", Var(0)).value

    def pairs():
        k = start
        while (var := tr.next_of(it)) is not None:
            yield Var((k, var.value), items=[Var(k), var])
            k += 1

    return Var(VirtualIterator(pairs(), replayable=it.replayable))


def _zip(tr, args, kwargs):
    if kwargs:
        return tr.concrete(zip, args, kwargs)
    its = [tr.iterate(a) for a in args]

    def tuples():
        while True:
            row = []
            for it in its:
                var = tr.next_of(it)
                if var is None:
                    return
                row.append(var)
            yield Var(tuple(v.value for v in row), items=row)

    return Var(VirtualIterator(tuples(), replayable=all(it.replayable for it in its)))


def _reversed(tr, args, kwargs):
    (var,) = args
    if isinstance(var.value, (list, tuple)) or var.items is not None:
        return Var(VirtualIterator(list(reversed(tr.elements(var)))))
    if var.source is not None and _reversed_by_index(var.value):  # reversed(self.blocks)
        submodules = tr.module_container_items(var)
        if submodules is not None:
            tr.guard_class_attribute(var, "__reversed__")
            tr.guard_class_attribute(var, "__getitem__")
            return Var(VirtualIterator(list(reversed(submodules))))
    return tr.concrete(reversed, args, kwargs)


def _reversed_by_index(value) -> bool:
    """Whether reversed(value) indexes a janus list of modules or parameters
    from its end (a ModuleDict's reversed indexes names by position and
    raises, as eagerly)."""
    from ..nn.modules.container import ModuleList, ParameterList, Sequential

    by_index = (ModuleList.__getitem__, Sequential.__getitem__, ParameterList.__getitem__)
    return class_attribute(value, "__reversed__") is None and (
        class_attribute(value, "__getitem__") in by_index
    )


def _iter(tr, args, kwargs):
    if len(args) != 1:
        return tr.concrete(iter, args, kwargs)
    return Var(tr.iterate(args[0]))


def _next(tr, args, kwargs):
    it = args[0].value
    if isinstance(it, VirtualIterator):
        var = tr.next_of(it)
        if var is not None:
            return var
        if len(args) > 1:
            return args[1]
        raise UserException(StopIteration())
    return tr.concrete(next, args, kwargs)


def _sequence(kind):
    def build(tr, args, kwargs):
        if not args:  # a new, empty one: the trace's own
            made = kind()
            tr.created[id(made)] = made
            return Var(made, items=[])
        if isinstance(args[0].value, Tensor):
            return tr.opaque(Var(kind), args, kwargs)
        items = tr.elements(args[0])
        return Var(kind(v.value for v in items), items=items)

    return build


def _getattr(tr, args, kwargs):
    obj, name = args[0], tr.value(args[1], "an attribute name")
    found = _attribute_or_missing(tr, obj, name)
    if found is not None:
        return found
    if len(args) > 2:
        return args[2]
    return Var(do(getattr, obj.value, name))  # raises Python's AttributeError


def _hasattr(tr, args, kwargs):
    obj, name = args[0], tr.value(args[1], "an attribute name")
    return Var(_attribute_or_missing(tr, obj, name) is not None)


def _attribute_or_missing(tr, obj: Var, name: str):
    """`getattr(obj, name)` as a Var, or None where it raises AttributeError
    (a fact the trace guards: the name is still missing from the object)."""
    value = obj.value
    try:
        read = tr.user_attribute(obj, name)
    except UserException as raised:
        if not isinstance(raised.exc, AttributeError):
            raise
        tr.graph_break(
            "exception",
            f"looking up {name} raised AttributeError in Python code of a {type(value).__name__}",
            "compiled frames must not raise; give the object the attribute",
        )
        return None
    if read is not None:
        return read
    if hasattr(value, name):
        return tr.read(do(getattr, value, name), tr.attr_source(obj, name))
    if obj.source is not None:  # missing: from the type, and from the instance
        tr.guard(obj.source, "type", type(value))
        if isinstance(getattr(value, "__dict__", None), dict):
            tr.guard(obj.source.attr("__dict__"), "contains", (name, False))
    return None


def _float_of(kind):
    def convert(tr, args, kwargs):
        if len(args) == 1 and isinstance(args[0].value, Tensor) and not kwargs:
            return Var(do(kind, args[0].value), host=(tr.pinned(args[0]), kind.__name__))
        return tr.pure(kind, args, kwargs)

    return convert


def _print(tr, args, kwargs):
    scalars = all(type(a.value) in SCALARS for a in (*args, *kwargs.values()))
    if scalars and kwargs.keys() <= {"sep", "end", "flush"}:
        # Text and numbers (host values among them) print to sys.stdout: an
        # effect a compiled call commits after its graph, in program order.
        tr.effects.append(("print", args, kwargs))
    else:
        tr.graph_break(
            "unsupported-call",
            "print() of an object, or to a file (Python I/O)",
            "print numbers and text (loss.item(), f-strings of it); the frame is split there",
        )
    return Var(builtins.print(*[a.value for a in args], **{k: v.value for k, v in kwargs.items()}))


def _super(tr, args, kwargs):
    if args or kwargs:
        return tr.concrete(super, args, kwargs)
    # Zero-argument super() reads the class cell and the first argument of
    # the frame that calls it: here, the interpreted frame.
    frame = tr.frame
    cell = frame.cells.get("__class__")
    first = frame.code.code.co_varnames[0] if frame.code.code.co_argcount else None
    if cell is None or first not in frame.locals:
        raise UserException(RuntimeError("super(): no arguments"))
    receiver = frame.locals[first]
    return Var(super(cell.cell_contents, receiver.value), self_var=receiver)


def _object_setattr(tr, args, kwargs):
    """`object.__setattr__(module, "training", mode)` (Module.train): a
    plain attribute store of a number or string on a janus module, whose
    own __setattr__ stores such values the same way. Anything else runs
    concretely (a break)."""
    from ..nn.modules.module import Module

    if len(args) == 3 and not kwargs:
        obj, name, value = args
        plain = type(value.value) in (bool, int, float, str, type(None))
        if isinstance(obj.value, Module) and type(name.value) is str and plain:
            if class_attribute(obj.value, "__setattr__") is Module.__setattr__:
                tr.guard_class_attribute(obj, "__setattr__", instance=False)
                tr.store_attribute(obj, name.value, value)
                return Var(None)
    return tr.concrete(object.__setattr__, args, kwargs)


BUILTIN_HANDLERS = {
    len: _len,
    enumerate: _enumerate,
    zip: _zip,
    reversed: _reversed,
    iter: _iter,
    next: _next,
    list: _sequence(list),
    tuple: _sequence(tuple),
    getattr: _getattr,
    hasattr: _hasattr,
    float: _float_of(float),
    int: _float_of(int),
    print: _print,
    super: _super,
    object.__setattr__: _object_setattr,
}


def lookup(table, target):
    """`table.get(target)` for a dict, `target in table` for a set; None for
    an unhashable target."""
    try:
        return table.get(target) if isinstance(table, dict) else target in table
    except TypeError:  # unhashable
        return None
