"""Containers and iteration in the translator: building tuples, lists and
dicts (their element Vars are kept, so a rebuilt result keeps their
tracking), unpacking, and loops. Iterating a container that came from
outside the frame gives elements with sources (`L['xs'][2]`), and guards
its length, so a loop over it unrolls with a guard on the trip count. The
methods of lists and dicts: an append to an outside list is an effect,
other changes to outside containers are breaks, and `d.get`, `d.items()`
read an outside dict with sources."""

from __future__ import annotations

import operator

from ..tensor import Tensor
from .reads import ALL
from .sources import Item
from .values import (
    CONVERSIONS,
    EXHAUSTED,
    UserException,
    Var,
    VirtualIterator,
    class_attribute,
    do,
    is_constant,
    joined,
    user_code,
)


class ContainersMixin:
    # ----- methods of lists and dicts -----
    def call_container_method(self, fn: Var, method, args, kwargs) -> Var:
        receiver = fn.self_var
        name = method.__name__
        container = method.__self__
        mutating = name in ("append", "extend", "insert", "pop", "remove", "clear", "update",
                            "setdefault", "sort", "reverse", "popitem", "__setitem__")  # fmt: skip
        if mutating and receiver is not None and receiver.source is not None:
            self.remember_length(receiver)
            if name == "append":
                self.effects.append(("append", receiver, args[0]))
            else:
                self.graph_break(
                    "effect",
                    f"{type(container).__name__}.{name} on a container from outside the frame",
                    "build a new container and return it",
                )
        elif mutating and receiver is not None and receiver.items is None:
            if id(container) not in self.created:
                self.graph_break(
                    "effect",
                    f"{type(container).__name__}.{name} on a container the frame did not receive",
                    "mutate containers reachable from arguments or globals",
                )
        if mutating:
            self.mark_mutated(container)
            if receiver is not None and receiver.items is not None:
                if name == "append" and isinstance(receiver.items, list):
                    receiver.items.append(args[0])
                elif name == "extend" and isinstance(receiver.items, list) and len(args) == 1:
                    # (`out.extend(flatten(x))`: the elements keep their tracking,
                    # as `[*a, *b]` does)
                    added = self.elements(args[0])
                    receiver.items.extend(added)
                    container.extend(v.value for v in added)
                    return Var(None)
                else:
                    receiver.items = None
        if not mutating and receiver is not None and isinstance(container, dict):
            if name in ("items", "keys", "values") and receiver.source is not None:
                return self.dict_view(receiver, name)
            if name == "get" and receiver.source is not None:
                found = self._dict_get(receiver, args, kwargs)
                if found is not None:
                    return found
        if name == "append" and len(args) == 1 and not kwargs:
            # The element may be a number read from tensor data: it is stored,
            # not decided on, so it stays a Var the compiled call rebuilds.
            return Var(do(method, args[0].value))
        return self.concrete(method, args, kwargs)

    def _dict_get(self, receiver: Var, args: list, kwargs: dict) -> Var | None:
        """`d.get(key[, default])` of a dict from outside. Whether the key is
        there is a decision on the dict: guarded as for `key in d`
        (`_guard_keys`), or a break once the trace changed the dict, unless
        it stored that key itself. By a constant key, the value is read as
        `d[key]` is (a number that changes per call stays data, a tensor
        an input, a value the trace stored is that Var), or is the default;
        None where it must run concretely."""
        container = receiver.value
        # (A key that changes from call to call, read as data, is no
        # constant: which item the call gets would be baked, so it breaks.)
        key = self.value(args[0], "a dict key") if args and is_constant(args[0].value) else ALL
        mutated = self.is_mutated(container)
        if mutated:
            self.read_back(receiver, key)
        else:
            self._guard_keys(receiver)
        if key is ALL or kwargs or not 1 <= len(args) <= 2:
            return None
        if key not in container:
            return args[1] if len(args) == 2 else Var(None)
        if mutated:
            return self.stored_var(container, key, container[key])
        return self.read(container[key], receiver.source.item(key))

    def dict_view(self, receiver: Var, name: str) -> Var:
        pairs = self.dict_items(receiver)
        if name == "keys":
            return Var(VirtualIterator(Var(k) for k in pairs))
        if name == "values":
            return Var(VirtualIterator(list(pairs.values())))
        items = [Var((k, v.value), items=[Var(k), v]) for k, v in pairs.items()]
        return Var(VirtualIterator(items))

    # ----- building containers -----
    def BUILD_TUPLE(self, f, ins):
        items = f.pop(ins.arg)
        f.stack.append(Var(tuple(v.value for v in items), items=items))

    def BUILD_LIST(self, f, ins):
        items = f.pop(ins.arg)
        f.stack.append(Var([v.value for v in items], items=items))

    def BUILD_SET(self, f, ins):
        items = f.pop(ins.arg)
        f.stack.append(Var(do(set, [self.baked(v, "a set element") for v in items])))

    def BUILD_MAP(self, f, ins):
        flat = f.pop(2 * ins.arg)
        keys = [self.baked(k, "a dict key") for k in flat[0::2]]
        items = dict(zip(keys, flat[1::2]))
        f.stack.append(Var({k: v.value for k, v in items.items()}, items=items))

    def BUILD_CONST_KEY_MAP(self, f, ins):
        *values, keys = f.pop(ins.arg + 1)
        items = dict(zip(keys.value, values))
        f.stack.append(Var({k: v.value for k, v in items.items()}, items=items))

    def BUILD_SLICE(self, f, ins):
        f.stack.append(self.slice_var(f.pop(ins.arg)))

    def BUILD_STRING(self, f, ins):
        f.stack.append(self.compute(joined, f.pop(ins.arg), "formatted"))

    def FORMAT_VALUE(self, f, ins):
        spec = f.stack.pop() if ins.arg & 0x04 else Var("")
        var = f.stack.pop()
        if isinstance(var.value, Tensor):
            self.graph_break("data-dependent", "a tensor formatted as text", "format outside")
        convert = CONVERSIONS[ins.arg & 0x03]
        f.stack.append(self.compute(convert, [var, spec], "formatted"))

    def LIST_APPEND(self, f, ins):
        var = f.stack.pop()
        target = f.stack[-ins.arg]
        if target.source is not None:
            # A comprehension's list that a resume function received (the
            # frame split inside the comprehension): an append to it is an
            # effect on the caller's list, as `xs.append(v)` is.
            self.remember_length(target)
            self.effects.append(("append", target, var))
            self.mark_mutated(target.value)
        target.value.append(var.value)
        if target.items is not None:
            target.items.append(var)

    def SET_ADD(self, f, ins):
        var = f.stack.pop()
        target = f.stack[-ins.arg]
        element = self.baked(var, "a set element")
        if target.source is not None:  # (as in LIST_APPEND)
            self.remember_length(target, element)
            self.effects.append(("add", target, Var(element)))
            self.mark_mutated(target.value)
        do(target.value.add, element)

    def MAP_ADD(self, f, ins):
        key, var = f.pop(2)
        target = f.stack[-ins.arg]
        k = self.baked(key, "a dict key")
        if target.source is not None:  # (as in LIST_APPEND)
            self.remember_length(target, k)
            self.effects.append(("setitem", target, k, var))
            self.mark_mutated(target.value, k if is_constant(k) else ALL)
        target.value[k] = var.value
        if target.items is not None:
            target.items[k] = var

    def LIST_EXTEND(self, f, ins):
        src = f.stack.pop()
        target = f.stack[-ins.arg]
        added = self.elements(src)
        target.value.extend(v.value for v in added)
        if target.items is not None:
            target.items.extend(added)

    def LIST_TO_TUPLE(self, f, ins):
        var = f.stack.pop()
        f.stack.append(Var(tuple(var.value), items=var.items))

    def DICT_UPDATE(self, f, ins):
        src = f.stack.pop()
        target = f.stack[-ins.arg]
        pairs = self.dict_items(src)
        target.value.update((k, v.value) for k, v in pairs.items())
        if target.items is not None:
            target.items.update(pairs)

    DICT_MERGE = DICT_UPDATE

    def elements(self, var: Var) -> list:
        """The element Vars of an iterable (keeping sources where it has them)."""
        items = var.tracked_items()
        if isinstance(items, list):
            return list(items)
        it = self.iterate(var)
        out = []
        while True:
            element = self.next_of(it)
            if element is None:
                return out
            out.append(element)

    def dict_items(self, var: Var) -> dict:
        items = var.tracked_items()
        if isinstance(items, dict):
            return dict(items)
        value = self.value(var, "unpacked")
        self.guard_len(var)
        return {
            k: self.read(
                v, self.child_source(var, lambda s, k=k: s.item(k), k) if is_constant(k) else None
            )
            for k, v in do(dict, value).items()
        }

    def slice_of(self, container: Var, s: slice) -> Var:
        """`container[s]`. A slice of a list or tuple keeps its elements'
        tracking: from outside the frame, each element gets its source (a
        compiled call must read the call's own elements, not hold the ones
        this trace saw), and the length the slice depended on is guarded."""
        value = do(operator.getitem, self.value(container, "sliced"), s)
        if type(container.value) not in (list, tuple):
            return Var(value)
        if container.items is not None and isinstance(container.items, list):
            return Var(value, items=container.items[s])
        if container.source is None:
            return Var(value)
        # Changed by the trace (`history.append(x); history[-2:]`): as for
        # iterating it, a break unless the trace's writes say it all; which
        # elements the slice takes follows from the length, guarded either way.
        mutated = self.is_mutated(container.value)
        if mutated:
            self.read_back(container)
        self.guard_len(container)
        positions = range(len(container.value))[s]
        items = [
            self.read(container.value[k], None if mutated else Item(container.source, k))
            for k in positions
        ]
        return Var(value, items=items)

    def UNPACK_SEQUENCE(self, f, ins):
        var = f.stack.pop()
        if isinstance(var.value, Tensor):
            parts = [Var(t) for t in do(list, var.value)]
        else:
            parts = self.elements(var)
        if len(parts) != ins.arg:
            raise UserException(
                ValueError(f"expected {ins.arg} values to unpack, got {len(parts)}")
            )
        f.stack.extend(reversed(parts))

    def UNPACK_EX(self, f, ins):
        var = f.stack.pop()
        parts = self.elements(var)
        before, after = ins.arg & 0xFF, ins.arg >> 8
        if len(parts) < before + after:
            raise UserException(ValueError("not enough values to unpack"))
        middle = parts[before : len(parts) - after]
        rest = [Var([v.value for v in middle], items=middle)]
        out = parts[:before] + rest + parts[len(parts) - after :]
        f.stack.extend(reversed(out))

    # ----- iteration -----
    def iterate(self, var: Var):
        """An iterator over `var` whose elements are Vars."""
        value = var.value
        if isinstance(value, VirtualIterator):
            return value
        items = var.tracked_items()
        if isinstance(items, list):
            return VirtualIterator(list(items))
        if isinstance(value, (list, tuple)) and var.source is not None:
            if self.is_mutated(value):
                self.read_back(var)
            self.guard_len(var)
            source = var.source if not self.is_mutated(value) else None
            return VirtualIterator(
                self.read(v, None if source is None else Item(source, k))
                for k, v in enumerate(value)
            )
        if isinstance(value, dict) and var.source is not None:
            return VirtualIterator(Var(k) for k in self.dict_items(var))
        if var.source is not None:
            submodules = self.module_container_items(var)
            if submodules is not None:
                return VirtualIterator(submodules)
        if var.source is not None and not isinstance(value, Tensor) and not is_constant(value):
            # A data loader, a custom iterable, an iterator argument: what it
            # yields is not read through any source, so a compiled call would
            # replay this call's elements.
            self.graph_break(
                "unsupported",
                f"iterates a {type(value).__name__} from outside the frame (a compiled call "
                "could not take its elements again)",
                "iterate a list or tuple of the items, or keep the loop outside the compiled "
                "function and compile its body",
            )
        method = user_code(class_attribute(value, "__iter__"))
        if method is not None:  # an object the frame made: its __iter__, traced
            return self.iterate(self.call(Var(method), [var], {}))
        if user_code(class_attribute(value, "__getitem__")) is not None:
            self.graph_break(
                "unsupported",
                f"iterates a {type(value).__name__} by its __getitem__ (Python code run "
                "until it raises IndexError)",
                "give the class an __iter__, or iterate a list of the items",
            )
        return VirtualIterator(Var(v) for v in do(iter, self.value(var, "iterated")))

    def module_container_items(self, var: Var) -> list | None:
        """What iterating a ModuleList or Sequential (its modules), a
        ModuleDict (its names) or a ParameterList (its parameters) from
        outside yields, read through the table it keeps them in, so that
        each compiled call takes them again (its size guarded, as a dict's).
        The class's `__iter__` is guarded to be still janus's. None for any
        other object."""
        from ..nn.modules.container import ModuleDict, ModuleList, ParameterList, Sequential

        method = class_attribute(var.value, "__iter__")
        tables = {
            ModuleList.__iter__: "_modules",
            Sequential.__iter__: "_modules",
            ModuleDict.__iter__: "_modules",
            ParameterList.__iter__: "_parameters",
        }
        if method not in tables:
            return None
        self.guard_class_attribute(var, "__iter__")
        name = tables[method]
        table = self.read(getattr(var.value, name), var.source.attr(name))
        items = self.dict_items(table)
        if method is ModuleDict.__iter__:
            return [Var(key) for key in items]
        return list(items.values())

    def next_of(self, it):
        if not isinstance(it, VirtualIterator):
            # An iterator from outside the frame (a comprehension's argument):
            # advancing it changes state a compiled call would not replay.
            self.graph_break(
                "effect",
                f"advances a {type(it).__name__} it received",
                "pass the sequence rather than an iterator over it",
            )
            return self._next_concrete(it)
        try:
            return it.next_var()
        except UserException:
            raise
        except Exception as exc:  # noqa: BLE001 - the iterable's own error
            raise UserException(exc) from None

    def _next_concrete(self, it):
        value = do(next, it, EXHAUSTED)
        return None if value is EXHAUSTED else Var(value)

    def GET_ITER(self, f, ins):
        f.stack.append(Var(self.iterate(f.stack.pop())))

    def FOR_ITER(self, f, ins):
        var = self.next_of(f.stack[-1].value)
        if var is None:
            f.stack.pop()
            f.ip = ins.target
        else:
            f.stack.append(var)
