"""The one test harness: converting values between janus, numpy and PyTorch,
comparing results, and checking gradients numerically.

Oracle tests call the same function on janus and PyTorch tensors made from the
same numpy data and compare outputs and input gradients; where PyTorch is not
installed, `numeric_grad` checks janus's gradients against finite differences.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import janus


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch (the oracle) is not installed")


def to_numpy(x):
    if isinstance(x, janus.Tensor):
        return np.asarray(x.detach())
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def make_inputs(args, lib, requires_grad: bool):
    """numpy arrays in `args` become tensors of `lib` (janus or torch); float
    arrays require grad when asked. Nested lists/tuples are converted too."""

    def convert(a):
        if isinstance(a, np.ndarray):
            t = lib.tensor(a)
            if requires_grad and a.dtype.kind == "f":
                t.requires_grad_(True)
            return t
        if isinstance(a, list):
            return [convert(x) for x in a]
        if isinstance(a, tuple):
            return tuple(convert(x) for x in a)
        return a

    return [convert(a) for a in args]


def on_device(values, device):
    """`values` with each tensor (in lists and tuples too) moved to `device`,
    a leaf that requires grad again where it did."""
    out = []
    for v in values:
        if isinstance(v, janus.Tensor):
            moved = v.detach().to(device)
            if v.requires_grad:
                moved.requires_grad_(True)
            out.append(moved)
        elif isinstance(v, (list, tuple)):
            out.append(type(v)(on_device(v, device)))
        else:
            out.append(v)
    return out


class DeviceLib:
    """`janus` for backward_with, its `tensor` making the cotangents on
    `device` (where the outputs are)."""

    def __init__(self, device):
        self.device = device

    def tensor(self, data):
        return janus.tensor(data, device=self.device)


def record_case(case, inputs, kwargs):
    """janus.jit.recording of op case `case` (tests/ops/op_db.py) on `inputs`:
    its outputs, then, where it has gradients, the input gradients of a
    weighted backward. Arguments that are not tensors are constants of the
    trace. Returns the recording and the eager results, in graph output
    order."""

    tensors = [x for x in inputs if isinstance(x, janus.Tensor)]
    device = tensors[0].device if tensors else None
    lib = janus if device is None or device.type == "cpu" else DeviceLib(device)

    def program(*xs):
        outs = flat_outputs(case.fn(janus, *xs, **kwargs))
        grads = []
        if case.grad:
            backward_with(outs, grad_weights(outs), lib)
            grads = [x.grad for x in xs if isinstance(x, janus.Tensor) and x.grad is not None]
        return outs + grads

    if len(tensors) != len(inputs):
        constants = list(inputs)

        def program_of_tensors(*xs):
            it = iter(xs)
            return program(*[next(it) if isinstance(c, janus.Tensor) else c for c in constants])

        rec = janus.jit.recording(program_of_tensors, *tensors)
    else:
        rec = janus.jit.recording(program, *inputs)
    want = [t._data for t in rec.result] + [t._data for t in rec.effects]
    want += [t._grad._data for t, has_grad in rec.grads if has_grad]
    return rec, want


def jit_against_eager(case, args, kwargs, device=None, calls=3):
    """Op case `case` as a training step (its outputs, a weighted backward,
    the input gradients), run `calls` times eagerly and `calls` times
    through janus.jit, each call on fresh inputs from the same data (on
    `device` if given). Returns (eager results, compiled results, the
    JitFunction): per call, its outputs then gradients as numpy arrays."""
    janus.manual_seed(1234)
    probe = flat_outputs(case.fn(janus, *make_inputs(args, janus, case.grad), **kwargs))
    weights = grad_weights(probe) if case.grad else [None] * len(probe)

    def step(xs, ws):
        outs = flat_outputs(case.fn(janus, *xs, **kwargs))
        terms = [(o * w).sum() for o, w in zip(outs, ws) if w is not None and o.requires_grad]
        if terms:
            sum(terms[1:], terms[0]).backward()
        return outs, [x.grad for x in xs if isinstance(x, janus.Tensor) and x.grad is not None]

    compiled = janus.jit(step)
    runs = []
    for fn in (step, compiled):
        results = []
        for _ in range(calls):
            janus.manual_seed(1234)
            xs = make_inputs(args, janus, case.grad)
            ws = [None if w is None else janus.tensor(w.astype(to_numpy(o).dtype))
                  for w, o in zip(weights, probe)]  # fmt: skip
            if device is not None:
                xs, ws = on_device(xs, device), on_device(ws, device)
            outs, grads = fn(xs, ws)
            results.append([to_numpy(t.detach().cpu()) if isinstance(t, janus.Tensor) else t
                            for t in outs + grads])  # fmt: skip
        runs.append(results)
    return runs[0], runs[1], compiled


# Op cases whose step runs eagerly by design: it hands out a view of an
# input (a compiled call would hand out a copy), or makes a tensor of a numpy
# array (nll_loss's class weights, frozen into the graph otherwise).
RUN_EAGERLY = {
    "reshape_view", "flatten", "squeeze_unsqueeze", "permute_transpose", "t", "expand",
    "split", "unbind", "narrow_select", "getitem_basic", "nll_loss",
}  # fmt: skip


def assert_jit_matches_eager(case, device=None, no_kernel=()):
    """Every sample of op case `case`, through jit_against_eager: each
    compiled call gives eager's outputs and gradients (tolerances 10 times
    the case's), and the calls after the first do run compiled (except the
    cases of RUN_EAGERLY, and `no_kernel`: cases the device's runtime has no
    kernel for)."""
    for args, kwargs in case.samples:
        eager, compiled, jf = jit_against_eager(case, args, kwargs, device)
        if case.name not in RUN_EAGERLY and case.name not in no_kernel:
            assert sum(entry.calls for _, entry in jf.entries) >= 2, f"{case.name} ran eagerly"
        for call, (want, got) in enumerate(zip(eager, compiled)):
            where = f"{case.name} call {call}"
            assert len(got) == len(want), where
            for g, w in zip(got, want):
                if isinstance(w, np.ndarray) and w.dtype.kind == "f":
                    rtol, atol = max(case.rtol, 1e-5) * 10, case.atol * 10
                    np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=where)
                else:
                    np.testing.assert_array_equal(g, w, err_msg=where)


def assert_trains_alike(run, loss_rtol, param_rtol, param_atol):
    """`run(compiled)` trains a model and returns (losses, parameters as
    arrays): compiled, they are eager's within the tolerances."""
    eager, eager_params = run(False)
    compiled, params = run(True)
    np.testing.assert_allclose(compiled, eager, rtol=loss_rtol)
    for p, q in zip(params, eager_params):
        np.testing.assert_allclose(p, q, rtol=param_rtol, atol=param_atol)


def leaves(values):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(leaves(v))
        elif getattr(v, "requires_grad", False):
            out.append(v)
    return out


def flat_outputs(result):
    if isinstance(result, (tuple, list)):
        out = []
        for r in result:
            out.extend(flat_outputs(r))
        return out
    return [result]


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, what=""):
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    if e.dtype.kind in "biu":
        np.testing.assert_array_equal(a, e, err_msg=what)
    else:
        np.testing.assert_allclose(
            a.astype(np.float64),
            e.astype(np.float64),
            rtol=rtol,
            atol=atol,
            err_msg=what,
            equal_nan=True,
        )


def grad_weights(outputs, seed=0):
    """Fixed random cotangents, one per float output, as numpy arrays."""
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal(to_numpy(o).shape) if to_numpy(o).dtype.kind == "f" else None
        for o in outputs
    ]


def backward_with(outputs, weights, lib):
    terms = []
    for o, w in zip(outputs, weights):
        if w is not None and getattr(o, "requires_grad", False):
            terms.append((o * lib.tensor(w.astype(to_numpy(o).dtype))).sum())
    if not terms:
        return False
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    total.backward()
    return True


def check_numeric(fn, args, kwargs, rtol=1e-4, atol=1e-6):
    """janus's analytic gradients of `fn` vs central differences, in float64."""
    args64 = [
        a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
        for a in args
    ]
    inputs = make_inputs(args64, janus, True)
    outs = flat_outputs(fn(*inputs, **kwargs))
    weights = grad_weights(outs)
    if not backward_with(outs, weights, janus):
        return
    positions = [i for i, a in enumerate(inputs) if getattr(a, "requires_grad", False)]

    def objective(values):
        with janus.no_grad():
            trial = list(inputs)
            for i, v in zip(positions, values):
                trial[i] = janus.tensor(v)
            results = flat_outputs(fn(*trial, **kwargs))
            return sum(
                float((to_numpy(r) * w).sum()) for r, w in zip(results, weights) if w is not None
            )

    base = [to_numpy(inputs[i]).copy() for i in positions]
    for k, i in enumerate(positions):
        analytic = (
            to_numpy(inputs[i].grad) if inputs[i].grad is not None else np.zeros_like(base[k])
        )
        numeric = np.zeros_like(base[k])
        flat = base[k].reshape(-1)
        for j in range(flat.size):
            eps = 1e-6 * max(1.0, abs(flat[j]))
            saved = flat[j]
            flat[j] = saved + eps
            plus = objective(base)
            flat[j] = saved - eps
            minus = objective(base)
            flat[j] = saved
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(
            analytic, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
        )


@contextlib.contextmanager
def no_host_reads():
    """Within the block, reading a janus tensor's data into Python (`.item()`,
    `float(t)`, `bool(t)`, `.tolist()`, `.numpy()`) raises: code that must stay
    one compiled graph (an optimizer step, a layer's forward) can be checked
    eagerly to make no such read."""
    names = ("item", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__")
    saved = {name: getattr(janus.Tensor, name) for name in names}

    def refuse(name):
        def read(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name} read tensor data into Python")

        return read

    for name in names:
        setattr(janus.Tensor, name, refuse(name))
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(janus.Tensor, name, method)
