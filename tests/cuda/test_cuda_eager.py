"""The "cuda" device (cupy storage): every op-table case on the GPU against the
CPU, random streams identical across devices, and device-mixing errors.

On a GPU machine these run on the GPU; elsewhere on the emulated device of
tests/fake_cuda.py (conftest.py), which checks janus's side only.
"""

import numpy as np
import pytest

import janus
from fake_cuda import USABLE
from harness import (
    DeviceLib,
    assert_close,
    backward_with,
    flat_outputs,
    grad_weights,
    leaves,
    make_inputs,
    on_device,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not USABLE, reason="needs a CUDA GPU (cupy), or g++ to emulate one"),
]


def _cases():
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ops"))
    from op_db import CASES

    return CASES


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_on_gpu_matches_cpu(case):
    for args, kwargs in case.samples:
        cpu_in = make_inputs(args, janus, case.grad)
        gpu_in = on_device(cpu_in, "cuda")
        cpu_out = flat_outputs(case.fn(janus, *cpu_in, **kwargs))
        gpu_out = flat_outputs(case.fn(janus, *gpu_in, **kwargs))
        for c, g in zip(cpu_out, gpu_out):
            assert g.device.type == "cuda" or not isinstance(g, janus.Tensor)
            assert_close(g.cpu(), c, case.rtol * 10, case.atol * 10, f"{case.name} output")
        if case.grad:
            weights = grad_weights(cpu_out)
            if backward_with(cpu_out, weights, janus):
                backward_with([o for o in gpu_out], weights, DeviceLib("cuda"))
                for c, g in zip(leaves(cpu_in), leaves(gpu_in)):
                    if c.grad is not None:
                        assert_close(
                            g.grad.cpu(),
                            c.grad,
                            case.rtol * 10,
                            case.atol * 10,
                            f"{case.name} grad",
                        )


def test_random_streams_are_identical_on_cpu_and_gpu():
    for dtype in (janus.float32, janus.float64):
        g_cpu = janus.Generator("cpu").manual_seed(123)
        g_gpu = janus.Generator("cuda").manual_seed(123)
        for shape in ((1000,), (7, 3)):
            u_cpu = janus.rand(*shape, generator=g_cpu, dtype=dtype)
            u_gpu = janus.rand(*shape, generator=g_gpu, dtype=dtype, device="cuda")
            np.testing.assert_array_equal(u_gpu.cpu().numpy(), u_cpu.numpy())
            z_cpu = janus.randn(*shape, generator=g_cpu, dtype=dtype)
            z_gpu = janus.randn(*shape, generator=g_gpu, dtype=dtype, device="cuda")
            np.testing.assert_allclose(z_gpu.cpu().numpy(), z_cpu.numpy(), rtol=1e-6, atol=1e-6)


def test_mixing_devices_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        janus.ones(2) + janus.ones(2, device="cuda")


def test_training_step_on_gpu_matches_cpu():
    janus.manual_seed(0)
    model = janus.nn.Sequential(janus.nn.Linear(8, 16), janus.nn.Tanh(), janus.nn.Linear(16, 3))
    gpu_model = janus.nn.Sequential(janus.nn.Linear(8, 16), janus.nn.Tanh(), janus.nn.Linear(16, 3))
    gpu_model.load_state_dict(model.state_dict())
    gpu_model.to("cuda")
    x = janus.randn(4, 8)
    y = janus.tensor([0, 2, 1, 0])
    for m, dev in ((model, "cpu"), (gpu_model, "cuda")):
        opt = janus.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            opt.zero_grad()
            loss = janus.nn.functional.cross_entropy(m(x.to(dev)), y.to(dev))
            loss.backward()
            opt.step()
    for (name, p), q in zip(model.named_parameters(), gpu_model.parameters()):
        assert_close(q.cpu(), p, rtol=1e-4, atol=1e-5, what=name)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_optimizers_with_a_step_count_train_on_gpu_like_on_cpu(name):
    """Their step counts once lived on the CPU whatever the parameters'
    device, and every step on the GPU raised a device mismatch."""
    janus.manual_seed(0)
    p = janus.randn(5, 3, requires_grad=True)
    q = p.detach().to("cuda").requires_grad_()
    target = janus.randn(5, 3)
    for param, dev in ((p, "cpu"), (q, "cuda")):
        opt = getattr(janus.optim, name)([param], lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            ((param - target.to(dev)) ** 2).sum().backward()
            opt.step()
        assert opt.state[param]["step"].device.type == dev
    assert_close(q.detach().cpu(), p.detach(), rtol=1e-5, atol=1e-6, what=name)


@pytest.mark.real_gpu
def test_dlpack_and_cuda_array_interface_share_memory():
    cp = pytest.importorskip("cupy")
    t = janus.arange(6, device="cuda").float()
    arr = cp.from_dlpack(t)
    arr[0] = 42
    assert t[0].item() == 42
    back = janus.from_dlpack(arr)
    assert back.device.type == "cuda" and back[0].item() == 42
    assert hasattr(t, "__cuda_array_interface__")


def test_factories_follow_the_default_device():
    try:
        janus.set_default_device("cuda")
        assert janus.get_default_device() == janus.device("cuda:0")
        made = [janus.zeros(2), janus.ones(2, 2), janus.full((2,), 3.0), janus.arange(4),
                janus.tensor([1, 2]), janus.randn(3), janus.rand(3), janus.eye(2),
                janus.linspace(0, 1, 5), janus.randint(0, 5, (3,)), janus.empty(2)]  # fmt: skip
        assert all(t.device.type == "cuda" for t in made)
        assert janus.zeros(2, device="cpu").device.type == "cpu"
        assert janus.zeros_like(janus.zeros(2, device="cpu")).device.type == "cpu"
        assert janus.from_numpy(np.zeros(2)).device.type == "cpu"
    finally:
        janus.set_default_device("cpu")
    assert janus.zeros(2).device.type == "cpu" and janus.get_default_device().type == "cpu"


def test_a_0d_cpu_tensor_is_an_operand_of_gpu_tensors_as_in_pytorch():
    x = janus.ones(3, device="cuda", requires_grad=True)
    y = x * janus.tensor(0.5) + janus.tensor(2.0)
    assert y.device.type == "cuda"
    np.testing.assert_array_equal(y.detach().cpu().numpy(), [2.5, 2.5, 2.5])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [0.5, 0.5, 0.5])
    with pytest.raises(RuntimeError, match="same device"):
        x * janus.ones(3)  # (a CPU tensor with elements is not a scalar)
    with pytest.raises(RuntimeError, match="same device"):
        x * janus.tensor(0.5, requires_grad=True)
