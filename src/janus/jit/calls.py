"""Calls in the translator: inline Python, run janus's tensor library under
the recorder, handle the builtins real DL code uses, and break on the rest.

Which callee is which:
- user Python functions and methods, janus's module `forward`s and the grad
  mode decorator are inlined (interpreted), so every decision they make on a
  Python value becomes a guard;
- `nn.Module.__call__` without hooks inlines `forward`;
- janus's tensor library (ops, `nn.functional`, Tensor methods, creation,
  `backward`) runs as it is while the recorder turns its ops into graph
  nodes; one that reads tensor data into Python is a graph break; janus
  code that keeps Python state (a learning-rate scheduler's `step`, data
  loaders, saving) is not run so, as a compiled call would skip its
  effects: it is a break like a third-party call;
- an optimizer's `step`/`zero_grad` run the same way (optimizers.py);
- builtins are run concretely, keeping sources through `len`, `range`,
  `enumerate`, `zip`, `reversed`, `list`, `tuple`, `getattr`; `print` of
  numbers and text is an effect, committed after the graph (builtin_calls.py);
- anything else (third-party calls, printing a tensor, I/O) still runs, but
  the frame gets no compiled entry this time (a graph break with its reason).

Once a translation has broken it compiles nothing, so from then on user
functions, modules and `janus.jit` functions are called, not traced through
(`native`): a driver loop around a compiled training step would otherwise run
every step at recording speed while it is translated.
"""

from __future__ import annotations

import functools
import inspect
import operator
import os
import types

from .. import _C, autograd, creation
from ..autograd.node import has_hooks, history_before, next_sequence
from ..ops import registry
from ..tensor import Tensor, data_readers
from .builtin_calls import (
    BUILTIN_HANDLERS,
    CONSTRUCTORS,
    PURE_BUILTINS,
    SHALLOW_BUILTINS,
    lookup,
)
from .generators import generator_code
from .instructions import Code
from .values import (
    NULL,
    OUTSIDE_PYTHON,
    UserException,
    Var,
    VirtualIterator,
    class_attribute,
    do,
    is_janus,
    is_namedtuple,
    plain_class,
    sum_of,
    user_code,
)

_JANUS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# janus code that is interpreted rather than run opaquely: module forwards
# (their attribute reads, e.g. `self.training`, must be guarded) and the
# grad-mode decorator (which wraps user code).
_INLINED_JANUS = (
    os.path.join(_JANUS_DIR, "nn", "modules") + os.sep,
    os.path.join(_JANUS_DIR, "autograd", "grad_mode.py"),
)
_NOT_INLINABLE_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR

# Module methods that only read the module tree.
_MODULE_GETTERS = {
    "parameters",
    "named_parameters",
    "buffers",
    "named_buffers",
    "children",
    "named_children",
    "modules",
    "named_modules",
}
# The getters of a module's tensors, and the named form each is read through.
_TENSOR_GETTERS = {
    "parameters": "named_parameters",
    "named_parameters": "named_parameters",
    "buffers": "named_buffers",
    "named_buffers": "named_buffers",
}
# The getters of a module's submodules, and the named form each is read through.
_MODULE_TREE = {
    "modules": "named_modules",
    "named_modules": "named_modules",
    "children": "named_children",
    "named_children": "named_children",
}
# The janus modules whose functions and methods only compute tensors (their
# only effects are in-place tensor updates, which the recorder sees): they
# run as they are. Other janus code keeps Python state (a scheduler's epoch
# count, a loader's position) that a compiled call would not update.
_TENSOR_LIBRARY = (
    "janus.tensor", "janus.ops", "janus.creation", "janus.functions", "janus.random",
    "janus.dtypes", "janus.device", "janus.nn.functional", "janus.nn.init", "janus.nn.utils",
    "janus.autograd", "janus.distributions",
)  # fmt: skip
# Tensor methods whose number operands may be 0-d tensors of the result's
# dtype (a number that changes from call to call becomes a graph input).
_ARITHMETIC_METHODS = {
    "add", "sub", "mul", "div", "true_divide", "add_", "sub_", "mul_", "div_",
    "pow", "pow_", "lt", "le", "gt", "ge", "eq", "ne",
}  # fmt: skip
# Calls that mutate global state the guards assume fixed.
_STATEFUL_JANUS = {
    "manual_seed", "seed", "set_rng_state", "set_state", "set_default_dtype", "set_grad_enabled",
}  # fmt: skip
_codes: dict = {}  # code object -> Code, or None when it cannot be inlined


def translatable(code) -> Code | None:
    """The normalized `code`, or None if it uses something the translator
    has no handler for (it then runs as an opaque call)."""
    if code in _codes:
        return _codes[code]
    from .translator import SUPPORTED

    result = None
    if not code.co_flags & _NOT_INLINABLE_FLAGS:
        normalized = Code(code)
        if all(ins.op in SUPPORTED for ins in normalized.instructions):
            result = normalized
    _codes[code] = result
    return result


def unsupported_ops(code) -> list:
    from .translator import SUPPORTED

    return sorted({ins.op for ins in Code(code).instructions if ins.op not in SUPPORTED})


def _user_call(target):
    """The user's `__call__` of a callable object (not a function, a class,
    a module, or a janus object)."""
    if isinstance(target, (type, types.FunctionType, types.MethodType)):
        return None
    return user_code(class_attribute(target, "__call__"))


def _init_result(value) -> None:
    if value is not None:
        raise TypeError(f"__init__() should return None, not '{type(value).__name__}'")


def _as_length(n) -> int:
    """What `len()` makes of a `__len__` result (or the error it raises)."""
    n = operator.index(n)
    if n < 0:
        raise ValueError("__len__() should return >= 0")
    return n


def _as_truth(result) -> bool:
    if type(result) is not bool:
        raise TypeError(f"__bool__ should return bool, returned {type(result).__name__}")
    return result


def _why_no_graph(target) -> str:
    if is_janus(target):
        return "janus code that keeps Python state a compiled call would not update"
    return "no graph form: third-party code, I/O, or object creation"


def _tensor_library(obj) -> bool:
    """janus code that a trace may run as it is (see `_TENSOR_LIBRARY`)."""
    module = getattr(obj, "__module__", None) or ""
    if getattr(obj, "__name__", "") in _STATEFUL_JANUS:
        return False
    return module == "janus" or any(
        module == lib or module.startswith(lib + ".") for lib in _TENSOR_LIBRARY
    )


skipped_codes: set = set()  # marked by janus.jit.skip: calls to them are breaks


def _jit_function_of(obj):
    """The plain function a `janus.jit` wrapper compiles, or None."""
    from .frontend import JitFunction  # (frontend imports this module)

    return obj.fn if type(obj) is JitFunction else None


def _inlinable_janus(func) -> bool:
    return func.__code__.co_filename.startswith(_INLINED_JANUS)


class CallsMixin:
    # ----- call instructions -----
    def KW_NAMES(self, f, ins):
        f.kw_names = ins.argval

    def CALL(self, f, ins):
        names, f.kw_names = f.kw_names, ()
        args = f.pop(ins.arg)
        below, top = f.pop(2)
        if below is NULL:
            fn = top
        else:
            fn, args = below, [top, *args]
        split = len(args) - len(names)
        kwargs = dict(zip(names, args[split:]))
        f.stack.append(self.call(fn, args[:split], kwargs))

    def CALL_FUNCTION_EX(self, f, ins):
        kwargs = self.dict_items(f.stack.pop()) if ins.arg & 1 else {}
        args = self.elements(f.stack.pop())
        fn = f.stack.pop()
        if f.stack and f.stack[-1] is NULL:
            f.stack.pop()
        f.stack.append(self.call(fn, args, kwargs))

    def MAKE_FUNCTION(self, f, ins):
        code = f.stack.pop().value
        closure = f.stack.pop() if ins.arg & 0x08 else None
        annotations = f.stack.pop().value if ins.arg & 0x04 else None
        kwdefaults = f.stack.pop() if ins.arg & 0x02 else None
        defaults = f.stack.pop() if ins.arg & 0x01 else None
        fn = types.FunctionType(
            code, f.globals, code.co_name, _value_or_none(defaults), _value_or_none(closure)
        )
        fn.__kwdefaults__ = _value_or_none(kwdefaults)
        if annotations is not None:
            fn.__annotations__ = dict(zip(annotations[::2], annotations[1::2]))
        fn.__qualname__ = code.co_qualname
        self.made_functions[id(fn)] = (fn, defaults, kwdefaults, closure)
        f.stack.append(Var(fn))

    # ----- dispatch -----
    def call(self, fn: Var, args: list, kwargs: dict) -> Var:
        from ..nn.modules.module import Module
        from ..optim.optimizer import Optimizer

        target = fn.value
        if self.breaks and self._user_callable(target):
            return self.native(fn, args, kwargs)
        if isinstance(target, Module) and type(target).__call__ is Module.__call__:
            return self.call_module(fn, args, kwargs)
        if isinstance(target, types.MethodType):
            func, receiver = target.__func__, fn.self_var or Var(target.__self__)
            if isinstance(receiver.value, Optimizer) and func.__name__ in ("step", "zero_grad"):
                return self.call_optimizer(fn, receiver, args, kwargs)
            if isinstance(receiver.value, Module) and func.__name__ in _MODULE_GETTERS:
                return self.module_members(fn, receiver, func.__name__, args, kwargs)
            if isinstance(func, types.FunctionType) and self.inlinable(func):
                return self.inline(func, [receiver, *args], kwargs)
            if isinstance(receiver.value, Tensor):
                return self.call_tensor_method(fn, receiver, func.__name__, args, kwargs)
        if isinstance(target, types.FunctionType) and generator_code(target) is not None:
            started = self.start_generator(target, generator_code(target), args, kwargs)
            if started is not None:  # consumed at once: interpreted as it is pulled
                return started
        if isinstance(target, types.FunctionType) and self.inlinable(target):
            return self.inline(target, args, kwargs)
        if isinstance(target, type) and is_namedtuple(target):
            return self.construct_namedtuple(target, args, kwargs)
        if isinstance(target, type) and plain_class(target):
            made = self.construct(fn, args, kwargs)
            if made is not None:
                return made
        special = lookup(BUILTIN_HANDLERS, target)
        if special is not None:
            return special(self, args, kwargs)
        if lookup(PURE_BUILTINS, target) or getattr(target, "__module__", None) == "math":
            return self.pure(target, args, kwargs)
        if isinstance(target, types.BuiltinMethodType) and isinstance(
            target.__self__, (list, dict, tuple, str)
        ):
            return self.call_container_method(fn, target, args, kwargs)
        method = _user_call(target)
        if method is not None and self.inlinable(method):  # a callable object of the user's
            self.guard_class_attribute(fn, "__call__", instance=False)
            return self.inline(method, [fn, *args], kwargs)
        jitted = _jit_function_of(target)
        if jitted is not None and self.inlinable(jitted):
            if fn.source is not None:  # (traced through: which function it wraps counts)
                self.guard(fn.source, "is", target)
            # janus.jit(f) called from traced code: trace through f itself
            # (running its compiled entry here would hide its ops).
            return self.inline(jitted, args, kwargs)
        if _tensor_library(target):
            if not isinstance(target, type):
                return self.opaque(fn, args, kwargs)
            if target.__module__.startswith("janus.autograd"):  # no_grad(), enable_grad()
                made = self.opaque(fn, args, kwargs)
                self.created[id(made.value)] = made.value
                return made
        name = getattr(target, "__qualname__", type(target).__name__)
        if getattr(target, "__code__", None) in skipped_codes:
            self.graph_break(
                "skipped-call",
                f"a call to {name}, which is marked janus.jit.skip",
                "it runs in Python between compiled parts, as asked",
            )
            return self.concrete(target, args, kwargs)
        self.graph_break(
            "unsupported-call",
            f"a call to {name} ({_why_no_graph(target)})",
            "the frame is split there: the call runs in Python between compiled parts",
        )
        return self.concrete(target, args, kwargs)

    def _user_callable(self, target) -> bool:
        """A call the translator would trace through: a user function or
        method, a module, a `janus.jit` function."""
        from ..nn.modules.module import Module

        func = getattr(target, "__func__", target)
        if isinstance(target, Module) or _jit_function_of(target) is not None:
            return True
        return isinstance(func, types.FunctionType) and not is_janus(func)

    def native(self, fn: Var, args: list, kwargs: dict) -> Var:
        """The call, run as plain Python with the frame hook on (a compiled
        callee runs its entry) and unrecorded. Only for a translation that has
        broken: the frame gets no entry from it, so nothing needs the call's
        ops; its own instructions are still walked for the rest of its breaks."""
        # (Data passed in is no break: a full trace would inline the callee.)
        values = [_handed_to_python(a.value) for a in args]
        kwvalues = {k: _handed_to_python(v.value) for k, v in kwargs.items()}
        call = functools.partial(fn.value, *values, **kwvalues)
        registry.observers.remove(self.recorder)
        try:
            result = do(_C.capture.call_with_hook, call)
        finally:
            registry.observers.append(self.recorder)
        return Var(result)

    def inlinable(self, func) -> bool:
        if func.__code__ in skipped_codes:  # janus.jit.skip: a graph break
            return False
        if is_janus(func) and not _inlinable_janus(func):
            return False
        return translatable(func.__code__) is not None

    def pure(self, target, args, kwargs) -> Var:
        """A call of a pure builtin or `math` function: on host values
        (`round(loss.item(), 3)`) its result is a host value too."""
        shallow = lookup(SHALLOW_BUILTINS, target)  # (type checks: no host result)
        if not kwargs and (target is sum or target is max or target is min):
            folded = self.fold_numbers(target, args)
            if folded is not None:
                return folded
        if not kwargs and not shallow and any(a.host is not None for a in args):
            return self.compute(target, args, "passed to a Python call")
        return self.concrete(target, args, kwargs)

    def fold_numbers(self, target, args: list) -> Var | None:
        """`sum(t)`, `max(t)` or `min(t)` of a list or tuple holding numbers
        that change from call to call (`sum(tree[1])`): folded over its
        elements, so the result is a host value a compiled call computes
        again, not a break. max and min only over numbers of one type (the
        result's type then never depends on the values). None otherwise."""
        container = args[0] if args else None
        if container is None or type(container.value) not in (tuple, list):
            return None
        if len(args) > (2 if target is sum else 1):  # (sum's start; max(a, b) is not this)
            return None
        elements = self.elements(container)
        if not elements or all(e.host is None for e in elements):
            return None  # (run concretely: nothing changes per call)
        if not all(type(e.value) in (int, float) for e in elements):
            return None
        if target is sum:
            start = args[1] if len(args) == 2 else Var(0)
            return self.compute(sum_of, [start, *elements], "summed")
        if len({type(e.value) for e in elements}) != 1:
            return None
        if len(elements) == 1:
            return elements[0]
        return self.compute(target, elements, f"passed to {target.__name__}")

    def concrete(self, target, args, kwargs) -> Var:
        shallow = lookup(SHALLOW_BUILTINS, target)
        if not shallow:
            name = getattr(target, "__qualname__", type(target).__name__)
            for a in (*args, *kwargs.values()):  # what the result is computed from
                self.guard_contents(a)
                self.check_state(a, f"passed to {name}")
        values = [
            self._type_checked(a) if shallow else self.value(a, "passed to a Python call")
            for a in args
        ]
        kwvalues = {k: self.value(v, "passed to a Python call") for k, v in kwargs.items()}
        result = do(target, *values, **kwvalues)
        if lookup(CONSTRUCTORS, target):  # a fresh container: stores into it stay local
            self.created[id(result)] = result
        for tensor in _tensors_in(result):
            if not self.recorder.locates(tensor) and id(tensor) not in self.created:
                name = getattr(target, "__qualname__", type(target).__name__)
                self.graph_break(
                    "unsupported",
                    f"{name} returned a tensor from outside the frame with no source "
                    "(a compiled call would reuse this call's tensor)",
                    "index the container directly (xs[k], d[key]) instead",
                )
                break
        return Var(result)

    def _type_checked(self, var: Var):
        """`var`'s value for a type check (`isinstance(tree, int)`): a
        number read on entry as data is no break, its type guarded."""
        if var.host is OUTSIDE_PYTHON and var.source is not None:
            self.guard_number_types(var)
            return var.value
        return self.value(var, "passed to a Python call")

    def construct(self, fn: Var, args: list, kwargs: dict) -> Var | None:
        """`cls(...)` of a plain user class (`plain_class`): a new object,
        its `__init__` traced. The object is the trace's own: stores into it
        are local, and a compiled call that returns or keeps it builds one
        from its final attributes (compiled.py). None where `__init__`
        cannot be traced (the call is then a break)."""
        cls = fn.value
        init = cls.__init__
        self.guard_type_attribute(fn, "__init__")  # (a class patched between calls)
        if init is object.__init__:
            if args or kwargs:
                return None  # (run as a break, it raises Python's TypeError)
        elif not self.inlinable(init):
            return None
        made = do(object.__new__, cls)
        self.created[id(made)] = made
        receiver = Var(made)
        if init is not object.__init__:
            returned = self.inline(init, [receiver, *args], kwargs)
            do(_init_result, returned.value)
        return receiver

    def construct_namedtuple(self, cls, args: list, kwargs: dict) -> Var:
        """`Point(x, y=...)`: the tuple, its elements tracked by field."""
        try:
            bound = inspect.signature(cls.__new__).bind(cls, *args, **kwargs)
        except TypeError:
            return self.concrete(cls, args, kwargs)  # raises as Python does
        bound.apply_defaults()
        fields = [v if isinstance(v, Var) else Var(v) for v in list(bound.arguments.values())[1:]]
        made = do(tuple.__new__, cls, [v.value for v in fields])
        return Var(made, items=fields)

    def user_len(self, var: Var) -> Var:
        """`len(obj)` where obj's class defines `__len__` in Python: the
        method is inlined, its result checked as `len` checks it."""
        self.guard_class_attribute(var, "__len__", instance=False)
        n = self.call(Var(user_code(class_attribute(var.value, "__len__"))), [var], {})
        do(_as_length, n.value)  # raises what len() raises for a bad result
        return n

    def user_truth(self, var: Var):
        """`bool(obj)` decided by the user's `__bool__` or `__len__` (inlined),
        as a Var; None where Python code of the user's does not decide it."""
        decides = class_attribute(var.value, "__bool__")
        if decides is None:
            decides = class_attribute(var.value, "__len__")
            if user_code(decides) is not None:
                n = self.user_len(var)
                return self.compute(operator.ne, [n, Var(0)], "a branch condition")
        method = user_code(decides)
        if method is None:
            return None
        self.guard_class_attribute(var, "__bool__", instance=False)
        result = self.call(Var(method), [var], {})
        do(_as_truth, result.value)
        return result

    # ----- inlining -----
    def inline(self, func, args: list, kwargs: dict) -> Var:
        from .translator import MAX_INLINE_DEPTH, Frame

        if self.depth >= MAX_INLINE_DEPTH:
            self.graph_break(
                "recursion",
                f"calls nested deeper than {MAX_INLINE_DEPTH} ({func.__qualname__})",
                "recursion is compiled as a subgraph call in a later version",
            )
            return self.concrete(func, args, kwargs)
        if func.__code__ in self.active_codes:
            if func.__code__ in recursion_breaks:
                self.graph_break(
                    "recursion",
                    f"{func.__qualname__} calls itself, on data whose structure changed",
                    "the recursive call runs as its own call, and each level compiles alone; "
                    "recursion as a subgraph call comes in a later version",
                )
                return self.concrete(func, args, kwargs)
            self.recursed.add(func.__code__)
        code = translatable(func.__code__)
        frame = Frame(code, func, bind(func, args, kwargs), {}, self.top_globals)
        frame.cells.update(frame.closure)
        return self.run_frame(frame)

    def call_module(self, fn: Var, args: list, kwargs: dict) -> Var:
        module = fn.value
        for hooks in ("_forward_pre_hooks", "_forward_hooks"):
            table = getattr(module, hooks)
            if fn.source is not None:
                self.guard(fn.source.attr(hooks), "len", len(table))
            if table:
                self.graph_break(
                    "unsupported-call",
                    f"{type(module).__name__} has forward hooks",
                    "hooks run in the interpreter; remove them to compile",
                )
                return self.concrete(module, args, kwargs)
        forward = Var(types.MethodType(type(module).forward, module), self_var=fn)
        return self.call(forward, args, kwargs)

    def module_members(self, fn: Var, module: Var, name: str, args, kwargs) -> Var:
        """`module.parameters()`, `module.modules()` and the like. From a
        module with a source, each tensor and submodule gets its own
        (`L['model'].fc.weight`), so a compiled call reads the members of
        the module it is given (and `train()` stores into them), and the
        module tree (its classes and member counts) is guarded; else the
        call runs as is."""
        getter = _TENSOR_GETTERS.get(name) or _MODULE_TREE.get(name)
        if getter is None or module.source is None or args or kwargs:
            return self.opaque(fn, args, kwargs)
        sources = {"": module.source}
        for path, sub in module.value.named_modules():
            src = sources[path]
            for child in sub._modules:
                sources[f"{path}.{child}" if path else child] = src.attr(child)
            self.guard(src, "type", type(sub))
            for table in ("_parameters", "_buffers", "_modules"):
                self.guard(src.attr(table), "len", len(getattr(sub, table)))
        members = []
        for path, member in do(getattr(module.value, getter)):
            if name in _MODULE_TREE:
                var = self.read(member, sources[path])
            else:
                owner, _, attr = path.rpartition(".")
                var = self.read(member, sources[owner].attr(attr))
            members.append(Var((path, member), items=[Var(path), var]) if "named" in name else var)
        return Var(VirtualIterator(members))

    # ----- janus's tensor library -----
    def opaque(self, fn: Var, args: list, kwargs: dict) -> Var:
        """Runs a janus library call as it is: the recorder sees its ops."""
        # (Not repr(): a bound method's repr prints its tensor's data.)
        name = getattr(fn.value, "__qualname__", None) or type(fn.value).__qualname__
        if getattr(fn.value, "__wrapped__", fn.value) is _TENSOR_FACTORY:
            made = self.tensor_of_numbers(args, kwargs)
            if made is not None:
                return made
        for a in (*args, *kwargs.values()):  # `tensor(xs)` bakes the numbers in xs
            self.guard_contents(a)
        values = [self.value(a, f"passed to {name}") for a in args]
        kwvalues = {k: self.value(v, f"passed to {name}") for k, v in kwargs.items()}
        if _holds_array(values) or _holds_array(list(kwargs.values())):
            # A tensor made from numpy data would be frozen into the graph as
            # a constant, with nothing guarding the array's contents.
            self.graph_break(
                "data-dependent",
                f"{name} receives a numpy array (its data would be frozen into the graph)",
                "convert the array to a tensor outside the compiled function",
            )
        entry = getattr(fn.value, "__func__", fn.value)
        if entry in _AUTOGRAD_ENTRIES:
            roots = fn.value.__self__ if entry is Tensor.backward else values[:1]
            if history_before(_tensors_in(roots), self.first_node):
                # Its backward would be recorded for this call's history only,
                # and read tensors no later call has.
                self.graph_break(
                    "unsupported",
                    f"{name} runs backward through autograd history made before the frame",
                    "compute the loss and call backward in the same function",
                )
            if has_hooks(_tensors_in(roots)):
                # A hook is Python the engine calls: traced, it would run once.
                self.graph_break(
                    "unsupported",
                    f"{name} runs gradient hooks (register_hook, retain_grad)",
                    "the call runs in Python; remove the hooks to compile it",
                )
        reads = []
        data_readers.append(reads.append)
        hidden = self.recorder.unrecordable
        hidden_before = len(hidden)
        moves_before = self.recorder.device_moves
        try:
            result = do(fn.value, *values, **kwvalues)
        finally:
            data_readers.remove(reads.append)
        if self.recorder.device_moves != moves_before:
            # One program runs on one device (compiled, the CPU runtime would
            # copy and keep the tensor on the CPU): the move runs in Python,
            # and the parts before and after it compile for their devices.
            self.graph_break(
                "device-move",
                f"{name} moves a tensor to another device",
                "the move runs in Python between compiled parts, each on its own device",
            )
        if reads:
            self.graph_break(
                "data-dependent",
                f"{name} reads tensor data into Python",
                "keep the computation in tensor ops",
            )
        if len(hidden) > hidden_before:
            self.graph_break(
                "compiled-autograd",
                f"{name} runs {hidden[hidden_before]}",
                "the call runs in Python; the compiled backward itself runs natively",
            )
        if getattr(fn.value, "__func__", fn.value) in _BACKWARDS:
            if not self.ran_backward:  # autograd nodes from here on are after it
                self.backward_node = next_sequence()
            self.grads_dirty = self.ran_backward = True
        for tensor in _tensors_in(result):  # made by this call (e.g. janus.zeros: no op)
            self.created.setdefault(id(tensor), tensor)
        return Var(result)

    def call_tensor_method(self, fn, receiver, name, args, kwargs) -> Var:
        if name in ("item", "tolist") and not args and not kwargs:
            return Var(do(fn.value), host=(self.pinned(receiver), name))
        hosts = any(v.host is not None for v in (*args, *kwargs.values()))
        if hosts and name in _ARITHMETIC_METHODS:  # `p.add_(g, alpha=-lr)`, lr data
            operands = self.number_operands(receiver.value, args, kwargs)
            if operands is not None:
                return self.opaque(fn, *operands)
        if name in ("requires_grad_", "retain_grad", "register_hook"):
            self.graph_break(
                "unsupported-call",
                f"Tensor.{name} changes autograd state",
                "call it outside the compiled function",
            )
        return self.opaque(fn, args, kwargs)

    def number_operands(self, tensor: Tensor, args: list, kwargs: dict):
        """The arguments of `tensor.mul_(scale)` or `p.add_(g, alpha=-lr)`
        with their host numbers as number inputs (`alpha` multiplied into
        the other operand), or None where one cannot be."""
        operands = self.tensor_operands([Var(tensor), *args])
        alpha = kwargs.get("alpha")
        if operands is None or any(v.host is not None for k, v in kwargs.items() if k != "alpha"):
            return None
        operands = [a if a.host is None else Var(v) for a, v in zip(args, operands[1:])]
        kwargs = dict(kwargs)
        if alpha is not None and alpha.host is not None:
            other = operands[0].value if len(operands) == 1 else None
            if not isinstance(other, Tensor) or not other.is_floating_point():
                return None
            scaled = self.tensor_operands([Var(other), alpha])
            if scaled is None:
                return None
            del kwargs["alpha"]
            operands = [Var(do(operator.mul, *scaled))]
        return operands, kwargs


# The codes of recursive functions whose recursion a trace inlined, on data
# whose structure then changed (a translation that inlined it missed its
# guards: a new tree). Inlined, recursion specializes the trace on the
# data's whole structure; for these, a recursive call is a break instead:
# it runs as its own call, and each level compiles alone.
recursion_breaks: set = set()


def _value_or_none(var):
    return None if var is None else var.value


# The autograd entry points: after them, `.grad` is the trace's own.
_BACKWARDS = (Tensor.backward, autograd.backward)
_TENSOR_FACTORY = creation.tensor  # `tensor([n])` of changing numbers: a graph input
_AUTOGRAD_ENTRIES = (*_BACKWARDS, autograd.grad)


class _Draining:
    """A translator's iterator handed to a callee the hook may compile (a
    comprehension's iterator): a plain iterator to it, so its translation
    treats it as any iterator it received, not as the caller's (whose
    elements' sources name the caller's locals); pulling from it still
    advances the translator's iterator."""

    def __init__(self, it: VirtualIterator):
        self._it = it

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)


def _handed_to_python(value):
    return _Draining(value) if isinstance(value, VirtualIterator) else value


def _tensors_in(value, depth: int = 2) -> list:
    """The tensors in `value` and its containers, `depth` levels down."""
    if isinstance(value, Tensor):
        return [value]
    if depth == 0:
        return []
    if type(value) in (list, tuple, set, frozenset):
        return [t for v in value for t in _tensors_in(v, depth - 1)]
    if type(value) is dict:
        return [t for v in value.values() for t in _tensors_in(v, depth - 1)]
    return []


def _holds_array(values) -> bool:
    for v in values:
        if type(v).__name__ == "ndarray" and not isinstance(v, Tensor):
            return True
        if type(v) in (list, tuple) and _holds_array(v):
            return True
    return False


def bind(func, args: list, kwargs: dict) -> dict:
    """The callee's locals for a call with these argument Vars, or the
    TypeError Python would raise."""
    code = func.__code__
    names = code.co_varnames
    npos, nkw = code.co_argcount, code.co_kwonlyargcount
    posonly = code.co_posonlyargcount
    has_varargs = bool(code.co_flags & inspect.CO_VARARGS)
    has_varkw = bool(code.co_flags & inspect.CO_VARKEYWORDS)
    bound = dict(zip(names, args[:npos]))
    extra = args[npos:]
    if extra and not has_varargs:
        raise UserException(
            TypeError(
                f"{func.__qualname__}() takes {npos} positional arguments "
                f"but {len(args)} were given"
            )
        )
    extra_kw = {}
    for key, var in kwargs.items():
        if key in names[posonly : npos + nkw]:
            if key in bound:
                raise UserException(
                    TypeError(f"{func.__qualname__}() got multiple values for argument '{key}'")
                )
            bound[key] = var
        elif has_varkw:
            extra_kw[key] = var
        else:
            raise UserException(
                TypeError(f"{func.__qualname__}() got an unexpected keyword argument '{key}'")
            )
    defaults = func.__defaults__ or ()
    for k in range(npos):
        if names[k] not in bound:
            d = k - (npos - len(defaults))
            if d < 0:
                raise UserException(
                    TypeError(f"{func.__qualname__}() missing required argument: '{names[k]}'")
                )
            bound[names[k]] = Var(defaults[d])
    kwdefaults = func.__kwdefaults__ or {}
    for name in names[npos : npos + nkw]:
        if name not in bound:
            if name not in kwdefaults:
                raise UserException(
                    TypeError(f"{func.__qualname__}() missing keyword-only argument: '{name}'")
                )
            bound[name] = Var(kwdefaults[name])
    at = npos + nkw
    if has_varargs:
        bound[names[at]] = Var(tuple(v.value for v in extra), items=list(extra))
        at += 1
    if has_varkw:
        bound[names[at]] = Var({k: v.value for k, v in extra_kw.items()}, items=extra_kw)
    return bound
