"""Recording an eager run as an IR graph.

Every op the eager layer runs (through `ops.registry.apply`) while `fn`
executes becomes a node, typed by the op's actual results; the backward pass
and optimizer updates are ops too, so `loss.backward(); opt.step()` inside
`fn` records forward, backward and update in one graph, as JANUS does.
Tensors `fn` uses that no recorded op produced (its inputs, parameters,
constants) become graph inputs, in order of first use.

This is a trace of one execution, with no guards: the bytecode translator
(src/janus/jit, planned) builds on the same IR with guards and graph breaks.
"""

from __future__ import annotations

import numpy as np

from .. import _C
from ..ops import registry
from ..ops.indexing import INDEX_BASIC, INDEX_PUT, INDEX_SELECT
from ..ops.registry import share_version
from ..ops.shape import PERMUTE, RESHAPE
from ..tensor import Tensor, _make

_SHORT = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "int64": "i64",
    "int32": "i32",
    "int16": "i16",
    "int8": "i8",
    "uint8": "u8",
    "bool": "bool",
}


class Unrecordable(RuntimeError):
    """A recorded run reached work that is no op of the table (a compiled
    frame's backward, a native program)."""


def _type(t: Tensor) -> tuple:
    return (_SHORT[t.dtype.name], list(t._data.shape), str(t.device))


def _flatten(value) -> list:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _flatten(item)]
    return []


class Ref:
    """A tensor operand on the recorder's tape: the name of its IR value."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


# The most elements a tensor made from Python data may have to become a
# constant node (its data is spelled out in the graph).
CONSTANT_ELEMENTS = 1 << 16


class _Recorder:
    def __init__(self):
        self.graph = _C.ir.Graph()
        # id(tensor) -> (tensor, value): the tensor is kept so ids are not reused.
        self.values: dict = {}
        self.captured = 0
        self.checks = 0  # assert nodes so far (their ids)
        self.arrays: dict = {}  # id(array) -> (array, value), for op results
        self.captured_tensors: list = []  # graph inputs %c0, %c1, ... in order
        self.snapshots: list = []  # every graph input's value when it was first read
        self.external: set = set()  # ids of tensors that came from outside fn
        # id(array) -> (array, tensor) for those tensors: a view sharing the
        # array (`x.detach()`, `p.data`) is the same graph value, and writing
        # through it updates that tensor.
        self.external_arrays: dict = {}
        self.effects: dict = {}  # id -> tensor from outside that fn updated in place
        self.grad_watch: dict = {}  # id -> (tensor, its .grad before fn): .grad changes are effects
        self.grads_set: set = set()  # ids of tensors whose .grad fn assigned (see grad_set)
        # Why a write through views cannot be followed (the frame is refused):
        # a view with no write-back written, or a copy standing in for a view.
        self.view_refused: str | None = None
        # Ops that moved a tensor to another device (.to("cuda"), .cpu()): a
        # program runs on one device, so the translator breaks there.
        self.device_moves = 0
        # Views fn made (by a view op), as the graph's values are not memory:
        # id(view array) -> _View. A write into a view is carried back up to
        # its root as graph ops; a write into any tensor of a root bumps the
        # root's version, and a view made at an older version is derived
        # again from its parent when read.
        self.views: dict = {}
        self.versions: dict = {}  # id(root array) -> writes so far
        self.grads_changed: set = set()  # ... and of those it changed before assigning it
        # id -> (tensor, source): tensors the translator read from the heap
        self.sources: dict = {}
        self.sourced_arrays: dict = {}  # id(array) -> (array, tensor) for those tensors
        # Work no op records (registry.notify_unrecordable): the translator
        # collects the reasons and breaks there; a plain recording fails.
        self.unrecordable: list | None = None
        # What eager ran, in order, by IR value name, for running a slice of
        # the graph again as eager ops (rematerialize.py): ("op", op, operands
        # (a tensor as its value's name in a Ref), attrs, result names),
        # ("write", name, source, dtype, shape) and ("fill"/"constant", name, ...).
        self.tape: list = []

    def add_source(self, tensor: Tensor, source) -> None:
        if id(tensor) not in self.sources:
            self.sources[id(tensor)] = (tensor, source)
            self.sourced_arrays.setdefault(id(tensor._data), (tensor._data, tensor))
            grad = tensor._grad
            if grad is not None and id(grad) not in self.sources:
                self.sources[id(grad)] = (grad, source.attr("grad"))

    def locates(self, tensor: Tensor) -> bool:
        """Can a compiled call find `tensor` again: an op of the trace made it,
        or it was read through a source?"""
        known = self.sources.get(id(tensor))
        if known is not None and known[0] is tensor:
            return True
        entry = self.values.get(id(tensor))
        if entry is not None and entry[0] is tensor and id(tensor) not in self.external:
            return True
        entry = self.arrays.get(id(tensor._data))
        return entry is not None and entry[0] is tensor._data

    def watch_grad(self, tensor: Tensor) -> None:
        self.grad_watch.setdefault(id(tensor), (tensor, tensor._grad))

    def grad_set(self, tensor: Tensor) -> None:
        """fn is about to assign `tensor.grad` (zero_grad, `p.grad = None`): a
        backward after that does not read the gradient the call came in with
        (one before it did, if fn had changed the gradient already)."""
        self.watch_grad(tensor)
        if self.grad_watch[id(tensor)][1] is tensor._grad:
            self.grads_set.add(id(tensor))
        else:
            self.grads_changed.add(id(tensor))

    def input(self, tensor: Tensor, name: str):
        value = self.graph.add_input(name, *_type(tensor))
        self.snapshots.append(tensor._data.copy())
        self.watch_grad(tensor)
        self.values[id(tensor)] = (tensor, value)
        # `detach()` is no op: it wraps the same array in a new tensor (the
        # engine detaches `grad_outputs` so). Known by its array, such a
        # tensor reads this input; it would otherwise be captured itself, and
        # a replay would read the recorded call's detached tensor for good.
        self.arrays[id(tensor._data)] = (tensor._data, value)
        self.external.add(id(tensor))
        self.external_arrays[id(tensor._data)] = (tensor._data, tensor)
        return value

    def value_of(self, tensor: Tensor):
        if self.views:
            view = self.view_of(tensor)
            if view is not None and view.version != self.versions.get(view.root, 0):
                # Its root was written since: the view op, recorded again on
                # the parent's current value (registers the view anew).
                if view.op is INDEX_SELECT:  # (a copy in the graph: `taken_as_view`)
                    self(INDEX_SELECT, [view.parent, view.positions], view.attrs, tensor)
                    view.version = self.versions.get(view.root, 0)
                else:
                    self(view.op, [view.parent], view.attrs, tensor)
                return self.values[id(tensor)][1]
        entry = self.values.get(id(tensor))
        if entry is not None and entry[0] is tensor:
            return entry[1]
        # Autograd re-wraps the arrays it saved (a node's output), so a tensor
        # the recorder has not seen may hold an array a recorded op made.
        entry = self.arrays.get(id(tensor._data))
        if entry is not None and entry[0] is tensor._data:
            return entry[1]
        # A detached alias of a tensor the translator read from the heap (the
        # engine detaches `grad_outputs` before any op reads them): the graph
        # reads the sourced tensor, so a compiled call reads the current one.
        alias = self.sourced_arrays.get(id(tensor._data))
        if alias is not None and alias[0] is tensor._data and alias[1] is not tensor:
            return self.value_of(alias[1])
        self.captured += 1
        self.captured_tensors.append(tensor)
        return self.input(tensor, f"c{self.captured - 1}")

    def on_write(self, target: Tensor, source) -> None:
        """An in-place update: `target` now holds `source`. If `target` came
        from outside, its final value is an effect the graph must return."""
        if not isinstance(target, Tensor):
            return
        base = target._base
        made = self.values.get(id(target), (None,))[0] is target and id(target) not in self.external
        view = self.view_of(target)
        if made and view is None and base is not None and base._data is not target._data:
            # A view made inside fn by an op with no write-back here: the
            # base changes too, and the graph could not say so. (A view passed
            # in is written back into its own array.)
            self.view_refused = _VIEW_WRITTEN
        operands = [
            self.value_of(target),
            self.value_of(source) if isinstance(source, Tensor) else source,
        ]
        [value] = self.graph.add_node("overwrite", operands, {}, [_type(target)])
        written = Ref(operands[1].name) if isinstance(source, Tensor) else source
        self.tape.append(("write", value.name, written, target.dtype, tuple(target.shape)))
        shared = self.external_arrays.get(id(target._data))
        if shared is not None and shared[0] is target._data and shared[1] is not target:
            # Written through a view of an outside tensor: that tensor changes.
            self.effects.setdefault(id(shared[1]), shared[1])
            self.values[id(shared[1])] = (shared[1], value)
        if id(target) in self.external:
            self.effects.setdefault(id(target), target)
        self.values[id(target)] = (target, value)
        self.arrays[id(target._data)] = (target._data, value)
        root = view.root if view is not None else id(target._data)
        version = self.versions.get(root, 0) + 1
        while view is not None:  # the write, carried up to the root
            _write_back(self, view.parent, target, view)  # (reads the parent as it was)
            view.version = version
            target, view = view.parent, self.view_of(view.parent)
        self.versions[root] = version  # every other view of the root is now stale

    def taken_as_view(
        self, taken: Tensor, parent: Tensor, dim: int, positions: Tensor, where: slice
    ) -> None:
        """`taken`, which index_select made from `parent` by `positions`
        (`x[i:j]` by bounds that change from call to call, recorded so),
        becomes the view of `parent` that eager's slice is: the call the
        translator runs shares memory as eager's does, and its autograd node
        stays index_select's (whose gradient is the slice's). The graph's
        value is a copy, so a write into it is put back into `parent` by
        index_put at the positions, and a read after its root was written
        takes it again (a write with gradients on raises, as eager's does)."""
        value = self.values[id(taken)][1]
        taken._data = parent._data[(slice(None),) * dim + (where,)]
        share_version(taken, parent)
        self.arrays[id(taken._data)] = (taken._data, value)
        above = self.view_of(parent)
        root = above.root if above is not None else id(parent._data)
        version = self.versions.get(root, 0)
        view = _View(taken._data, parent, INDEX_SELECT, {"dim": dim}, root, version)
        view.positions = positions
        self.views[id(taken._data)] = view

    def view_of(self, tensor: Tensor):
        """The `_View` fn made `tensor` as, or None."""
        view = self.views.get(id(tensor._data))
        return view if view is not None and view.array is tensor._data else None

    def on_copy(self, copy: Tensor, original: Tensor) -> None:
        """`copy` holds `original`'s current value: the same graph value (a
        compiled call computes it, never reads the recorded call's copy)."""
        value = self.value_of(original)
        self.values[id(copy)] = (copy, value)
        self.arrays[id(copy._data)] = (copy._data, value)

    def on_create(self, tensor: Tensor, fill=None) -> None:
        """A tensor made from Python data inside fn: a constant node (each run
        makes it afresh, as eager does); a filled one (`fill`) is one value
        expanded, then copied. One too large to spell out in the graph (an
        `eye(300)`) is a clone of a private copy the graph reads as an input,
        so it too is a new buffer on each run. The translator guards the
        Python values it was made from."""
        data = tensor._data
        if fill is not None and data.ndim > 0:
            [one] = self.graph.add_node(
                "constant", [], {"value": [data.dtype.type(fill).item()]},
                [(_SHORT[tensor.dtype.name], [], str(tensor.device))],
            )  # fmt: skip
            [value] = self.graph.add_node(
                "expand", [one], {"shape": list(data.shape)}, [_type(tensor)]
            )
            self.tape.append(("fill", value.name, fill, data.shape, data.dtype, tensor.device))
        elif data.size <= CONSTANT_ELEMENTS:
            host = data if type(data) is np.ndarray else data.get()  # (a GPU's: copied back)
            [value] = self.graph.add_node(
                "constant", [], {"value": host.ravel().tolist()}, [_type(tensor)]
            )
            self.tape.append(("constant", value.name, data.copy()))
        else:
            # Nothing else sees the copy, so no write reaches it: every call
            # clones the recorded values.
            private = _make(data.copy())
            [value] = self.graph.add_node("clone", [self.value_of(private)], {}, [_type(tensor)])
            self.tape.append(("constant", value.name, private._data))
        self.values[id(tensor)] = (tensor, value)
        self.arrays[id(data)] = (data, value)

    def on_unrecordable(self, reason: str) -> None:
        if self.unrecordable is None:
            raise Unrecordable(f"janus.jit.record cannot record this run: {reason}")
        self.unrecordable.append(reason)

    def on_check(self, condition: Tensor, message: str) -> None:
        """A data check of eager code (registry.check): an assert node, so a
        compiled call checks each call's data (and falls back when it fails)."""
        self.checks += 1
        self.graph.add_node(
            "assert", [self.value_of(condition)], {"id": self.checks, "message": message}, []
        )

    def __call__(self, op, args, attrs, result, writing_back: bool = False) -> None:
        """Records `op(*args) -> result`. `writing_back`: the op puts a
        written view back into its parent (`_write_back`); the parent stays
        the view it was (registering it as a view of its own view would make
        the chain a cycle)."""
        operands = [self.value_of(a) if isinstance(a, Tensor) else a for a in args]
        outputs = result if isinstance(result, tuple) else (result,)
        if op.name == "to_device":
            self.device_moves += 1
        values = self.graph.add_node(op.name, operands, attrs, [_type(t) for t in outputs])
        refs = [Ref(v.name) if isinstance(a, Tensor) else a for a, v in zip(args, operands)]
        self.tape.append(("op", op, refs, attrs, [v.name for v in values]))
        for tensor, value in zip(outputs, values):
            self.values[id(tensor)] = (tensor, value)
            self.arrays[id(tensor._data)] = (tensor._data, value)
        if op.view and isinstance(args[0], Tensor) and not writing_back:
            parent = args[0]
            above = self.view_of(parent)
            root = above.root if above is not None else id(parent._data)
            for k, tensor in enumerate(outputs):
                if tensor._base is not None:  # (a reshape may copy)
                    taken = (op, attrs) if op.outputs == 1 else _piece(attrs, k)
                    version = self.versions.get(root, 0)
                    self.views[id(tensor._data)] = _View(
                        tensor._data, parent, *taken, root, version
                    )


_VIEW_WRITTEN = (
    "it updates a view in place (x[:1].add_(1)), which changes the view's base; "
    "the graph does not follow that"
)


class _View:
    """A view fn made: the one op that takes it from its parent again (a
    split's piece is its slice), the root array whose memory it shares, and
    the root's version its graph value was made at."""

    __slots__ = ("array", "parent", "op", "attrs", "root", "version", "positions")

    def __init__(self, array, parent: Tensor, op, attrs: dict, root: int, version: int):
        self.array, self.parent, self.op, self.attrs = array, parent, op, attrs
        self.root, self.version = root, version
        self.positions = None  # index_select's (`taken_as_view`)


def _write_back(rec: _Recorder, parent: Tensor, child: Tensor, view: _View) -> None:
    """`parent`'s new value after its view `child` was written: the child's
    value put back where the view op took it from (recorded as ops on the
    parent, whose array already holds the result)."""
    op, attrs = view.op, view.attrs
    if op.name == "index_basic":
        rec(INDEX_PUT, [parent, child], {"spec": attrs["spec"], "accumulate": False}, parent)
    elif op.name == "reshape":
        rec(RESHAPE, [child], {"shape": tuple(parent._data.shape)}, parent, writing_back=True)
    elif op.name == "permute":
        inverse = [0] * len(attrs["dims"])
        for i, d in enumerate(attrs["dims"]):
            inverse[d] = i
        rec(PERMUTE, [child], {"dims": tuple(inverse)}, parent, writing_back=True)
    elif op is INDEX_SELECT:  # (a copy standing in for a view)
        spec = (("s", None, None, None),) * attrs["dim"] + (("t",),)
        at = {"spec": spec, "accumulate": False}
        rec(INDEX_PUT, [parent, child, view.positions], at, parent)
    else:  # (expand: numpy refuses to write a broadcast view)
        rec.view_refused = _VIEW_WRITTEN
        return
    if id(parent) in rec.external:
        rec.effects.setdefault(id(parent), parent)


def _piece(attrs: dict, k: int) -> tuple:
    """Piece `k` of a split, as the basic indexing that takes it."""
    dim, sizes = attrs["dim"], attrs["sizes"]
    start = sum(sizes[:k])
    spec = (("s", None, None, None),) * dim + (("s", start, start + sizes[k], None),)
    return INDEX_BASIC, {"spec": spec}


class Recording:
    """One recorded run: the graph, fn's result, the tensors that feed the
    graph's inputs (in order: the explicit inputs, then captured tensors such
    as parameters), and the outside tensors fn updated in place (their final
    values are the last graph outputs, in this order)."""

    __slots__ = ("graph", "result", "inputs", "input_arrays", "effects", "grads")

    def __init__(self, graph, result, inputs, input_arrays, effects, grads):
        self.graph, self.result, self.inputs, self.effects = graph, result, inputs, effects
        self.input_arrays = input_arrays  # the inputs' values when the graph read them
        # Inputs whose `.grad` fn replaced (backward, zero_grad): (tensor, has
        # grad); the new gradients are graph outputs after the effects.
        self.grads = grads


def recording(fn, *inputs) -> Recording:
    """Runs `fn(*inputs)` eagerly and returns its `Recording`."""
    recorder = _Recorder()
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"record(): input {k} is a {type(t).__name__}, not a Tensor")
        recorder.input(t, f"in{k}")
    registry.observers.append(recorder)
    try:
        # The recording must see every op run eagerly: no frame inside may be
        # answered by a compiled entry of the JIT's hook.
        with _C.capture.disabled():
            result = fn(*inputs)
    finally:
        registry.observers.remove(recorder)
    outputs = [recorder.value_of(t) for t in _flatten(result)]
    # In-place updates of tensors from outside (parameters, state) are effects:
    # their final values come after fn's results, in order of first update.
    effects = list(recorder.effects.values())
    outputs += [recorder.value_of(t) for t in effects]
    grads = []
    for t, before in recorder.grad_watch.values():
        if t._grad is not before:
            grads.append((t, t._grad is not None))
            if t._grad is not None:
                outputs.append(recorder.value_of(t._grad))
    recorder.graph.set_outputs(outputs)
    feeding = list(inputs) + recorder.captured_tensors
    return Recording(recorder.graph, result, feeding, recorder.snapshots, effects, grads)


def record(fn, *inputs):
    """Runs `fn(*inputs)` eagerly and returns (IR graph, fn's result).

    >>> import janus
    >>> graph, out = janus.jit.record(lambda x: (x * 2).relu().sum(), janus.ones(3))
    >>> print(graph)  # doctest: +NORMALIZE_WHITESPACE
    graph(%in0: f32[3]) {
      %0: f32[3] = mul(%in0, 2)
      %1: f32[3] = relu(%0)
      %2: f32[] = sum(%1) {dims=[0], keepdim=false}
      return %2
    }
    """
    r = recording(fn, *inputs)
    return r.graph, r.result
