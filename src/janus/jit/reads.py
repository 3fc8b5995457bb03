"""How the translator reads values and what it assumes about them.

A value read from the frame's entry state gets a `Var` with its source, and
the trace's assumptions about it become guards on that source: a number's
value, a tensor's type, dtype, shape and device, a container's length, a
function's identity. Values the graph does not compute (`loss.item()`, a
resume function's data) may be passed on but not baked into the graph; a
number read on entry as data (one that changes from call to call), or
computed from such numbers, becomes a 0-d tensor graph input where it is a
tensor operand (`x * scale`, an optimizer's lr). The trace's own writes to
outside objects are tracked, so a later read knows whether a source still
shows the entry state.
"""

from __future__ import annotations

import operator
import types

import numpy as np

from .. import creation
from ..backend import to_device_array
from ..device import device
from ..dtypes import bool_, dtype, float64, int64, result_type
from ..ops.elementwise import where
from ..ops.indexing import index_select
from ..tensor import Tensor, _make
from .sources import Computed, Elements, Fixed, IndexPosition, NumberInput, SlicePositions
from .values import OUTSIDE_PYTHON, SCALARS, HostOp, Var, deferrable, do, is_constant

# The most elements an outside container baked into the graph whole (`tensor(xs)`)
# may have: each is guarded, so a longer one is a graph break instead.
MAX_GUARDED_ELEMENTS = 256
ALL = object()  # every attribute or item of an object

# Operators for which a Python number and a 0-d tensor of the result's dtype
# are the same operand (PyTorch's promotion gives that dtype either way).
TENSOR_OPERATORS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
    operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ipow,
    operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne,
}  # fmt: skip
_NOT_IN_PLACE = {
    operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
    operator.itruediv: operator.truediv, operator.ipow: operator.pow,
}  # fmt: skip


# Python's float arithmetic that float64 tensors do bit for bit (IEEE 754).
_EXACT_FLOAT_OPERATORS = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.pos,
    operator.iadd, operator.isub, operator.imul, operator.itruediv, abs,
}  # fmt: skip
# Readers of a number from a one-element tensor (`Var.host`'s second part).
_NUMBER_READS = ("item", "float", "int")


def equatable(value) -> bool:
    """What `GuardNode.equals` accepts: None, bool, int, float, str, tuples of them."""
    if type(value) in (type(None), bool, int, float, str):
        return True
    return type(value) is tuple and all(equatable(v) for v in value)


def _is_bound_method(value) -> bool:
    if isinstance(value, types.MethodType):
        return True
    receiver = getattr(value, "__self__", None) if type(value) is types.BuiltinMethodType else None
    return receiver is not None and not isinstance(receiver, types.ModuleType)


class ReadsMixin:
    def guard(self, source, kind: str, arg=None) -> None:
        # (One "contains" check per key: its arg is (key, present).)
        key = (source.name, kind, arg[0]) if kind == "contains" else (source.name, kind)
        self.guards.setdefault(key, (source, kind, arg))

    def read(self, value, source) -> Var:
        """A Var for `value` read from `source` (None: computed), guarding what
        the trace will assume about it."""
        if source is None:
            return Var(value)
        if type(value) in (int, float) and source.name in self.data_sources:
            self.guard(source, "type", type(value))  # a number that keeps changing: data
            return Var(value, source, host=OUTSIDE_PYTHON)
        if isinstance(value, np.generic):
            # A numpy scalar: no native check compares its value, so it is
            # data (Python on it is computed on entry each call, a decision
            # on it breaks); a type check alone let `float(s)` be baked.
            self.guard(source, "type", type(value))
            return Var(value, source, host=OUTSIDE_PYTHON)
        if value is Ellipsis:
            self.guard(source, "is", value)
        elif type(value) is tuple:
            # Read element by element, as a list is (a tree of nested tuples
            # that changes keeps the guards of the parts the trace looked at);
            # a use that bakes it whole guards its contents (`baked`).
            self.guard(source, "type", tuple)  # its length: see `guard_len`
        elif is_constant(value):
            if not equatable(value):  # the native check compares these types only
                self.graph_break(
                    "unsupported",
                    f"a {type(value).__name__} constant read from {source.name}",
                    "pass it as an int, float or str",
                )
            else:
                self.guard(source, "equals", value)
        elif isinstance(value, Tensor):
            self.guard(source, "tensor", value)
            seen = self.recorder.sources.get(id(value))
            if seen is not None and seen[0] is value and seen[1].name != source.name:
                # One tensor under two sources (`f(a, a)`): the graph reads it
                # once, so the aliasing is what the trace assumes. No native
                # check relates two sources; pinning both to the object does.
                self.guard(seen[1], "is", value)
                self.guard(source, "is", value)
            self.recorder.add_source(value, source)
        elif _is_bound_method(value):
            # Made afresh at each lookup, so not guarded by identity: its
            # receiver is read (and guarded) as a value of its own, and the
            # method it binds by its function or name.
            receiver = self.read(value.__self__, source.attr("__self__"))
            self.guard(source, "type", type(value))
            if isinstance(value, types.MethodType):
                self.guard(source.attr("__func__"), "is", value.__func__)
            else:
                self.guard(source.attr("__name__"), "equals", value.__name__)
            return Var(value, source, self_var=receiver)
        elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
            self.guard(source, "is", value)
        elif isinstance(value, (types.ModuleType, dtype, device)):
            self.guard(source, "is", value)  # (janus's dtypes and devices are interned)
        elif isinstance(value, (list, tuple, dict)):
            self.guard(source, "type", type(value))  # its length: see `guard_len`
        elif type(value) is slice:  # (an index: its bounds are what the trace bakes)
            self.guard(source, "type", slice)
            for bound in ("start", "stop", "step"):
                self.read(getattr(value, bound), source.attr(bound))
        elif type(value) is types.CellType:
            pass  # a free variable's cell: what is read is its contents
        else:
            self.guard(source, "type", type(value))
        return Var(value, source)

    def baked(self, var: Var, use: str):
        """The concrete value of `var` for a use that bakes it whole into the
        trace (`t == (3, 2)`, `{t: 1}`, `sum(t)`): a container from outside
        the frame has its contents guarded first, and a number in it that
        changes from call to call is a break, as the number alone would be."""
        self.guard_contents(var)
        return self.value(var, use)

    def guard_contents(self, var: Var, depth: int = 4) -> None:
        """A container baked into the trace whole (`tensor(xs)`, `f(*xs)` run
        concretely): every element it holds from outside the frame is read
        through its source (numbers guarded equal, tensors read each call),
        not just the container's type. The element Vars become the
        container's items, so `value` sees a changing number among them."""
        if type(var.value) not in (list, tuple, dict):
            return
        if depth == 0:  # nested deeper than the reads go: the rest by equality
            if var.source is not None and not self.is_mutated(var.value):
                if not equatable(var.value):
                    self.graph_break(
                        "unsupported",
                        f"a {type(var.value).__name__} nested too deep to guard, from "
                        f"{var.source.name}, is baked into the graph",
                        "pass its parts as separate arguments",
                    )
                self.guard(var.source, "equals", var.value)
            return
        if var.source is not None and not self.is_mutated(var.value):
            if len(var.value) > MAX_GUARDED_ELEMENTS:
                self.graph_break(
                    "unsupported",
                    f"a {type(var.value).__name__} of {len(var.value)} elements from "
                    f"{var.source.name} is baked into the graph (its elements would each "
                    "be guarded)",
                    "pass a tensor instead",
                )
                return
            self.guard_len(var)
            value, source = var.value, var.source
            if type(value) is dict:
                items = {}
                for key in value:
                    if is_constant(key):
                        items[key] = self.read(value[key], source.item(key))
            else:
                items = [self.read(v, source.item(k)) for k, v in enumerate(value)]
            for element in items.values() if type(value) is dict else items:
                self.guard_contents(element, depth - 1)
            if var.items is None and len(items) == len(value):
                var.items = items
            return
        items = var.tracked_items()
        for item in (items.values() if isinstance(items, dict) else items) or ():
            self.guard_contents(item, depth - 1)

    def state_unchecked(self, var: Var) -> bool:
        """Whether `var` is an object from outside the frame that `read`
        checked by type alone (a user object, a `Fraction`, a module of the
        model): what a builtin computes from its state (`float(s)`, `id`,
        `str`) is not guarded, so it must not be baked."""
        value = var.value
        if var.source is None or var.host is not None or value is Ellipsis or is_constant(value):
            return False
        checked = (Tensor, list, tuple, dict, type, types.ModuleType, types.CellType, dtype, device)
        return not (
            isinstance(value, (*checked, types.FunctionType, types.BuiltinFunctionType))
            or _is_bound_method(value)
        )

    def check_state(self, var: Var, use: str) -> None:
        """A use that bakes what `var` computes from its state (`obj * 2`,
        `f"{obj}"`, `obj == other`): a break where that state is unchecked."""
        if self.state_unchecked(var):
            self.graph_break(
                "data-dependent",
                f"a {type(var.value).__name__} object whose state the trace does not check "
                f"is {use}",
                "pass the number or text itself, computed outside the function",
            )

    def guard_len(self, var: Var) -> None:
        """The trace relies on the length of a container (it iterated it,
        unpacked it, took its len or its truth)."""
        if var.source is None:
            return
        if not self.is_mutated(var.value):
            self.guard(var.source, "len", len(var.value))
            return
        entry = self.entry_lengths.get(id(var.value))
        if entry is not None and entry[0] is var.value:  # changed by the trace: its
            self.guard(var.source, "len", entry[1])  # length follows from the entry's,
            for key, present in entry[2].items():  # and from which keys it stored were new
                if not equatable(key):
                    self.graph_break(
                        "unsupported",
                        f"the length of a {type(var.value).__name__} from outside after a "
                        f"store under a {type(key).__name__} key",
                        "key it by ints or strings, or take the length before the store",
                    )
                self.guard(var.source, "contains", (key, present))

    def remember_length(self, container: Var, key=ALL) -> None:
        """Before the trace changes an outside container: its entry length,
        and for a store under `key` (a dict's or a set's), whether the key
        was there, which a later len() of it depends on (guarded only then)."""
        value = container.value
        if type(value) not in (list, dict, set):
            return
        entry = self.entry_lengths.get(id(value))
        if entry is None or entry[0] is not value:
            entry = self.entry_lengths[id(value)] = (value, len(value), {})
        if key is not ALL and type(value) is not list:
            try:
                entry[2].setdefault(key, key in value)
            except TypeError:  # unhashable: the store raises as eagerly
                pass

    def compute(self, fn, args: list, use: str) -> Var:
        """`fn(*args)`, a pure operation on Python values (`use` says which,
        for a break). On host values, scalar operands giving a scalar result,
        the result is a host value too: a compiled call computes it again,
        before its graph from numbers read on entry (`lr ** k`,
        `math.cos(k / n)`), or after it from numbers read from its tensors if
        the operation cannot raise on them (`deferrable`). Otherwise the
        operands are baked into the trace."""
        hosts = any(a.host is not None for a in args)
        if hosts and all(type(a.value) in SCALARS for a in args):
            # An operation that may raise is computed before the graph, from
            # numbers read on entry (a compiled call falls back if it raises).
            if deferrable(fn, args) or all(self.number_source(a) is not None for a in args):
                result = do(fn, *[a.value for a in args])
                if type(result) in SCALARS:
                    return Var(result, host=HostOp(fn, tuple(args)))
        if hosts and fn in TENSOR_OPERATORS:  # `x * scale`, scale a changing number
            operands = self.tensor_operands(args)
            if operands is not None:
                if args[0].host is not None:  # `total += x`: a number is rebound, not updated
                    fn = _NOT_IN_PLACE.get(fn, fn)
                return Var(do(fn, *operands))
        for a in args:
            self.check_state(a, use)
        return Var(do(fn, *[self.baked(a, use) for a in args]))

    def tensor_operands(self, args: list) -> list | None:
        """The operands of an operation on a tensor, each host number among
        them a number input, or computed in the graph from the tensor it was
        read from (None if neither can be)."""
        like = next((a.value for a in args if isinstance(a.value, Tensor)), None)
        if like is None:
            return None
        operands = []
        for a in args:
            if a.host is not None:
                if type(a.value) not in (int, float):
                    return None
                dtype = result_type(like, a.value)
                number = self.number_input(a, dtype, like.device)
                a = self.read_operand(a, dtype, like) if number is None else number
                if a is None:
                    return None
            operands.append(a if isinstance(a, Tensor) else a.value)
        return operands

    def read_operand(self, var: Var, dtype, like: Tensor) -> Tensor | None:
        """Host number `var`, read from this call's tensor data (`loss.item()`,
        `0.9 * loss.item()`), as a 0-d operand of `dtype` that the graph
        computes, so `x * loss.item()` is no break: the graph does Python's
        arithmetic on the number read (float64, exact for +, -, *, / as
        Python's floats are), then the cast eager does. None where Python's
        arithmetic has no exact graph form (on ints, which never overflow)."""
        number = self.python_number(var, like.device)
        return None if number is None else do(number.to, dtype)

    def python_number(self, var: Var, device) -> Tensor | None:
        """A 0-d tensor the graph computes, equal to host number `var`: an
        int64 or bool as read from a tensor, a float64 otherwise."""
        if self.number_source(var) is not None:  # known on entry: a number input
            if type(var.value) is bool:
                return None
            return self.number_input(var, float64 if type(var.value) is float else int64, device)
        host = var.host
        if isinstance(host, HostOp) and (host.fn is max or host.fn is min):
            return self._python_extreme(var, device)
        if isinstance(host, HostOp):
            if host.fn not in _EXACT_FLOAT_OPERATORS or type(var.value) is not float:
                return None
            if all(type(a.value) is int for a in host.args):
                return None  # int / int: Python rounds the exact quotient once
            operands = []
            for a in host.args:
                if a.host is None:  # a constant of the trace
                    if type(a.value) not in (int, float):
                        return None
                    operands.append(a.value)
                    continue
                number = self.python_number(a, device)
                if number is None:
                    return None
                operands.append(number if number.dtype is float64 else do(number.to, float64))
            return do(_NOT_IN_PLACE.get(host.fn, host.fn), *operands)
        if host is OUTSIDE_PYTHON:
            return None
        tensor, kind = host
        t = tensor.value
        if kind not in _NUMBER_READS or not isinstance(t, Tensor) or t.device != device:
            return None
        if kind == "int" and t.is_floating_point():
            return None  # (int() of a float truncates, and raises on nan)
        number = do(t.detach().reshape, ())
        want = {float: float64, int: int64, bool: bool_}[type(var.value)]
        return number if number.dtype is want else do(number.to, want)

    def _python_extreme(self, var: Var, device) -> Tensor | None:
        """`max(a, b, ...)` or `min` of floats, as the graph computes it:
        Python keeps the value so far unless the next is greater (smaller),
        which is `where(b > a, b, a)`, exact for nan as well. None unless
        every operand is a float (then the result's type never changes)."""
        host = var.host
        if len(host.args) < 2 or not all(type(a.value) is float for a in host.args):
            return None
        operands = []
        for a in host.args:
            if a.host is None:  # a constant of the trace
                number = do(creation.tensor, a.value, dtype=float64, device=device)
            else:
                number = self.python_number(a, device)
                if number is None:
                    return None
            operands.append(number)
        beats = operator.gt if host.fn is max else operator.lt
        kept = operands[0]
        for number in operands[1:]:
            kept = do(where, do(beats, number, kept), number, kept)
        return kept

    def pinned(self, var: Var) -> Var:
        """`var`'s tensor as it is now, for a number read from it
        (`loss.item()`): a compiled call reads that number after its graph
        (or the graph computes with it), and an in-place update of the
        tensor after the read must not reach it."""
        t = var.value
        if not isinstance(t, Tensor):
            return var
        pin = _make(t._data.copy())
        self.recorder.on_copy(pin, t)
        return Var(pin)

    def number_input(self, var: Var, dtype, device) -> Tensor | None:
        """Host number `var` as a tensor operand: a 0-d graph input of `dtype`
        that each compiled call makes from its entry state (a number read as
        data, or a pure operation on such numbers: `-lr`), so a new value
        needs no new graph. None for a number computed from this call's
        tensor data (`loss.item()`)."""
        source = self.number_source(var)
        if source is None:
            return None
        self.guard_number_types(var)  # (the input's dtype assumes them)
        return self.entry_input(source, dtype, var.value, device)

    def entry_input(self, source, dtype, value, device) -> Tensor:
        """The graph input each compiled call makes from `source` on entry,
        as a tensor of `dtype` (`NumberInput`) on `device`; `value` is this
        call's. One per source, dtype and device, however often the trace
        uses it. (A call hands the program a host array, which a GPU
        program copies in with its other numbers: cuda_program.py.)"""
        key = (source.name, dtype.name, str(device))
        made = self.number_inputs.get(key)
        if made is None:
            array = to_device_array(np.asarray(value, dtype.np), device)
            made = self.number_inputs[key] = _make(array)
            self.recorder.add_source(made, NumberInput(source, dtype))
        return made

    def tensor_of_numbers(self, args: list, kwargs: dict) -> Var | None:
        """`janus.tensor(data)` of numbers that change from call to call
        (`tensor([tree.word])`): a graph input each compiled call makes from
        its entry state, as `number_input` does for an operand, copied so the
        program may change its tensor in place. None where `data` holds no
        such number, or one that cannot be an input (`loss.item()`)."""
        if len(args) != 1 or set(kwargs) - {"dtype", "device", "requires_grad"}:
            return None
        if any(v.host is not None for v in kwargs.values()) or _host_within(args[0]) is None:
            return None
        numbers = []
        source = self._elements_source(args[0], numbers)
        if source is None:
            return None
        options = {k: v.value for k, v in kwargs.items()}
        example = do(creation.tensor, _nested_values(args[0]), **options)
        if example.requires_grad or example.ndim == 0:
            return None  # (a 0-d one is a plain number input: `number_input`)
        for n in numbers:  # the dtype janus infers assumes them
            self.guard_number_types(n)
        made = _make(example._data.copy())  # (the recorder knows example's array: a constant)
        self.recorder.add_source(made, NumberInput(source, example.dtype))
        return Var(do(Tensor.clone, made))

    def slice_var(self, bounds: list) -> Var:
        """`slice(*bounds)`. Bounds that change from call to call (ints read
        on entry, or Python on them: `x[i : i + 1]`) make a slice with a host
        value, which `dynamic_slice` takes from a tensor with no new graph
        per bound; any other use of it bakes it, which is a break."""
        changing = any(b.host is not None for b in bounds)
        if changing and all(
            type(b.value) in (int, type(None)) and self.number_source(b) is not None for b in bounds
        ):
            return Var(slice(*[b.value for b in bounds]), host=HostOp(slice, tuple(bounds)))
        return Var(slice(*[self.value(b, "a slice bound") for b in bounds]))

    def dynamic_slice(self, tensor: Var, key: Var) -> Var | None:
        """`x[i:j]`, `x[:, i:j]` or `x[i]` of a tensor, by slices from
        `slice_var` whose bounds change from call to call, or by ints that
        do: each compiled call computes the positions on entry (a graph
        input: sources.SlicePositions, IndexPosition), and the graph takes
        them with index_select (then drops an int's dimension). The number
        of positions is what the graph assumes; a call with another, or an
        index out of range, falls back. The graph's result is a copy where
        eager's is a view (record.taken_as_view). None where the key holds
        no such part, or anything but slices and ints, or a step that is
        not positive (eager raises)."""
        parts = key.tracked_items() if type(key.value) is tuple else [key]
        x = tensor.value
        if not parts or len(parts) > x.ndim:
            return None
        changing = [self._changing_part(p, x.shape[dim]) for dim, p in enumerate(parts)]
        if not any(changing):
            return None
        fixed = []
        for p, c in zip(parts, changing):
            if c is None and not (type(p.value) is slice and p.host is None and _forward(p.value)):
                return None
            fixed.append(slice(None) if c else p.value)
        if any(s != slice(None) for s in fixed):
            x = do(operator.getitem, x, tuple(fixed))  # (the fixed slices: a view, recorded)
        for dim, (part, c) in enumerate(zip(parts, changing)):
            if c is None:
                continue
            if c == "index":
                for_position = IndexPosition(x.shape[dim])
                taken = range(part.value % x.shape[dim], part.value % x.shape[dim] + 1)
                bounds = [part]
            else:
                taken = range(*part.value.indices(x.shape[dim]))
                for_position = SlicePositions(x.shape[dim], len(taken))
                bounds = part.host.args
            for b in bounds:  # (the positions assume ints and Nones)
                self.guard_number_types(b)
            where = Computed(for_position, [self.number_source(b) for b in bounds])
            positions = self.entry_input(
                where, int64, np.arange(taken.start, taken.stop, taken.step), x.device
            )
            parent = x
            x = do(index_select, parent, dim, positions)
            window = slice(taken.start, taken.stop, taken.step)
            self.recorder.taken_as_view(x, parent, dim, positions, window)
        for dim in reversed(range(len(parts))):  # an int's dimension goes, as eager's does
            if changing[dim] == "index":
                x = do(Tensor.squeeze, x, dim)
        return Var(x)

    def _changing_part(self, part: Var, size: int) -> str | None:
        """ "slice" for a slice by changing bounds (`slice_var`) with a
        positive step, "index" for an int that changes from call to call
        and is in range now, None for anything else."""
        if type(part.value) is slice:
            changing = isinstance(part.host, HostOp) and part.host.fn is slice
            return "slice" if changing and _forward(part.value) else None
        if type(part.value) is int and part.host is not None and -size <= part.value < size:
            return "index" if self.number_source(part) is not None else None
        return None

    def _elements_source(self, var: Var, numbers: list):
        """An `Elements` for a list or tuple of numbers the trace built
        (nested), collecting its number Vars; None if it holds anything else."""
        items = var.tracked_items()
        if items is None or isinstance(items, dict) or not items:
            return None
        parts = []
        for item in items:
            if type(item.value) in (int, float):
                part = self.number_source(item)
                numbers.append(item)
            else:
                part = self._elements_source(item, numbers)
            if part is None:
                return None
            parts.append(part)
        return Elements(parts)

    def number_source(self, var: Var):
        """Where a compiled call reads host number `var` on entry (None: it
        depends on tensor data the call computes)."""
        host = var.host
        if host is None:  # a constant of the trace
            return Fixed(var.value, repr(var.value)) if type(var.value) in SCALARS else None
        if host is OUTSIDE_PYTHON:
            return var.source
        if not isinstance(host, HostOp):
            return None
        parts = [self.number_source(a) for a in host.args]
        return None if any(p is None for p in parts) else Computed(host.fn, parts)

    def guard_number_types(self, var: Var) -> None:
        if var.host is OUTSIDE_PYTHON:
            self.guard(var.source, "type", type(var.value))
        elif isinstance(var.host, HostOp):
            for a in var.host.args:
                self.guard_number_types(a)

    def value(self, var: Var, use: str):
        """The concrete value of `var` for a use that bakes it into the trace
        (a container the trace built counts as its elements: `tensor([v])`
        bakes `v`)."""
        host = _host_within(var)
        if isinstance(host, HostOp):
            host = host.origin
        if host is OUTSIDE_PYTHON:
            self.graph_break(
                "data-dependent",
                f"a value computed by Python outside the graph (or a number argument that "
                f"changes from call to call) is {use}",
                "keep the value a tensor, or the decision outside the compiled function",
            )
        elif host is not None:
            self.graph_break(
                "data-dependent",
                f"a Python number read from tensor data ({host[1]}()) is {use}",
                "keep the value a tensor (no .item()), or return it from the step",
            )
        return var.value

    def child_source(self, var: Var, make, key=ALL):
        """The source of attribute or item `key` of `var`, if it still shows
        the entry state (the trace has not written to it)."""
        if var.source is None or self.is_mutated(var.value, key):
            return None
        return make(var.source)

    def attr_source(self, obj: Var, name: str):
        """The source of `obj.name`. Tensor metadata follows from the tensor's
        own guard; only .grad is state of its own, until a backward ran."""
        if isinstance(obj.value, Tensor):
            if name != "grad" or self.grads_dirty:
                return None
        return self.child_source(obj, lambda s: s.attr(name), name)

    def is_mutated(self, obj, key=ALL) -> bool:
        entry = self.mutated.get(id(obj))
        if entry is None or entry[0] is not obj:
            return False
        return key is ALL or ALL in entry[1] or key in entry[1]

    def read_back(self, container: Var, key=ALL) -> None:
        """A read of an outside container the trace changed: an item the
        trace stored is its own value, but the rest has no source left (its
        entry state is gone), so a compiled call could not read it again."""
        entry = self.mutated.get(id(container.value))
        if entry is not None and entry[0] is container.value and key in entry[1]:
            return
        self.graph_break(
            "effect",
            f"reads a {type(container.value).__name__} from outside the frame after changing it",
            "read what you need before changing it, or build a new container",
        )

    def remember_store(self, obj, key, var: Var) -> None:
        """The trace stored `var` into attribute or item `key` of `obj`."""
        try:
            self.stored[(id(obj), key)] = (obj, var)
        except TypeError:  # an unhashable key
            pass

    def stored_var(self, obj, key, value) -> Var | None:
        """The Var the trace stored at `key` of `obj`, if `value`, read there
        now, is still it."""
        try:
            entry = self.stored.get((id(obj), key))
        except TypeError:
            return None
        if entry is None or entry[0] is not obj or entry[1].value is not value:
            return None
        return entry[1]

    def mark_mutated(self, obj, key=ALL) -> None:
        entry = self.mutated.setdefault(id(obj), (obj, set()))
        try:
            entry[1].add(key)
        except TypeError:  # an unhashable key
            entry[1].add(ALL)


def _nested_values(var: Var):
    """The concrete value of a list or tuple the trace built, as lists."""
    items = var.tracked_items()
    return var.value if items is None else [_nested_values(v) for v in items]


def _forward(where: slice) -> bool:
    """Whether a slice's step is positive (a tensor's must be: eager raises)."""
    return where.step is None or where.step > 0


def _host_within(var: Var, depth: int = 4):
    """`var.host`, or that of an element of a container the trace built."""
    if var.host is not None or depth == 0:
        return var.host
    items = var.tracked_items()
    if not items:
        return None
    for item in items.values() if isinstance(items, dict) else items:
        host = _host_within(item, depth - 1)
        if host is not None:
            return host
    return None
