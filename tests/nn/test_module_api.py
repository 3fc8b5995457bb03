"""Module behaviour: registration, traversal, state dicts, modes, hooks, moving."""

import pickle

import numpy as np
import pytest

import janus
from janus import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(janus.ones(1))
        self.register_buffer("steps", janus.zeros(1))
        self.register_buffer("scratch", janus.zeros(2), persistent=False)

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


def test_named_parameters_buffers_and_modules_follow_registration_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
        "head.weight",
        "head.bias",
    ]
    assert [n for n, _ in net.named_buffers()] == [
        "steps",
        "scratch",
        "body.2.running_mean",
        "body.2.running_var",
        "body.2.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "body.2", "head"]
    assert len(list(net.parameters(recurse=False))) == 1


def test_state_dict_round_trip_skips_non_persistent_buffers():
    a, b = Net(), Net()
    assert "scratch" not in a.state_dict()
    b.load_state_dict(a.state_dict())
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy()), name


def test_load_state_dict_reports_missing_unexpected_and_mismatched_keys():
    net = Net()
    state = net.state_dict()
    state["extra"] = janus.zeros(1)
    del state["head.bias"]
    state["head.weight"] = janus.zeros(5, 5)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    text = str(info.value)
    assert '"head.bias"' in text and '"extra"' in text and "size mismatch for head.weight" in text
    result = Net().load_state_dict(
        {k: v for k, v in Net().state_dict().items() if k != "scale"}, strict=False
    )
    assert result.missing_keys == ["scale"]


def test_train_eval_and_requires_grad():
    net = Net().eval()
    assert not net.training and not net.body[2].training
    net.train()
    assert net.body[2].training
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_zero_grad_and_apply():
    net = Net()
    net(janus.randn(5, 3)).sum().backward()
    assert net.head.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert net.head.weight.grad.abs().sum().item() == 0
    net.zero_grad()
    assert net.head.weight.grad is None
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net"


def test_forward_hooks_can_observe_and_replace():
    layer = nn.Linear(2, 2)
    calls = []
    handle = layer.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out * 0)
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    assert layer(janus.ones(1, 2)).abs().sum().item() == 0
    handle.remove()
    pre.remove()
    assert layer(janus.ones(1, 2)).abs().sum().item() != 0
    assert calls == [janus.Size([1, 2])]


def test_to_dtype_keeps_parameter_identity():
    net = Net()
    weight = net.head.weight
    net.double()
    assert net.head.weight is weight and weight.dtype is janus.float64
    assert net.body[2].num_batches_tracked.dtype is janus.int64


def test_assignment_rules():
    net = Net()
    with pytest.raises(TypeError):
        net.scale = janus.ones(1)  # a plain tensor cannot replace a parameter
    net.scale = None
    assert net.scale is None
    with pytest.raises(AttributeError):
        _ = net.missing


def test_repr_and_pickle():
    net = Net()
    text = repr(net)
    assert "(head): Linear(in_features=4, out_features=2, bias=True)" in text
    copy = pickle.loads(pickle.dumps(net))
    x = janus.randn(2, 3)
    net.eval()
    copy.eval()
    assert np.allclose(net(x).detach().numpy(), copy(x).detach().numpy())


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.Tanh) and len(seq[1:]) == 2
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 2))
    assert len(list(layers.parameters())) == 8
    table = nn.ModuleDict({"a": nn.Linear(1, 1)})
    table["b"] = nn.Linear(1, 1)
    assert list(table.keys()) == ["a", "b"] and len(list(table.parameters())) == 4


def test_wrong_input_size_names_the_shapes():
    with pytest.raises(RuntimeError, match=r"4x3 and 5x2"):
        nn.Linear(5, 2)(janus.ones(4, 3))


def test_clip_grad_norm_and_value():
    torch = pytest.importorskip("torch")
    grads = [np.array([3.0, 4.0], dtype=np.float32), np.array([[12.0]], dtype=np.float32)]
    for norm_type in (2.0, 1.0, float("inf")):
        results = []
        for L in (janus, torch):
            params = [L.zeros(g.shape, requires_grad=True) for g in grads]
            for p, g in zip(params, grads):
                p.grad = L.tensor(g)
            total = L.nn.utils.clip_grad_norm_(params, 5.0, norm_type)
            results.append((float(total), [p.grad.numpy().copy() for p in params]))
        assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
        for a, b in zip(results[0][1], results[1][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5)
    p = janus.zeros(3, requires_grad=True)
    p.grad = janus.tensor([-5.0, 0.5, 9.0])
    nn.utils.clip_grad_value_([p], 1.0)
    assert p.grad.tolist() == [-1.0, 0.5, 1.0]


def test_pad_sequence_and_parameter_vectors():
    seqs = [janus.ones(2, 3), janus.ones(4, 3) * 2]
    padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=-1)
    assert tuple(padded.shape) == (2, 4, 3) and padded[0, 3, 0].item() == -1
    net = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(net.parameters())
    assert vec.shape == (8,)
    nn.utils.vector_to_parameters(vec * 0, net.parameters())
    assert net.weight.abs().sum().item() == 0
