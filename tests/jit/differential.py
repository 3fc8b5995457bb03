"""The differential harness for the JIT: run a program eagerly and compiled,
from the same initial state, and compare everything a user could observe."""

from __future__ import annotations

import contextlib

import numpy as np

import janus


def snapshot(value):
    """A comparable copy of a result: tensors as arrays, containers recursed."""
    if isinstance(value, janus.Tensor):
        return ("tensor", value.detach().cpu().numpy().copy(), value.dtype, value.requires_grad)
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        named = [] if type(value) in (list, tuple) else [type(value).__qualname__]
        return (kind, named + [snapshot(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: snapshot(v) for k, v in value.items()})
    if _user_object(value):  # a dataclass, a plain object: its class and state
        return ("dict", {"(class)": type(value).__qualname__, **snapshot(vars(value))[1]})
    return value


def _user_object(value) -> bool:
    module = type(value).__module__
    return hasattr(value, "__dict__") and not module.startswith(("janus", "builtins", "types"))


def assert_same(a, b, rtol=1e-5, atol=1e-6, where="result"):
    if isinstance(a, tuple) and a and a[0] == "tensor":
        assert isinstance(b, tuple) and b[0] == "tensor", f"{where}: {b!r} is not a tensor"
        assert a[2] == b[2], f"{where}: dtype {a[2]} != {b[2]}"
        assert a[3:] == b[3:], f"{where}: requires_grad {a[3:]} != {b[3:]}"
        np.testing.assert_allclose(a[1], b[1], rtol=rtol, atol=atol, err_msg=where)
    elif isinstance(a, tuple) and len(a) == 2 and a[0] in ("list", "tuple", "dict"):
        assert b[0] == a[0], f"{where}: {a[0]} != {b[0]}"
        if a[0] == "dict":
            assert a[1].keys() == b[1].keys(), where
            for k in a[1]:
                assert_same(a[1][k], b[1][k], rtol, atol, f"{where}[{k!r}]")
        else:
            assert len(a[1]) == len(b[1]), f"{where}: lengths differ"
            for k, (x, y) in enumerate(zip(a[1], b[1])):
                assert_same(x, y, rtol, atol, f"{where}[{k}]")
    elif isinstance(a, float):
        assert isinstance(b, float), f"{where}: {b!r} is not a float"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=where)
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def state_of(objects: dict) -> dict:
    """Parameters, gradients and optimizer state of modules/optimizers, and
    plain attributes, as comparable snapshots."""
    out = {}
    for name, obj in objects.items():
        if isinstance(obj, janus.nn.Module):
            for pname, p in obj.named_parameters():
                out[f"{name}.{pname}"] = snapshot(p)
                out[f"{name}.{pname}.grad"] = None if p.grad is None else snapshot(p.grad)
            for bname, buf in obj.named_buffers():
                out[f"{name}.{bname}"] = snapshot(buf)
        elif isinstance(obj, janus.optim.Optimizer):
            for k, s in enumerate(obj.state.values()):
                for key, v in s.items():
                    out[f"{name}.state[{k}].{key}"] = snapshot(v)
        else:
            out[name] = snapshot(obj)
    return ("dict", out)


# The harness runs in the interpreter: once hot, the frame hook would translate
# it, trace through `fn` (as a traced caller of a jitted function does) and
# leave `fn`'s own entries, which the tests inspect, unused.
@janus.jit.skip
def run_both(make, calls, rtol=1e-5, atol=1e-6):
    """`make()` builds a fresh program: (fn, observed) where `observed()`
    returns a dict of the state to compare. `calls` is a list of argument
    tuples, or a function of the call index giving them. Runs every call
    eagerly on one instance and compiled on another; compares results after
    each call and the state at the end. Returns the JitFunction."""
    results = {}
    states = {}
    jitted = None
    for mode in ("eager", "jit"):
        janus.manual_seed(1234)
        fn, observed = make()
        if mode == "jit":
            fn = jitted = janus.jit(fn)
        out = []
        seq = calls if isinstance(calls, list) else [calls(k) for k in range(calls.count)]
        # The reference runs with the frame hook off: with it on, a hot frame
        # of the "eager" run would be compiled too, and a translator bug would
        # agree with itself.
        with contextlib.nullcontext() if mode == "jit" else janus._C.capture.disabled():
            for args in seq:
                result = fn(*args)
                with janus._C.capture.disabled():  # (the harness's own frames: never compiled)
                    out.append(snapshot(result))
                    out.append(state_of(observed()))
        results[mode] = out
        with janus._C.capture.disabled():
            states[mode] = state_of(observed())
    for k, (a, b) in enumerate(zip(results["eager"], results["jit"])):
        assert_same(a, b, rtol, atol, f"call {k // 2} {'state' if k % 2 else 'result'}")
    assert_same(states["eager"], states["jit"], rtol, atol, "final state")
    return jitted


def compiled_calls(jf) -> int:
    """How many calls ran a compiled graph."""
    return sum(e[1].calls for e in jf.entries)


def splits(jf) -> list:
    """The splits of a jitted function's translations (split.py)."""
    return [t.split for t in jf.report.compiles if t.split is not None]


def resume_hits(jf) -> int:
    """Calls of the resume functions that ran a compiled entry."""
    stats = janus._C.capture.stats
    return sum(stats(fn.__code__)["hits"] for s in splits(jf) for fn in s.resume_functions)


def hooked_resumes(fn) -> list:
    """The codes of `fn`'s resume functions that the hook has seen."""
    from janus.jit import frontend

    prefix = fn.__qualname__ + ".<resume"
    return [c for c in list(frontend.reports) if c.co_qualname.startswith(prefix)]


def compiled_resume_calls(fn) -> int:
    """Calls of `fn`'s resume functions that ran a compiled entry."""
    return sum(janus._C.capture.stats(c)["hits"] for c in hooked_resumes(fn))


def generated(examples: int):
    """The settings of a test over hypothesis-generated programs: `examples`
    of them, the same ones every run (a failure reproduces), no deadline
    (the first calls translate)."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    )
