"""Every layer against PyTorch with the same weights: outputs, input gradients
and parameter gradients."""

import contextlib

import numpy as np
import pytest

import janus
from harness import assert_close, no_host_reads, torch_or_skip

rng = np.random.default_rng(11)


def copy_weights(src, dst, torch):
    """Copies janus module `src`'s state into torch module `dst`."""
    state = {k: torch.tensor(np.asarray(v)) for k, v in src.state_dict().items()}
    dst.load_state_dict(state)


def x(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# (name, constructor(L), input arrays, kwargs for the module call)
LAYERS = [
    ("linear", lambda L: L.nn.Linear(5, 3), [x(4, 5)]),
    ("linear_nobias_3d", lambda L: L.nn.Linear(5, 3, bias=False), [x(2, 4, 5)]),
    ("bilinear", lambda L: L.nn.Bilinear(3, 4, 2), [x(5, 3), x(5, 4)]),
    ("conv2d", lambda L: L.nn.Conv2d(3, 4, 3, stride=2, padding=1), [x(2, 3, 7, 7)]),
    (
        "conv2d_groups",
        lambda L: L.nn.Conv2d(4, 6, (3, 2), groups=2, dilation=(1, 2)),
        [x(1, 4, 6, 7)],
    ),
    ("conv1d", lambda L: L.nn.Conv1d(3, 5, 3, padding=1), [x(2, 3, 8)]),
    (
        "conv_transpose2d",
        lambda L: L.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        [x(2, 4, 5, 5)],
    ),
    (
        "upsample_pixelshuffle",
        lambda L: L.nn.Sequential(
            L.nn.Upsample(scale_factor=2, mode="bilinear"),
            L.nn.PixelShuffle(2),
            L.nn.PixelUnshuffle(2),
        ),
        [x(1, 4, 3, 3)],
    ),
    ("maxpool", lambda L: L.nn.MaxPool2d(2), [x(2, 3, 6, 6)]),
    ("avgpool", lambda L: L.nn.AvgPool2d(3, stride=2, padding=1), [x(2, 3, 7, 7)]),
    ("adaptive", lambda L: L.nn.AdaptiveAvgPool2d((2, 3)), [x(2, 3, 7, 7)]),
    ("batchnorm1d", lambda L: L.nn.BatchNorm1d(4), [x(6, 4)]),
    ("batchnorm2d", lambda L: L.nn.BatchNorm2d(3), [x(2, 3, 4, 4)]),
    ("layernorm", lambda L: L.nn.LayerNorm((3, 4)), [x(2, 3, 4)]),
    ("groupnorm", lambda L: L.nn.GroupNorm(2, 4), [x(2, 4, 3, 3)]),
    ("instancenorm", lambda L: L.nn.InstanceNorm2d(3, affine=True), [x(2, 3, 4, 4)]),
    ("embedding", lambda L: L.nn.Embedding(10, 4, padding_idx=0), [rng.integers(0, 10, (3, 5))]),
    ("rnncell", lambda L: L.nn.RNNCell(4, 6), [x(3, 4)]),
    ("lstmcell", lambda L: L.nn.LSTMCell(4, 6), [x(3, 4)]),
    ("grucell", lambda L: L.nn.GRUCell(4, 6), [x(3, 4)]),
    ("rnn_relu", lambda L: L.nn.RNN(4, 5, num_layers=2, nonlinearity="relu"), [x(6, 3, 4)]),
    ("lstm", lambda L: L.nn.LSTM(4, 5, num_layers=2), [x(6, 3, 4)]),
    (
        "lstm_bidir_batch_first",
        lambda L: L.nn.LSTM(4, 5, bidirectional=True, batch_first=True),
        [x(3, 6, 4)],
    ),
    ("gru_bidir", lambda L: L.nn.GRU(4, 5, num_layers=2, bidirectional=True), [x(6, 3, 4)]),
    ("lstm_unbatched", lambda L: L.nn.LSTM(4, 5), [x(6, 4)]),
    (
        "sequential",
        lambda L: L.nn.Sequential(
            L.nn.Linear(4, 8),
            L.nn.GELU(),
            L.nn.Dropout(0.0),
            L.nn.Linear(8, 2),
            L.nn.LogSoftmax(-1),
        ),
        [x(3, 4)],
    ),
    ("flatten", lambda L: L.nn.Sequential(L.nn.Flatten(), L.nn.Unflatten(1, (2, 6))), [x(3, 3, 4)]),
    (
        "activations",
        lambda L: L.nn.Sequential(
            L.nn.ReLU(),
            L.nn.LeakyReLU(0.1),
            L.nn.ELU(),
            L.nn.SiLU(),
            L.nn.Softplus(),
            L.nn.Tanh(),
            L.nn.Hardtanh(),
            L.nn.ReLU6(),
            L.nn.Sigmoid(),
            L.nn.Softmax(1),
        ),
        [x(3, 4)],
    ),
]


def _run(L, module, arrays):
    inputs = []
    for a in arrays:
        t = L.tensor(a)
        if a.dtype.kind == "f":
            t.requires_grad_(True)
        inputs.append(t)
    out = module(*inputs)
    flat = []
    stack = [out]
    while stack:
        o = stack.pop(0)
        if isinstance(o, (tuple, list)):
            stack[:0] = list(o)
        else:
            flat.append(o)
    total = sum(
        (
            o * L.tensor(np.cos(np.arange(o.numel())).reshape(tuple(o.shape)).astype(np.float32))
        ).sum()
        for o in flat
    )
    total.backward()
    return flat, inputs


@pytest.mark.parametrize("name,make,arrays", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_pytorch(name, make, arrays):
    torch = torch_or_skip()
    janus.manual_seed(0)
    jm = make(janus)
    tm = make(torch)
    copy_weights(jm, tm, torch)
    j_out, j_in = _run(janus, jm, arrays)
    t_out, t_in = _run(torch, tm, arrays)
    assert len(j_out) == len(t_out)
    for a, b in zip(j_out, t_out):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=f"{name} output")
    for a, b in zip(j_in, t_in):
        if b.grad is not None:
            assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, what=f"{name} input grad")
    t_params = dict(tm.named_parameters())
    for pname, p in jm.named_parameters():
        assert_close(p.grad, t_params[pname].grad, rtol=1e-4, atol=1e-5, what=f"{name}.{pname}")
    for bname, b in jm.named_buffers():
        assert_close(b, dict(tm.named_buffers())[bname], rtol=1e-5, atol=1e-6, what=bname)


def test_parameter_names_and_shapes_match_pytorch():
    torch = torch_or_skip()
    for name, make, _ in LAYERS:
        j = {k: tuple(v.shape) for k, v in make(janus).state_dict().items()}
        t = {k: tuple(v.shape) for k, v in make(torch).state_dict().items()}
        assert j == t, name


def test_default_initialization_follows_pytorch_bounds():
    janus.manual_seed(0)
    layer = janus.nn.Linear(100, 50)
    bound = 1 / 10
    assert layer.weight.abs().max().item() <= bound and layer.bias.abs().max().item() <= bound
    assert layer.weight.std().item() == pytest.approx(bound / np.sqrt(3), rel=0.1)
    emb = janus.nn.Embedding(1000, 8, padding_idx=3)
    assert emb.weight[3].abs().sum().item() == 0
    assert emb.weight.std().item() == pytest.approx(1.0, rel=0.1)


def test_eval_mode_batchnorm_and_dropout():
    torch = torch_or_skip()
    janus.manual_seed(0)
    jm = janus.nn.Sequential(janus.nn.BatchNorm1d(3), janus.nn.Dropout(0.5))
    tm = torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Dropout(0.5))
    data = x(8, 3)
    jm(janus.tensor(data))
    tm(torch.tensor(data))
    jm.eval()
    tm.eval()
    assert_close(jm(janus.tensor(data)), tm(torch.tensor(data)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_cumulative_average_matches_pytorch_and_reads_no_tensor_data(layer):
    """momentum=None: the running stats are a cumulative average over the
    batches, computed without `.item()` (which would break a compiled step)."""
    torch = torch_or_skip()
    shape = (6, 3) if layer == "BatchNorm1d" else (2, 3, 4, 4)
    batches = [x(*shape) * (k + 1) + k for k in range(4)]
    results = []
    for L in (janus, torch):
        bn = getattr(L.nn, layer)(3, momentum=None)
        outs = []
        for data in batches:
            with no_host_reads() if L is janus else contextlib.nullcontext():
                outs.append(bn(L.tensor(data)))
        bn.eval()
        outs.append(bn(L.tensor(batches[0])))
        results.append((outs, bn.running_mean, bn.running_var, bn.num_batches_tracked))
    (j_outs, *j_stats), (t_outs, *t_stats) = results
    for k, (jo, to) in enumerate(zip(j_outs, t_outs)):
        assert_close(jo, to, rtol=1e-5, atol=1e-5, what=f"output {k}")
    for what, js, ts in zip(("running_mean", "running_var", "count"), j_stats, t_stats):
        assert_close(js, ts, rtol=1e-5, atol=1e-6, what=what)


@pytest.mark.parametrize("momentum", [0.2, None])
def test_instance_norm_tracking_running_stats_matches_pytorch(momentum):
    torch = torch_or_skip()
    batches = [x(2, 3, 4, 4) * (k + 1) + k for k in range(3)] + [x(3, 4, 4)]  # one unbatched
    results = []
    for L in (janus, torch):
        norm = L.nn.InstanceNorm2d(3, momentum=momentum, affine=True, track_running_stats=True)
        outs = [norm(L.tensor(data)) for data in batches]
        norm.eval()
        outs += [norm(L.tensor(batches[0])), norm(L.tensor(batches[-1]))]
        results.append(outs + [b for _, b in sorted(norm.named_buffers())])
    for k, (j, t) in enumerate(zip(*results)):
        assert_close(j, t, rtol=1e-5, atol=1e-5, what=f"output or buffer {k}")


def test_dropout_zeroes_and_rescales():
    janus.manual_seed(0)
    out = janus.nn.functional.dropout(janus.ones(10000), 0.3)
    kept = out[out != 0]
    assert abs(kept.numel() / 10000 - 0.7) < 0.02
    assert_close(kept, np.full(kept.numel(), 1 / 0.7, dtype=np.float32))
