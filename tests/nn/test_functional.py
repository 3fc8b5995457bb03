"""Losses and normalization functions against PyTorch."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(5)
LOGITS = rng.standard_normal((6, 5)).astype(np.float32)
LOGITS_4D = rng.standard_normal((2, 5, 3, 2)).astype(np.float32)
TARGET = np.array([0, 4, 2, -100, 1, 3])
TARGET_4D = rng.integers(0, 5, (2, 3, 2))
WEIGHT = (rng.random(5) + 0.5).astype(np.float32)
PRED = rng.random((4, 3)).astype(np.float32) * 0.98 + 0.01
LABELS = (rng.random((4, 3)) > 0.5).astype(np.float32)
REG = rng.standard_normal((4, 3)).astype(np.float32)
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)

CASES = {
    "cross_entropy": lambda L, x: L.nn.functional.cross_entropy(x, L.tensor(TARGET)),
    "cross_entropy_weight_sum": lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(TARGET), weight=L.tensor(WEIGHT), reduction="sum"
    ),
    "cross_entropy_smoothing": lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(TARGET), label_smoothing=0.2
    ),
    "cross_entropy_smoothing_weight": lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(TARGET), weight=L.tensor(WEIGHT), label_smoothing=0.1
    ),
    "cross_entropy_none": lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(TARGET), reduction="none", label_smoothing=0.1
    ),
    "cross_entropy_probs": lambda L, x: L.nn.functional.cross_entropy(
        x, L.tensor(PROBS), label_smoothing=0.1
    ),
    "nll_loss": lambda L, x: L.nn.functional.nll_loss(
        L.log_softmax(x, 1), L.tensor(TARGET), weight=L.tensor(WEIGHT)
    ),
    "mse": lambda L, x: L.nn.functional.mse_loss(x[:4, :3], L.tensor(REG)),
    "l1_sum": lambda L, x: L.nn.functional.l1_loss(x[:4, :3], L.tensor(REG), reduction="sum"),
    "smooth_l1": lambda L, x: L.nn.functional.smooth_l1_loss(
        x[:4, :3] * 3, L.tensor(REG), beta=0.5
    ),
    "huber": lambda L, x: L.nn.functional.huber_loss(x[:4, :3] * 3, L.tensor(REG), delta=0.7),
    "bce": lambda L, x: L.nn.functional.binary_cross_entropy(
        L.sigmoid(x[:4, :3]), L.tensor(LABELS), weight=L.tensor(PRED)
    ),
    "bce_logits": lambda L, x: L.nn.functional.binary_cross_entropy_with_logits(
        x[:4, :3] * 4,
        L.tensor(LABELS),
        pos_weight=L.tensor(np.array([1.0, 2.0, 0.5], dtype=np.float32)),
    ),
    "kl_div": lambda L, x: L.nn.functional.kl_div(
        L.log_softmax(x, 1), L.tensor(PROBS), reduction="batchmean"
    ),
    "kl_div_log_target": lambda L, x: L.nn.functional.kl_div(
        L.log_softmax(x, 1), L.tensor(np.log(PROBS)), reduction="sum", log_target=True
    ),
    "layer_norm": lambda L, x: L.nn.functional.layer_norm(x, (5,), L.tensor(WEIGHT)),
    "normalize": lambda L, x: L.nn.functional.normalize(x, dim=1),
    "cosine_similarity": lambda L, x: L.nn.functional.cosine_similarity(x[:3], x[3:]),
    "logsigmoid_softmin": lambda L, x: (
        L.nn.functional.logsigmoid(x) + L.nn.functional.softmin(x, 1)
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_function_matches_pytorch(name):
    torch = torch_or_skip()
    results = []
    for L in (janus, torch):
        xin = L.tensor(LOGITS, requires_grad=True)
        out = CASES[name](L, xin)
        out.sum().backward()
        results.append((out, xin.grad))
    (jo, jg), (to, tg) = results
    assert_close(jo, to, rtol=1e-5, atol=1e-6, what="value")
    assert_close(jg, tg, rtol=1e-4, atol=1e-6, what="grad")


def test_cross_entropy_on_images_with_ignore_index():
    torch = torch_or_skip()
    target = TARGET_4D.copy()
    target[0, 0, 0] = 7  # ignored
    outs = []
    for L in (janus, torch):
        xin = L.tensor(LOGITS_4D, requires_grad=True)
        loss = L.nn.functional.cross_entropy(
            xin, L.tensor(target), ignore_index=7, label_smoothing=0.05
        )
        loss.backward()
        outs.append((loss, xin.grad))
    assert_close(outs[0][0], outs[1][0], rtol=1e-5)
    assert_close(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-6)


def test_loss_modules_match_functional():
    x = janus.tensor(LOGITS)
    t = janus.tensor(TARGET)
    assert_close(
        janus.nn.CrossEntropyLoss(label_smoothing=0.1)(x, t),
        janus.nn.functional.cross_entropy(x, t, label_smoothing=0.1),
    )
    assert_close(
        janus.nn.MSELoss(reduction="sum")(x, x * 2),
        janus.nn.functional.mse_loss(x, x * 2, reduction="sum"),
    )


def test_bad_targets_raise():
    x = janus.tensor(LOGITS)
    with pytest.raises(IndexError, match="out of bounds"):
        janus.nn.functional.cross_entropy(x, janus.tensor([0, 1, 2, 3, 4, 9]))
    with pytest.raises(ValueError, match="batch_size"):
        janus.nn.functional.cross_entropy(x, janus.tensor([0, 1]))


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_with_running_stats_matches_pytorch(use_input_stats):
    """The running stats are updated (with the batch's average of the
    per-sample statistics) or used, as asked; they were ignored."""
    torch = torch_or_skip()
    data = (rng.standard_normal((3, 2, 4, 5)) * 2 + 1).astype(np.float32)
    results = []
    for L in (janus, torch):
        running_mean = L.tensor(np.array([0.5, -0.2], dtype=np.float32))
        running_var = L.tensor(np.array([1.5, 0.7], dtype=np.float32))
        x = L.tensor(data, requires_grad=True)
        out = L.nn.functional.instance_norm(
            x, running_mean, running_var, use_input_stats=use_input_stats, momentum=0.3
        )
        (out * out).sum().backward()
        results.append((out, x.grad, running_mean, running_var))
    for what, j, t in zip(("output", "grad", "running_mean", "running_var"), *results):
        assert_close(j, t, rtol=1e-5, atol=1e-5, what=what)


def test_instance_norm_without_stats_to_use_raises():
    with pytest.raises(RuntimeError, match="running_mean and running_var"):
        janus.nn.functional.instance_norm(janus.zeros(2, 3, 4), use_input_stats=False)
