"""Attribute reads and stores in the translator: a plain read is guarded
through its source; a read or store that runs the user's Python (a
property's getter or setter, `__getattr__`, through `super()` too) is
traced; one whose Python the trace cannot follow (a descriptor's `__get__`
or `__set__`, a class's `__getattribute__` or `__setattr__`) is a graph
break. The methods, properties and dunders a trace used are guarded to be
still the class's (`guard_class_attribute`)."""

from __future__ import annotations

import types

from ..tensor import Tensor
from .values import NULL, UserException, Var, class_attribute, do, is_namedtuple, user_code


def _bound_to(value, obj) -> bool:
    return (
        isinstance(value, (types.MethodType, types.BuiltinMethodType))
        and getattr(value, "__self__", None) is obj
        and not isinstance(obj, types.ModuleType)
    )


def _super_attribute(proxy: super, name: str):
    """What `super().name` finds: `name` along the MRO after the class."""
    mro = type(proxy.__self__).__mro__ if proxy.__self__ is not None else ()
    if proxy.__thisclass__ in mro:
        for klass in mro[mro.index(proxy.__thisclass__) + 1 :]:
            if name in klass.__dict__:
                return klass.__dict__[name]
    return None


def _python_descriptor(attribute) -> bool:
    """A class attribute whose `__get__` is Python code (a user descriptor,
    `functools.cached_property`)."""
    return attribute is not None and isinstance(
        getattr(type(attribute), "__get__", None), types.FunctionType
    )


class AttributesMixin:
    def LOAD_ATTR(self, f, ins):
        obj = f.stack.pop()
        name = ins.argval
        items = obj.tracked_items() if is_namedtuple(type(obj.value)) else None
        if items is not None and name in type(obj.value)._fields:  # `out.loss`: the element
            if ins.method:
                f.stack.append(NULL)
            f.stack.append(items[type(obj.value)._fields.index(name)])
            return
        read = self.user_attribute(obj, name)
        if read is not None:  # computed by the user's Python: traced
            if ins.method:
                f.stack.append(NULL)
            f.stack.append(read)
            return
        value = do(getattr, self.value(obj, "an object"), name)
        source = self.attr_source(obj, name)
        receiver = obj.self_var if type(obj.value) is super and obj.self_var else obj
        if ins.method:
            f.stack.append(NULL)
        if _bound_to(value, receiver.value):
            # A method is made afresh at each lookup: what the trace relies on
            # is its receiver (guarded by type) and the class's function.
            if receiver is obj and user_code(getattr(value, "__func__", None)) is not None:
                self.guard_class_attribute(obj, name)
            f.stack.append(Var(value, self_var=receiver))
            return
        stored = self.stored_var(obj.value, name, value) if source is None else None
        f.stack.append(stored or self.read(value, source))

    def user_attribute(self, obj: Var, name: str) -> Var | None:
        """`obj.name` where reading it runs the user's Python (a property's
        getter, `__getattr__`), traced; None for a plain read. A read whose
        Python the trace cannot follow (a descriptor's `__get__`, a class's
        `__getattribute__`) is a graph break, and runs as it is."""
        value = obj.value
        if isinstance(value, (Tensor, type, types.ModuleType)):
            return None
        if type(value) is super:
            attribute = _super_attribute(value, name)
            if type(attribute) is not property or user_code(attribute) is None:
                return None
            if obj.self_var is None:
                return self._opaque_read(obj, name, "a property through super()")
            return self.call(Var(attribute.fget), [obj.self_var], {})
        if user_code(class_attribute(value, "__getattribute__")) is not None:
            return self._opaque_read(obj, name, "its class defines __getattribute__")
        attribute = class_attribute(value, name)
        fallback = user_code(class_attribute(value, "__getattr__"))
        if type(attribute) is property and user_code(attribute) is not None:
            self.guard_class_attribute(obj, name)
            try:
                return self.call(Var(attribute.fget), [obj], {})
            except UserException as raised:  # Python then asks __getattr__
                if fallback is None or not isinstance(raised.exc, AttributeError):
                    raise
                self.graph_break(
                    "exception",
                    f"a property getter raised AttributeError for {name}, and __getattr__ answers",
                    "compiled frames must not raise; make the getter return a value",
                )
                return self.call(Var(fallback), [obj, Var(name)], {})
        if _python_descriptor(attribute):
            return self._opaque_read(obj, name, f"{name} is a {type(attribute).__name__}")
        if (
            attribute is None
            and fallback is not None
            and name not in getattr(value, "__dict__", ())
        ):
            return self.call(Var(fallback), [obj, Var(name)], {})
        return None

    def _opaque_read(self, obj: Var, name: str, why: str) -> Var:
        self.graph_break(
            "unsupported",
            f"reading {name} of a {type(obj.value).__name__} runs Python the trace cannot "
            f"follow ({why})",
            "the read runs in Python between compiled parts",
        )
        return Var(do(getattr, obj.value, name))

    def guard_class_attribute(self, obj: Var, name: str, instance: bool = True) -> None:
        """The trace relies on what `obj`'s class defines as `name` (a method,
        a property, a dunder): that it is still that object, and (`instance`:
        for a name not looked up on the type alone) that `obj` itself does
        not shadow it (a class patched between calls, `obj.m = other`)."""
        if obj.source is None:
            return
        self.guard_type_attribute(Var(type(obj.value), obj.source.attr("__class__")), name)
        if instance and isinstance(getattr(obj.value, "__dict__", None), dict):
            self.guard(obj.source.attr("__dict__"), "contains", (name, False))

    def guard_type_attribute(self, cls: Var, name: str) -> None:
        """The trace relies on what class `cls` defines or inherits as `name`
        (`__init__` of a class it constructs): the same object, found at the
        same place in the MRO."""
        if cls.source is None:
            return
        mro_source = cls.source.attr("__mro__")
        for k, klass in enumerate(cls.value.__mro__):
            namespace = mro_source.item(k).attr("__dict__")
            if name in klass.__dict__:
                self.guard(namespace.item(name), "is", klass.__dict__[name])
                break
            self.guard(namespace, "contains", (name, False))  # (not defined closer)

    def LOAD_SUPER_ATTR(self, f, ins):
        _, cls, obj = f.pop(3)
        proxy = do(super, cls.value, obj.value)
        read = self.user_attribute(Var(proxy, self_var=obj), ins.argval)  # (a property)
        if ins.method:
            f.stack.append(NULL)
        if read is not None:
            f.stack.append(read)
            return
        value = do(getattr, proxy, ins.argval)
        f.stack.append(Var(value, self_var=obj if _bound_to(value, obj.value) else None))

    def STORE_ATTR(self, f, ins):
        value, obj = f.pop(2)
        if not isinstance(obj.value, (Tensor, type, types.ModuleType)):
            attribute = class_attribute(obj.value, ins.argval)
            if type(attribute) is property and user_code(attribute.fset) is not None:
                self.guard_class_attribute(obj, ins.argval)  # a setter: traced
                self.call(Var(attribute.fset), [obj, value], {})
                return
            setter = class_attribute(obj.value, "__setattr__")
            if user_code(setter) is not None or isinstance(
                getattr(type(attribute), "__set__", None), types.FunctionType
            ):
                self.graph_break(
                    "unsupported",
                    f"a store to {ins.argval} of a {type(obj.value).__name__} runs Python the "
                    "trace cannot follow (its class's __setattr__, or a descriptor's __set__)",
                    "the store runs in Python between compiled parts",
                )
                do(setattr, obj.value, ins.argval, value.value)
                return
        self.store_attribute(obj, ins.argval, value)

    def store_attribute(self, obj: Var, name: str, value: Var) -> None:
        """`obj.name = value` by the object's plain attribute store: an
        effect on an object from outside, committed after the graph."""
        if isinstance(obj.value, Tensor):
            if name == "grad":
                self.recorder.grad_set(obj.value)  # committed with the other .grad changes
                self.grads_dirty = True
            else:
                self.graph_break(
                    "effect",
                    f"a store to Tensor.{name}",
                    "set tensor attributes outside the compiled function",
                )
        elif obj.source is not None:
            self.effects.append(("setattr", obj, name, value))
        elif id(obj.value) not in self.created:
            self.graph_break(
                "effect",
                f"attribute store on a {type(obj.value).__name__} the frame did not receive",
                "store into objects reachable from arguments or globals",
            )
        do(setattr, obj.value, name, value.value)
        self.mark_mutated(obj.value, name)
        self.remember_store(obj.value, name, value)
