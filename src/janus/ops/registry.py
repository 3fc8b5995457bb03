"""The one op table, and eager dispatch.

Every primitive op is declared once, with every part the rest of janus needs:
- `impl`: the eager kernel, written once against the array API shared by numpy
  and cupy (`impl(xp, *arrays, **attrs)`); `cuda=` overrides it where cupy
  differs;
- `meta`: the shape/dtype rule, on `Meta` values (used by the IR later, and
  checked against the eager kernel by the tests);
- `grad`: the gradient rule, written with janus ops so that it is itself
  differentiable and traceable; or `differentiable=False`.
`tests/ops/test_op_table.py` fails when a declaration lacks a part.

`apply(op, *args, **attrs)` runs an op eagerly: it unwraps Tensors, picks the
kernel by device, turns kernel errors into PyTorch-style exceptions that name
the op and the shapes, wraps the results and records an autograd node when
grad mode is on and an input requires grad.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .. import backend
from ..autograd.grad_mode import state as _grad_state
from ..autograd.node import Node
from ..tensor import Tensor, _make

OPS: dict[str, OpDef] = {}
_ndarray = np.ndarray

# `view=MAYBE_VIEW`: the kernel returns a view when it can and a copy otherwise
# (reshape), so aliasing is checked per call.
MAYBE_VIEW = "maybe"


def _aliases(result: Tensor, base: Tensor) -> bool:
    out, data = result._data, base._data
    if type(out) is np.ndarray:  # numpy views point at the array that owns the memory
        return out.base is not None and out.base is (data if data.base is None else data.base)
    return bool(backend.cupy().may_share_memory(out, data))


# Callbacks `observe(op, args, attrs, result)` run after every op while they
# are installed: the op-table tests check each meta rule this way
# (`check_meta`), and `janus.jit.record` builds IR graphs from eager runs.
observers: list = []


class OpDef:
    """One primitive op. See the module docstring for the parts."""

    __slots__ = (
        "name",
        "impl",
        "impl_cpu",
        "_impl_cuda",
        "cuda",
        "meta",
        "grad",
        "differentiable",
        "outputs",
        "save_inputs",
        "save_output",
        "view",
        "broadcast",
        "saves",
    )

    def __init__(
        self,
        name: str,
        impl: Callable,
        meta: Callable,
        grad: Callable | None,
        differentiable: bool,
        outputs: int,
        save_inputs: bool,
        save_output: bool,
        view: bool,
        broadcast: bool,
        cuda: Callable | None,
        saves: Callable | None = None,
    ):
        self.name = name
        self.impl = impl
        self.impl_cpu = functools.partial(impl, np)
        self._impl_cuda = None
        self.cuda = cuda
        self.meta = meta
        self.grad = grad
        self.differentiable = differentiable
        self.outputs = outputs
        self.save_inputs = save_inputs
        self.save_output = save_output
        self.view = view
        self.broadcast = broadcast
        self.saves = saves

    def impl_cuda(self):
        if self._impl_cuda is None:
            self._impl_cuda = functools.partial(self.cuda or self.impl, backend.cupy())
        return self._impl_cuda

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def declare(
    name: str,
    *,
    impl: Callable,
    meta: Callable,
    grad: Callable | None = None,
    differentiable: bool = True,
    outputs: int = 1,
    save_inputs: bool = True,
    save_output: bool = False,
    view: bool = False,
    broadcast: bool = False,
    cuda: Callable | None = None,
    saves: Callable | None = None,
) -> OpDef:
    """Adds an op to the table.

    `outputs` is the number of results, or -1 when the kernel returns a tuple
    whose length depends on the attributes (`split`).
    `grad(node, g)` gets the node (`node.inputs`, `node.output`, `node.attrs`)
    and the output gradient (a tuple of them for multi-output ops; missing ones
    are zeros) and returns one gradient per input (None where there is none).
    `save_inputs`/`save_output` say what `grad` reads, so that in-place changes
    to anything else do not invalidate the graph. `broadcast` ops get their
    input gradients summed back to the input shapes by the engine. `view` ops
    return arrays that alias their first input (`MAYBE_VIEW`: when they can).
    """
    if name in OPS:
        raise ValueError(f"op {name!r} declared twice")
    if differentiable and grad is None:
        raise ValueError(f"op {name!r} is differentiable but has no grad rule")
    op = OpDef(
        name,
        impl,
        meta,
        grad,
        differentiable,
        outputs,
        save_inputs,
        save_output,
        view,
        broadcast,
        cuda,
        saves,
    )
    OPS[name] = op
    return op


def _describe(args) -> str:
    parts = []
    for a in args:
        if isinstance(a, Tensor):
            parts.append(f"{tuple(a._data.shape)}:{a._data.dtype}")
        elif isinstance(a, (list, tuple)):
            parts.append(repr(a))
        else:
            parts.append(type(a).__name__)
    return ", ".join(parts)


def op_error(op: OpDef, args, exc: Exception) -> Exception:
    """A PyTorch-style exception for a kernel failure, naming the op and shapes."""
    message = str(exc).replace("axis", "dimension")
    if "could not be broadcast" in message:
        from .meta import broadcast_shapes

        try:
            broadcast_shapes(*(a._data.shape for a in args if isinstance(a, Tensor)))
        except RuntimeError as torch_style:
            message = str(torch_style)
    text = f"{op.name}(): {message} (inputs: {_describe(args)})"
    if isinstance(exc, IndexError):
        return IndexError(text)
    if isinstance(exc, TypeError):
        return TypeError(text)
    return RuntimeError(text)


def _device_mismatch(args) -> RuntimeError:
    devices = sorted({str(a.device) for a in args if isinstance(a, Tensor)})
    return RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, "
        + " and ".join(devices)
        + "!"
    )


def apply(op: OpDef, *args, **attrs):
    """Runs `op` eagerly on Tensors and Python values; see the module docstring."""
    result = _apply(op, args, attrs)
    if observers:
        for observe in observers:
            observe(op, args, attrs, result)
    return result


def _scalars_moved(args):
    """`args` with each 0-d CPU tensor among GPU tensors moved to their
    device, as PyTorch allows (`x_cuda * torch.tensor(0.5)`); None where
    the devices differ otherwise, or such a scalar requires grad."""
    gpu = [a for a in args if isinstance(a, Tensor) and type(a._data) is not _ndarray]
    devices = {a.device for a in gpu}
    if len(devices) != 1:
        return None
    (device,) = devices
    moved = []
    for a in args:
        if isinstance(a, Tensor) and type(a._data) is _ndarray:
            if a._data.ndim or a._rg:
                return None
            scalar, a = a, _make(backend.to_device_array(a._data, device))
            if observers:  # (a trace reads the scalar, not the recorded call's copy)
                notify_copied(a, scalar)
        moved.append(a)
    return moved


def _apply(op: OpDef, args, attrs):
    arrays = []
    array_type = None
    requires_grad = False
    for a in args:
        if isinstance(a, Tensor):
            data = a._data
            if array_type is not type(data):
                if array_type is not None:
                    moved = _scalars_moved(args)
                    if moved is None:
                        raise _device_mismatch(args)
                    return _apply(op, moved, attrs)
                array_type = type(data)
            if a._rg:
                requires_grad = True
            arrays.append(data)
        else:
            arrays.append(a)
    impl = op.impl_cpu if array_type is _ndarray or array_type is None else op.impl_cuda()
    try:
        out = impl(*arrays, **attrs)
    except (ValueError, IndexError, TypeError, RuntimeError) as exc:
        raise op_error(op, args, exc) from None
    record = requires_grad and op.differentiable and _grad_state.enabled
    if op.outputs == 1:
        result = _make(out if type(out) is np.ndarray else backend.as_array(out))
        if op.view and (op.view is not MAYBE_VIEW or _aliases(result, args[0])):
            share_version(result, args[0])
        if record and result._data.dtype.kind == "f":  # integer results carry no gradient
            node = Node(op, args, attrs, (result._data,))
            result._rg = True
            result.grad_fn = node
            if op.save_output:
                node.track_outputs((result,))
        return result
    results = tuple(_make(o if type(o) is np.ndarray else backend.as_array(o)) for o in out)
    if op.view:
        for r in results:
            share_version(r, args[0])
    if record:
        node = Node(op, args, attrs, tuple(r._data for r in results))
        for i, r in enumerate(results):
            if r._data.dtype.kind == "f":  # e.g. max's indices carry no gradient
                r._rg = True
                r.grad_fn = node
                r._output_nr = i
        if op.save_output:
            node.track_outputs(results)
    return results


def notify_write(target: Tensor, source) -> None:
    """Tells observers that `target`'s memory now holds `source` (a Tensor of the
    same shape, or a number): in-place updates are effects, not op results."""
    for observer in observers:
        on_write = getattr(observer, "on_write", None)
        if on_write is not None:
            on_write(target, source)


def notify_created(tensor: Tensor, fill=None) -> None:
    """Tells observers that `tensor` was just made from Python data
    (`janus.tensor([...])`, `zeros`, `arange`; `fill`: the one value every
    element has): a trace holds it as a constant that each run makes afresh,
    not as an outside tensor it reads (and would update, or hand out)."""
    for observer in observers:
        on_create = getattr(observer, "on_create", None)
        if on_create is not None:
            on_create(tensor, fill)


def notify_copied(copy: Tensor, original: Tensor) -> None:
    """Tells observers that `copy` was just made, by no op, as a copy of
    `original`'s current value (the snapshot an in-place op under autograd
    keeps): a trace computes it as that value, never reads the recorded
    call's copy as an outside tensor."""
    for observer in observers:
        on_copy = getattr(observer, "on_copy", None)
        if on_copy is not None:
            on_copy(copy, original)


def notify_unrecordable(reason: str) -> None:
    """Tells observers that eager code is about to do work that is no op of
    the table (a compiled frame's backward, which runs a native program):
    a recording cannot hold it, so an observer must stop or break there."""
    for observer in observers:
        on_unrecordable = getattr(observer, "on_unrecordable", None)
        if on_unrecordable is not None:
            on_unrecordable(reason)


def check(condition: Tensor, message: str, error: type = RuntimeError) -> None:
    """A check eager code makes on tensor data: raises `error(message)` unless
    every element of the bool tensor `condition` is true. Observers are told
    first (`on_check`), so a trace records it as an in-graph assert: a
    compiled program checks it on each call's data instead of skipping it."""
    for observer in observers:
        on_check = getattr(observer, "on_check", None)
        if on_check is not None:
            on_check(condition, message)
    if not bool(condition._data.all()):
        raise error(message)


def check_meta(op: OpDef, args, attrs, result) -> None:
    """An observer asserting that `op.meta` predicts the kernel's result."""
    from .meta import meta_of

    expected = op.meta(*[meta_of(a) for a in args], **attrs)
    outputs = (result,) if op.outputs == 1 else result
    expected = (expected,) if op.outputs == 1 else tuple(expected)
    if len(expected) != len(outputs):
        raise AssertionError(
            f"{op.name}: meta gives {len(expected)} outputs, kernel {len(outputs)}"
        )
    for want, got in zip(expected, outputs):
        shape, dtype = tuple(got._data.shape), got.dtype
        shape_ok = len(want.shape) == len(shape) and all(
            w is None or w == s for w, s in zip(want.shape, shape)
        )
        if not shape_ok or want.dtype is not dtype:
            raise AssertionError(f"{op.name}: meta says {want}, kernel gave {shape} {dtype}")


def share_version(view: Tensor, base: Tensor) -> None:
    """Views share their base's version counter, as they share its memory."""
    counter = base._vc
    if counter is None:
        counter = base._vc = [0]
    view._vc = counter
    view._base = base if base._base is None else base._base
