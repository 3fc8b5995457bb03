"""From a finished translation to a compiled entry: the guard, the graph's
inputs and outputs, and the effects to commit.

A compiled call reads its tensor inputs through their sources (or holds the
tensor itself when the trace found it with no source, e.g. an optimizer's
momentum buffer), runs the graph, and only then commits: in-place updates of
outside tensors, new `.grad` tensors, and the Python heap effects in program
order; then it rebuilds the result. If the graph raises, nothing is
committed and the frame runs as usual.
"""

from __future__ import annotations

import types

from .. import _C
from ..autograd import grad_mode
from ..autograd.node import consumed, history_before
from ..device import _default as default_device
from ..device import device
from ..dtypes import dtype
from ..ops.registry import apply
from ..random import default_generator, generator_for, generator_states
from ..tensor import Size, Tensor, _make
from .backward import FrameBackward, NotDifferentiable, spent_node
from .cuda_codegen import NoKernel
from .program import AssertionFailed, InputsOverlap, ShapeSpeculationError, compile_graph
from .sources import Attr, Env, Fixed, Item, Local, fast_reader
from .split import MATERIALIZED_NULL
from .values import (
    NULL,
    OUTSIDE_PYTHON,
    HostOp,
    Var,
    VirtualIterator,
    is_constant,
    is_namedtuple,
    plain_class,
)


class NotCompilable(Exception):
    """The trace ran, but has no compiled form (the reason is the message)."""


class _Builder:
    """Collects graph outputs while turning Vars into rebuild templates."""

    def __init__(self, tr):
        self.tr, self.recorder = tr, tr.recorder
        self.outputs: list = []  # IR values
        self.positions: dict = {}  # id(tensor) -> output index
        self.containers: dict = {}  # id(list or dict) -> (it, its template)
        self.tracked: list = []  # results autograd must track (backward.py)
        self.tracked_at: dict = {}  # id(tensor) -> index in `tracked`
        # Sources of numbers read as data: each call reads them on entry,
        # before its effects change any (source name -> source).
        self.entry_reads: dict = {}
        self.splitting = False  # templating the state handed to a split's rest

    def output(self, tensor: Tensor) -> int:
        at = self.positions.get(id(tensor))
        if at is None:
            at = self.positions[id(tensor)] = len(self.outputs)
            self.outputs.append(self.recorder.value_of(tensor))
        return at

    def output_value(self, value) -> int:
        """Makes the IR value a graph output (once); returns its index."""
        for k, known in enumerate(self.outputs):
            if known.name == value.name:
                return k
        self.outputs.append(value)
        return len(self.outputs) - 1

    def tensor(self, t: Tensor, data_only: bool = False):
        rec = self.recorder
        produced = id(t) not in rec.external and (id(t) in rec.values or id(t._data) in rec.arrays)
        base = t._base
        if produced and not data_only and base is not None and base._data is not t._data:
            if self.splitting or id(base) in rec.external or id(base) in rec.sources:
                # A graph output is a new array: eagerly the view shares its
                # base's memory, and writes through one show in the other.
                raise NotCompilable(
                    "a view of a tensor from outside the frame escapes it (returned or "
                    "kept), or a view crosses a graph break: a compiled call would hand "
                    "out a copy"
                )
        view = rec.view_of(t) if produced and not data_only else None
        if view is not None:
            # A view of a tensor the frame made: made again from that tensor's
            # output, so the two share memory as they do eagerly. (`h.detach()`
            # of such a view holds the same array: the view again, detached.)
            made = ("view", self.tensor(view.parent), view.op, view.attrs)
            return ("detached", made) if view.parent._rg and not t._rg else made
        if produced:
            # A training step (it ran backward itself) may return its loss:
            # the compiled call returns it without the consumed autograd
            # graph. Otherwise a result that requires grad is tracked: each
            # call attaches a node whose rule runs the compiled backward.
            needs_grad = t._rg and grad_mode.state.enabled and not data_only
            after = self.tr.backward_node
            if needs_grad and self.tr.ran_backward and not history_before([t], after):
                # Made after the step's backward from leaves alone (a
                # prediction with the updated weights): unlike the loss, its
                # autograd graph is whole, to be used.
                raise NotCompilable(
                    "it returns or keeps a tensor that requires grad, made after its backward"
                )
            if needs_grad and not self.tr.ran_backward:
                at = self.tracked_at.get(id(t))
                if at is None:
                    at = self.tracked_at[id(t)] = len(self.tracked)
                    self.tracked.append(t)
                return ("tracked", at)
            if needs_grad:  # its graph reaches back before the step's backward
                if not consumed([t]):
                    raise NotCompilable(
                        "it returns or keeps a tensor that requires grad whose autograd graph "
                        "its backward left whole (retain_graph=True, or not part of the loss)"
                    )
                return ("spent", self.output(t))
            return ("out", self.output(t))
        known = rec.sources.get(id(t))
        shared = rec.sourced_arrays.get(id(t._data))
        if (known is None or known[0] is not t) and shared is not None and shared[0] is t._data:
            # `x.detach()` of a tensor read from the heap, which no op used:
            # the same detached view of what the source gives on this call.
            return ("detached", ("source", _where(rec, shared[1])))
        if (known is None or known[0] is not t) and id(t) in self.tr.created and not data_only:
            # Made by a janus call the graph has no node for (a CUDA
            # `zeros`): every compiled call would hand out this call's tensor.
            raise NotCompilable("a tensor made inside the frame (with no graph form) escapes it")
        return ("source", _where(rec, t))

    def template(self, var):
        if var is NULL:
            return ("null",)
        if var.host is OUTSIDE_PYTHON or isinstance(var.host, HostOp):
            at_entry = self.tr.number_source(var)
            if at_entry is not None:  # a changing number, or Python on such numbers
                self.entry_reads.setdefault(at_entry.name, at_entry)
                return ("entry", at_entry.name)
            # computed again from this call's values (`total + loss.item()`)
            return ("compute", var.host.fn, [self.template(a) for a in var.host.args])
        if var.host is not None:
            tensor_var, kind = var.host
            if isinstance(tensor_var.value, Tensor):
                return ("host", self.tensor(tensor_var.value, data_only=True), kind)
            return ("host", self.template(tensor_var), kind)
        value = var.value
        if type(value) in (list, dict, set):  # one object: one template (see _build)
            known = self._known(value)
            if known is not None:
                return known
            if var.source is not None and id(value) not in self.tr.created:
                # The caller's own container: the same object, which the
                # committed effects have brought up to date (a copy rebuilt
                # from its items would lose what the rest of a split frame
                # appends to it).
                return ("source", var.source)
        items = var.tracked_items()
        if items is not None and type(value) is tuple:
            return (tuple, [self.template(v) for v in items])
        if items is not None and is_namedtuple(type(value)):
            return ("named", type(value), [self.template(v) for v in items])
        if items is not None and type(value) is list:
            return self._container(value, lambda: [self.template(v) for v in items])
        if items is not None and type(value) is dict:
            return self._container(value, lambda: [(k, self.template(v)) for k, v in items.items()])
        if isinstance(value, Tensor):
            return self.tensor(value)
        if type(value) is types.CellType:
            return self.cell(value)
        if type(value) is types.FunctionType and id(value) in self.tr.made_functions:
            return self._function(value)
        if isinstance(value, VirtualIterator) and value.replayable:
            # A loop under way at a split: an iterator over what is to come.
            return ("iter", [self.template(v) for v in value.remaining()])
        if type(value) is tuple and var.source is not None:
            # The caller's tuple, as it was on entry (read before effects
            # are committed: a store may rebind where it came from).
            self.entry_reads.setdefault(var.source.name, var.source)
            return ("entry", var.source.name)
        if is_constant(value) or type(value) in _IMMUTABLE:
            return ("const", value)
        if var.source is not None and not self.tr.is_mutated(value):
            return ("source", var.source)
        if var.self_var is not None:  # a bound method, looked up again on its receiver
            name = _method_name(var.self_var.value, value)
            if name is not None:
                return ("method", self.template(var.self_var), name)
        if type(value) is tuple:
            return (tuple, [self.template(Var(v)) for v in value])
        if type(value) is list:
            return self._container(value, lambda: [self.template(Var(v)) for v in value])
        if type(value) is dict and all(is_constant(k) for k in value):
            return self._container(
                value, lambda: [(k, self.template(Var(v))) for k, v in value.items()]
            )
        if type(value) is set and all(is_constant(v) for v in value):  # (a set comprehension's)
            return self._container(value, lambda: [("const", v) for v in value])
        if id(value) in self.tr.created and plain_class(type(value)):  # made as its attributes
            return self._known(value) or self._container(value, lambda: self._attributes(value))
        raise NotCompilable(f"a {type(value).__name__} object made inside the frame escapes it")

    def cell(self, cell):
        """A cell a frame the trace ran made: one per call, holding what the
        trace left in it; the translated frame's free variable: this call's."""
        top = self.tr.top.closure
        for k, name in enumerate(self.tr.top.code.code.co_freevars):
            if top[name] is cell:
                return ("free", k)
        if id(cell) not in self.tr.made_cells:
            return ("const", cell)  # an inlined function's (fixed by its identity guard)
        known = self._known(cell)
        if known is not None:
            return known
        template = ("cell", [])  # (registered first: a function in it may close over it)
        self.containers[id(cell)] = (cell, template)
        try:
            contents = cell.cell_contents
        except ValueError:  # (empty: assigned later, or deleted)
            return template
        written = self.tr.cell_vars.get(id(cell))
        var = written[1] if written is not None and written[1].value is contents else Var(contents)
        template[1].append(self.template(var))
        return template

    def _function(self, fn):
        """A function the trace made (a closure, a 3.11 comprehension): made
        again by each call, over that call's cells."""
        known = self._known(fn)
        if known is not None:
            return known
        _, defaults, kwdefaults, closure = self.tr.made_functions[id(fn)]
        template = ("function", fn, [])
        self.containers[id(fn)] = (fn, template)
        for var in (defaults, kwdefaults, closure):
            template[2].append(("const", None) if var is None else self.template(var))
        return template

    def _attributes(self, obj) -> list:
        """The templates of a new user object's attributes (as the trace
        stored them, so a number read from a tensor stays one)."""
        stored = self.tr.stored_var
        return [(k, self.template(stored(obj, k, v) or Var(v))) for k, v in vars(obj).items()]

    def _known(self, value):
        """The template already made for this object (a container, a user
        object, a cell, a function), or None."""
        known = self.containers.get(id(value))
        return known[1] if known is not None and known[0] is value else None

    def _container(self, value, parts):
        """The template of a list, dict or set, registered before its parts are
        made (a list that holds itself stays one object)."""
        template = (type(value), [])
        self.containers[id(value)] = (value, template)
        template[1].extend(parts())
        return template


# janus values that never change once made: a compiled call may hand out the
# very object the trace saw.
_IMMUTABLE = (Size, dtype, device)

_HOST_READS = {
    "item": lambda t: t.item(),
    "tolist": lambda t: t.tolist(),
    "float": float,
    "int": int,
}


def _build(template, outs, env, made: dict):
    """The value `template` describes, on this call. `made` (one per call)
    holds the lists and dicts built so far: one object the trace saw twice
    (a list in a local and its bound `append` on the stack) is one object."""
    kind = template[0]
    if kind == "out":
        return _make(outs[template[1]])
    if kind == "spent":
        t = _make(outs[template[1]])
        t._rg, t.grad_fn = True, spent_node()
        return t
    if kind == "tracked":  # one object per call, however often it appears
        return made[_TRACKED][template[1]]
    if kind == "const":
        return template[1]
    if kind == "source":
        return template[1].evaluate(env)
    if kind == "entry":
        return made[_ENTRY][template[1]]
    if kind == "host":
        tensor = _build(template[1], outs, env, made)
        return _HOST_READS[template[2]](tensor)
    if kind == "compute":
        return template[1](*[_build(t, outs, env, made) for t in template[2]])
    if kind == "view":
        return apply(template[2], _build(template[1], outs, env, made), **template[3])
    if kind == "method":
        return getattr(_build(template[1], outs, env, made), template[2])
    if kind == "detached":
        return _build(template[1], outs, env, made).detach()
    if kind == "iter":
        return iter([_build(t, outs, env, made) for t in template[1]])
    if kind == "null":
        return MATERIALIZED_NULL
    if kind == "free":
        return made[_CLOSURE][template[1]]
    if kind is tuple:
        return tuple(_build(t, outs, env, made) for t in template[1])
    if kind == "named":
        return tuple.__new__(template[1], [_build(t, outs, env, made) for t in template[2]])
    found = made.get(id(template))
    if found is not None:
        return found
    if kind is dict:
        value = made[id(template)] = {}
        value.update((k, _build(t, outs, env, made)) for k, t in template[1])
        return value
    if kind is set:
        value = made[id(template)] = set()
        value.update(_build(t, outs, env, made) for t in template[1])
        return value
    if kind is list:
        value = made[id(template)] = []
        value.extend(_build(t, outs, env, made) for t in template[1])
        return value
    if kind == "cell":
        value = made[id(template)] = types.CellType()
        if template[1]:
            value.cell_contents = _build(template[1][0], outs, env, made)
        return value
    if kind == "function":
        fn = template[1]
        defaults, kwdefaults, closure = (_build(t, outs, env, made) for t in template[2])
        found = made.get(id(template))  # (made while building its closure: a recursive def)
        if found is not None:
            return found
        value = made[id(template)] = types.FunctionType(
            fn.__code__, fn.__globals__, fn.__name__, defaults, closure
        )
        value.__kwdefaults__, value.__qualname__ = kwdefaults, fn.__qualname__
        value.__annotations__ = dict(fn.__annotations__)
        return value
    value = made[id(template)] = object.__new__(kind)  # a plain user object
    value.__dict__.update((k, _build(t, outs, env, made)) for k, t in template[1])
    return value


_TRACKED = "tracked"  # the key of a call's tracked results in `made`
_ENTRY = "entry"  # the key of a call's entry reads (name -> value) in `made`
_CLOSURE = "closure"  # the key of the cells of the frame's free variables in `made`


def _where(rec, tensor):
    """How a compiled call finds an outside tensor: its source, or the tensor
    itself when the trace met it with none (inside a library call)."""
    known = rec.sources.get(id(tensor))
    if known is not None and known[0] is tensor:
        return known[1]
    return Fixed(tensor, "tensor")


def _method_name(receiver, method) -> str | None:
    """The attribute of `receiver` that gives bound method `method`: its
    function's name, or the name its class stores it under (`Tensor.to =
    _to`, `Tensor.cuda = lambda ...`)."""
    name = getattr(method, "__name__", None)
    if name is not None and getattr(receiver, name, None) == method:
        return name
    func = getattr(method, "__func__", None)
    for klass in type(receiver).__mro__:
        for key, attribute in vars(klass).items():
            if attribute is func and getattr(receiver, key, None) == method:
                return key
    return None


def _frame_device(rec) -> device:
    """The one device the frame's program runs on. Tensors the graph made
    count too: a frame whose only tensors are `zeros(3, device="cuda")`
    runs on the GPU. Beside GPU tensors, CPU tensors that are read-only
    inputs or constants may be there, as eager allows them: 0-d ones as
    operands (`x_cuda * torch.tensor(0.5)`), others moved to the GPU by an
    op (`x_cuda[[0, 2]]`'s index); they reach the program as host inputs.
    A CPU tensor that an op makes or writes, or that requires grad, would
    have to stay on the CPU, so such a frame is refused."""
    devices = {t.device for t, _ in rec.values.values()}
    gpus = {d for d in devices if d.type != "cpu"}
    if len(devices) == 1:
        return devices.pop()
    if not devices:
        return device("cpu")
    if len(gpus) == 1:
        constants = {entry[1] for entry in rec.tape if entry[0] == "constant"}
        inputs = {v.name for v in rec.graph.inputs()}
        if all(
            t.device in gpus or (not t._rg and (value.name in inputs or value.name in constants))
            for t, value in rec.values.values()
        ):
            return gpus.pop()
    raise NotCompilable(f"it mixes tensors on {' and '.join(sorted(map(str, devices)))}")


class CompiledFrame:
    """The compiled entry for one frame: `entry(*values)` with the values in
    `janus._C.capture.entry_signature(code)` order; it returns the call's
    result, or `capture.FALLBACK` when the frame must run as usual.

    With `split` (split.py) the trace stopped at a graph break: the entry
    runs the graph of the part before it, then hands the frame's state to
    `split`, which runs the rest in Python; the result is the rest's."""

    def __init__(self, tr, result_var, names, globals_, builtins_, rng_start, split=None):
        rec = tr.recorder
        if rec.graph.node_count() == 0 and not tr.effects and split is None:
            raise NotCompilable("the frame does no tensor work")
        if rec.view_refused is not None:
            raise NotCompilable(rec.view_refused)
        where = _frame_device(rec)
        self._follow_generator(where, rng_start)
        b = _Builder(tr)
        self.split = split
        if split is None:
            self.result = b.template(result_var)
        else:
            b.splitting = True
            self.stack = [b.template(v) for v in split.stack]
            self.locals = [b.template(v) for v in split.locals]
            self.cells = [b.cell(c) for c in split.cells]
            b.splitting = False
        # The entry's last values are the frame's free variables' cells.
        self.free_vars = len(tr.top.code.code.co_freevars)
        self.entry_reads = b.entry_reads  # (filled as the templates below are made)
        self.heap_effects = []
        for effect in tr.effects:
            kind, target = effect[0], effect[1]
            if kind == "setglobal":
                self.heap_effects.append((kind, target, effect[2], b.template(effect[3])))
            elif kind == "print":  # ("print", args, kwargs): their templates, keywords last
                values = (tuple, [b.template(v) for v in (*target, *effect[2].values())])
                self.heap_effects.append((kind, None, tuple(effect[2]), values))
            elif target.source is None:
                raise NotCompilable(f"a {kind} on an object with no source")
            elif kind in ("append", "add"):
                self.heap_effects.append((kind, target.source, None, b.template(effect[2])))
            else:
                self.heap_effects.append((kind, target.source, effect[2], b.template(effect[3])))
        # Outside tensors updated in place, and .grad changes: committed
        # after the run, to the tensor found through its source.
        for t in rec.effects.values():
            if id(t) in tr.created and id(t) not in rec.sources:
                # Made by a janus call the graph has no node for, so the
                # trace holds it as a fixed tensor: updated in place, it would
                # carry the update into the next call.
                raise NotCompilable("a tensor made inside the frame is updated in place")
        self.tensor_effects = [(_where(rec, t), b.output(t)) for t in rec.effects.values()]
        # (A gradient the frame assigned is committed even where the
        # translated call's assignment changed nothing: zero_grad on
        # gradients that were None then, which are there on a later call.)
        self.grads = [
            (_where(rec, t), None if t._grad is None else b.tensor(t._grad))
            for t, before in rec.grad_watch.values()
            if t._grad is not before or id(t) in rec.grads_set
        ]
        for t, before in rec.grad_watch.values():
            changed = t._grad is not None or id(t) in rec.grads_changed
            if before is None and changed and id(t) not in rec.grads_set:
                # Backward set a gradient where there was none; on a call
                # where one is there, eager adds to it (micro-batches). (A
                # gradient that was there is a graph input, checked as one.)
                tr.guard(_where(rec, t).attr("grad"), "equals", None)
        for t, before in rec.grad_watch.values():
            if tr.ran_backward and t.grad_fn is None and t._grad is not before:
                # The traced backward ran no hook on this leaf (a hook is a
                # break); one registered later must run, so it misses.
                tr.guard(_where(rec, t).attr("_hooks"), "equals", None)
        self.backward = None
        if b.tracked:
            self.tracked_at = [b.output(t) for t in b.tracked]
            try:
                if any(t._rg and id(t) in tr.created for t in rec.captured_tensors):
                    # (janus.ones(3, requires_grad=True): a leaf each call makes anew)
                    raise NotDifferentiable("a tensor made inside it requires grad")
                self.backward = FrameBackward(rec, b.tracked, b.output_value, where.type)
            except NoKernel as why:
                raise NotCompilable(f"the CUDA runtime has no kernel for {why} (yet)") from None
            except NotDifferentiable as why:
                raise NotCompilable(
                    f"the frame returns or stores a tensor that autograd must track, and {why}"
                ) from None
            self.backward_inputs = [_where(rec, t) for t in rec.captured_tensors if t._rg]
        rec.graph.set_outputs(b.outputs)
        # A split at the frame's first tensor op leaves nothing to run before
        # it (a graph with outputs but no nodes hands out inputs: the value a
        # number was read from, `t.item()`).
        try:
            staged = [at for _, at in self.tensor_effects]
            self.program = (
                compile_graph(rec.graph, staged_outputs=staged, device=where.type)
                if rec.graph.node_count() or b.outputs
                else None
            )
        except NoKernel as why:
            raise NotCompilable(f"the CUDA runtime has no kernel for {why} (yet)") from None
        except Exception as error:  # a compiler bug must not stop the user's program
            raise NotCompilable(
                f"the graph compiler failed ({type(error).__name__}: {error}); please report this"
            ) from error
        self.inputs = [_where(rec, t) for t in rec.captured_tensors]
        for t in rec.captured_tensors:  # every input read from the heap is checked as a
            known = rec.sources.get(id(t))  # tensor (a gradient the engine read had none)
            if known is not None and known[0] is t and isinstance(known[1], (Attr, Item, Local)):
                tr.guard(known[1], "tensor", t)
        self.read_inputs = fast_reader(self.inputs, names)
        self.run = None if self.program is None else self.program.program.call
        self.names, self.globals, self.builtins = names, globals_, builtins_
        self.graph = rec.graph
        self.calls = 0
        # The common case, a result that is one graph output and nothing to
        # commit, takes a short path.
        self.commits = bool(self.tensor_effects or self.grads or self.heap_effects)
        # No tensor work before a split: the entry only hands the call on,
        # having done what Python would (stores, appends: a comprehension's).
        self.no_tensor_work = (
            self.program is None
            and not (self.tensor_effects or self.grads)
            and self.backward is None
        )
        plain = split is None and self.result[0] == "out" and not self.commits
        self.result_out = self.result[1] if plain else None

    def _follow_generator(self, where: device, rng_start: dict) -> None:
        """The random stream the frame's ops draw from: the default
        generator of its device (the CPU's, or its CUDA device's). Each call
        shifts the graph's draws by how far that generator has moved since
        the trace started (`rng_offset`), and moves it on by what the trace
        drew (`rng_words`); its seed is guarded. `rng_start`: every
        generator's (seed, offset) when the trace started."""
        generator = generator_for(where, None)
        for other in generator_states():
            if other is not generator and other._offset != rng_start.get(other, (0, 0))[1]:
                raise NotCompilable("it draws random numbers on two devices")
        # (A generator the trace made, at its device's first draw, started at 0.)
        self.rng_seed, self.rng_offset = rng_start.get(generator, (generator._seed, 0))
        self.rng_words = generator._offset - self.rng_offset
        self.generator = generator

    def __call__(self, *values):
        env = entry = targets = None
        try:
            arrays = self.read_inputs(values, self.globals, self.builtins)
            if self.entry_reads:
                env = self._env(values)
                entry = {name: s.evaluate(env) for name, s in self.entry_reads.items()}
        except (ArithmeticError, LookupError, TypeError, ValueError):
            # Python on this call's numbers raised (`math.log(lr)` of a
            # negative lr), a number input (sources.NumberInput) does not
            # fit its dtype (an int too large), or an item read on entry
            # unguarded is not there (`tree[1]` of a shorter tuple): nothing
            # ran yet, so the frame runs as usual and raises where eager does.
            return _C.capture.FALLBACK
        shift = self.generator._offset - self.rng_offset
        if self.tensor_effects:
            # Tensors updated in place get their new values straight from the
            # program, which writes them after its last step (staged outputs).
            env = env or self._env(values)
            targets = [(target.evaluate(env), at) for target, at in self.tensor_effects]
        try:
            if self.run is None:
                outs = []
            elif targets:
                outs = self.run(arrays, shift, {at: t._data for t, at in targets})
            else:
                outs = self.run(arrays, shift)
        except (ShapeSpeculationError, AssertionFailed, InputsOverlap):
            # A data-dependent shape differed from the recorded one, an
            # in-graph speculation check failed, or inputs the call writes
            # share memory with others (`f(a, a)`): nothing is committed yet,
            # so the frame simply runs as usual.
            return _C.capture.FALLBACK
        except (IndexError, ValueError, RuntimeError):
            # A kernel refused this call's data (an index out of range): as
            # above, nothing is committed, and the frame run as usual raises
            # eager's error at the user's line.
            return _C.capture.FALLBACK
        self.calls += 1
        if self.rng_words:
            self.generator._offset += self.rng_words
        if self.result_out is not None:
            return _make(outs[self.result_out])
        env = env or self._env(values)
        made: dict = {} if entry is None else {_ENTRY: entry}
        if self.free_vars:
            made[_CLOSURE] = values[len(values) - self.free_vars :]
        if self.backward is not None:
            inputs = [source.evaluate(env) for source in self.backward_inputs]
            made[_TRACKED] = self.backward.attach(outs, arrays, inputs, self.tracked_at, shift)
        if self.commits:
            self._commit(outs, env, made, targets or ())
        if self.split is not None:
            stack = [_build(t, outs, env, made) for t in self.stack]
            local_values = [_build(t, outs, env, made) for t in self.locals]
            closure = (*(_build(t, outs, env, made) for t in self.cells), *made.get(_CLOSURE, ()))
            return self.split.run(stack, local_values, closure or None)
        return _build(self.result, outs, env, made)

    def _env(self, values) -> Env:
        return Env(dict(zip(self.names, values)), self.globals, self.builtins)

    def _commit(self, outs: list, env, made: dict, targets) -> None:
        """Effects, in program order; before this, only the program's staged
        outputs changed tensors (the `targets` updated in place, each after
        the program's last step, so a failed run changed nothing)."""
        for tensor, at in targets:
            if outs[at] is not tensor._data:  # its buffer did not fit: copy
                tensor._data[...] = outs[at]
            tensor._bump_version()
        for target, grad in self.grads:
            target.evaluate(env)._grad = None if grad is None else _build(grad, outs, env, made)
        for kind, target, key, value in self.heap_effects:
            value = _build(value, outs, env, made)
            if kind == "setglobal":
                target[key] = value
            elif kind == "print":
                split = len(value) - len(key)
                print(*value[:split], **dict(zip(key, value[split:])))
            elif kind == "setattr":
                setattr(target.evaluate(env), key, value)
            elif kind == "setitem":
                target.evaluate(env)[key] = value
            elif kind == "add":
                target.evaluate(env).add(value)
            else:  # append
                target.evaluate(env).append(value)


def build_guard(code, tr, entry: CompiledFrame):
    """The native guard: the trace's checks on sources, then global state
    (`entry`'s random generator's seed among it)."""
    guard = _C.capture.Guard(code)
    nodes: dict = {}
    for source, kind, arg in tr.guards.values():
        node = source.node(guard, nodes)
        if kind == "equals":
            node.equals(arg)
        elif kind == "tensor":
            node.tensor(
                dtype=arg._data.dtype,
                shape=tuple(arg._data.shape),
                requires_grad=arg._rg,
                device=str(arg.device),
                requires_grad_attr="_rg",
            )
        elif kind == "is":
            node.is_(arg, getattr(arg, "__qualname__", type(arg).__name__))
        elif kind == "type":
            node.type_is(arg)
        elif kind == "len":
            node.len_is(arg)
        elif kind == "contains":
            node.contains(*arg)
        else:
            raise AssertionError(kind)
    guard.object(grad_mode.state, "grad_mode.state").attr("enabled").equals(tr.grad_enabled)
    from .. import dtypes

    default = dtypes._default[0]
    guard.object(dtypes._default, "dtypes._default").item(0).is_(default, repr(default))
    place = default_device[0]  # (factories' device: set_default_device)
    guard.object(default_device, "default device").item(0).is_(place, repr(place))
    gen = entry.generator
    name = "default_generator" if gen is default_generator else f"generator of {gen.device}"
    guard.object(gen, name).attr("_seed").equals(entry.rng_seed)
    return guard
