"""The backward engine: accumulation, retain_graph, higher order, hooks, in-place checks."""

import numpy as np
import pytest

import janus
from harness import assert_close


def test_gradients_accumulate_across_backward_calls():
    x = janus.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert_close(x.grad, [3 + 2, 3 + 4])


def test_shared_gradient_buffers_are_not_aliased():
    a = janus.tensor([1.0], requires_grad=True)
    b = janus.tensor([2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    assert_close(b.grad, [1.0])


def test_second_backward_without_retain_graph_raises():
    x = janus.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = janus.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 2 * np.exp([1.0, 2.0]))


def test_non_scalar_needs_gradient_argument():
    x = janus.ones(3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    y.backward(janus.tensor([1.0, 0.0, 2.0]))
    assert_close(x.grad, [2.0, 0.0, 4.0])


def test_backward_of_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        janus.ones(2).sum().backward()


def test_second_derivative_through_create_graph():
    x = janus.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (g,) = janus.autograd.grad((x**3).sum(), x, create_graph=True)
    assert_close(g, 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    (g2,) = janus.autograd.grad(g.sum(), x)
    assert_close(g2, 6 * np.array([0.5, -1.0, 2.0]))


def test_autograd_grad_leaves_dot_grad_alone_and_reports_unused():
    x = janus.ones(2, requires_grad=True)
    z = janus.ones(2, requires_grad=True)
    (gx,) = janus.autograd.grad((x * 2).sum(), [x])
    assert x.grad is None
    assert_close(gx, [2.0, 2.0])
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        janus.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = janus.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = janus.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert_close(x.grad, [1.0001**5000], rtol=1e-4)


def test_no_grad_and_enable_grad():
    x = janus.ones(2, requires_grad=True)
    with janus.no_grad():
        y = x * 2
        with janus.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @janus.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    janus.set_grad_enabled(False)
    assert not janus.is_grad_enabled()
    janus.set_grad_enabled(True)


def test_tensor_hooks_and_retain_grad():
    x = janus.ones(3, requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    x.register_hook(lambda g: g + 1)
    y.sum().backward()
    assert_close(y.grad, [1.0, 1.0, 1.0])  # retain_grad sees the grad before later hooks
    assert_close(x.grad, [21.0, 21.0, 21.0])


def test_removed_hooks_stop_running_and_leave_no_trace():
    x = janus.ones(3, requires_grad=True)
    calls = []
    first = x.register_hook(lambda g: calls.append("first") or g * 3)
    second = x.register_hook(lambda g: calls.append("second"))
    first.remove()
    (x * 2).sum().backward()
    assert calls == ["second"] and x._hooks is not None
    assert_close(x.grad, [2.0, 2.0, 2.0])
    second.remove()
    second.remove()  # a second remove is harmless
    x.grad = None
    (x * 2).sum().backward()
    assert calls == ["second"] and x._hooks is None  # (the JIT guards on `_hooks`)
    assert_close(x.grad, [2.0, 2.0, 2.0])


def test_modifying_a_saved_tensor_in_place_is_reported():
    x = janus.ones(3, requires_grad=True)
    w = janus.ones(3)
    y = (x * w).sum()
    w.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_modifying_a_saved_output_in_place_is_reported():
    x = janus.ones(3, requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_in_place_on_unsaved_input_is_fine():
    x = janus.ones(3, requires_grad=True)
    w = janus.ones(3)
    y = (x + w).sum()
    w.add_(1)
    y.backward()
    assert_close(x.grad, [1.0, 1.0, 1.0])


def test_in_place_on_leaf_requiring_grad_raises():
    x = janus.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with janus.no_grad():
        x.add_(1)
    assert_close(x, [2.0, 2.0, 2.0])


def test_in_place_ops_on_non_leaves_are_differentiated():
    x = janus.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 2
    y.mul_(x)  # y = 2x^2 = [2, 8, 18]
    y.sub_(3.0)
    y.relu_()  # [0, 5, 15]
    y.sum().backward()
    assert_close(x.grad, [0.0, -8.0, 12.0])


def test_setitem_records_gradients_for_both_sides():
    x = janus.ones(2, 3, requires_grad=True)
    v = janus.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    y[0] = v * v
    (y * janus.tensor([[1.0], [2.0]])).sum().backward()
    assert_close(x.grad, [[0, 0, 0], [2, 2, 2]])
    assert_close(v.grad, [2.0, 4.0, 6.0])


def test_views_share_memory_and_version():
    x = janus.zeros(2, 3)
    row = x[1]
    row.fill_(5.0)
    assert_close(x, [[0, 0, 0], [5, 5, 5]])
    assert x._version == row._version == 1


def test_detach_shares_storage():
    x = janus.ones(2, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad
    with janus.no_grad():
        d[0] = 3.0
    assert x.tolist() == [3.0, 1.0]


def test_integer_outputs_do_not_require_grad():
    x = janus.tensor([[1.0, 3.0], [4.0, 2.0]], requires_grad=True)
    values, indices = x.max(1)
    assert values.requires_grad and not indices.requires_grad and indices.grad_fn is None
    assert indices.numpy().tolist() == [1, 0]
    assert not x.long().requires_grad and not x.argmax().requires_grad
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_inf_and_nan_results_are_silent_like_pytorch():
    # In a fresh interpreter: pytest installs its own warning filters per test.
    import subprocess
    import sys

    code = (
        "import janus; print(janus.log(janus.tensor([0.0, -1.0])).tolist(), "
        "(janus.tensor([1.0]) / janus.tensor([0.0])).tolist())"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[-inf, nan] [inf]" and "Warning" not in run.stderr


def test_recording_an_in_place_op_on_a_view_is_refused_not_wrong():
    w = janus.ones(4, requires_grad=True)
    out = janus.zeros(3, 4)
    with pytest.raises(NotImplementedError, match="view"):
        out[0].add_(w)
    assert out.abs().sum().item() == 0  # nothing was written
    out[0] = w * 2  # __setitem__ on the base records the write
    out.sum().backward()
    assert w.grad.tolist() == [2.0] * 4
