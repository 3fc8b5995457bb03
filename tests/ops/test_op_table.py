"""The op table is complete: every op has all its parts, and the tests reach
every op with its shape/dtype rule checked against the kernel on each call."""

import numpy as np
import pytest
from op_db import CASES

import janus
from harness import backward_with, flat_outputs, grad_weights, make_inputs
from janus.ops import OPS, registry


def test_every_op_declares_every_part():
    for name, op in OPS.items():
        assert callable(op.impl), name
        assert callable(op.meta), f"{name} has no shape/dtype rule"
        if op.differentiable:
            assert callable(op.grad), f"{name} is differentiable but has no gradient rule"
        else:
            assert op.grad is None, f"{name} is declared non-differentiable but has a grad rule"


def _second_order(x_shape, fn):
    """d/dx of sum(grad(fn(x)) * w): runs every op's gradient ops' own gradients."""
    x = janus.randn(*x_shape, dtype=janus.float64, requires_grad=True)
    y = fn(x)
    (g,) = janus.autograd.grad(y.sum() if y.ndim else y, x, create_graph=True)
    (g * janus.randn(*x_shape, dtype=janus.float64)).sum().backward()


def test_every_op_is_exercised_with_its_meta_rule_checked():
    reached = set()
    registry.observers[:] = [registry.check_meta, lambda op, *_: reached.add(op.name)]
    try:
        for case in CASES:
            for args, kwargs in case.samples:
                inputs = make_inputs(args, janus, case.grad)
                outs = flat_outputs(case.fn(janus, *inputs, **kwargs))
                if case.grad:
                    backward_with(outs, grad_weights(outs), janus)
        F = janus.nn.functional
        w = janus.randn(3, 2, 3, 3, dtype=janus.float64, requires_grad=True)
        _second_order((2, 2, 6, 6), lambda x: F.conv2d(x, w, padding=1) ** 2)
        _second_order((1, 1, 6, 6), lambda x: F.avg_pool2d(x**2, 2) ** 2)
        _second_order((3, 4), lambda x: x[1:, ::2] ** 3)
        janus.rand(3, 4)
        janus.randn(5, dtype=janus.float64)
        if janus.cuda.is_available():
            moved = janus.ones(2, requires_grad=True).to("cuda")
            moved.cpu().sum().backward()
    finally:
        registry.observers.clear()
    needs_gpu = set() if janus.cuda.is_available() else {"to_device"}  # moves between devices
    missing = sorted(set(OPS) - reached - needs_gpu)
    assert not missing, f"ops no test reaches: {missing}"


def test_meta_check_catches_a_wrong_rule(monkeypatch):
    op = OPS["exp"]
    monkeypatch.setattr(op, "meta", lambda x: janus.ops.meta.Meta((99,), x.dtype))
    registry.observers[:] = [registry.check_meta]
    try:
        with pytest.raises(AssertionError, match="meta says"):
            janus.exp(janus.tensor(np.ones(3, dtype=np.float32)))
    finally:
        registry.observers.clear()
