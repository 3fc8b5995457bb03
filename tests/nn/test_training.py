"""Several training steps of the model families JANUS targets give PyTorch's
losses and parameters from the same initial weights."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(21)


def mlp(L):
    return L.nn.Sequential(
        L.nn.Linear(8, 32), L.nn.ReLU(), L.nn.Linear(32, 32), L.nn.Tanh(), L.nn.Linear(32, 4)
    )


def cnn(L):
    return L.nn.Sequential(
        # No bias before BatchNorm: its gradient is zero up to rounding, which
        # adaptive optimizers would amplify into noise.
        L.nn.Conv2d(1, 4, 3, padding=1, bias=False),
        L.nn.BatchNorm2d(4),
        L.nn.ReLU(),
        L.nn.MaxPool2d(2),
        L.nn.Conv2d(4, 8, 3),
        L.nn.ReLU(),
        L.nn.AdaptiveAvgPool2d(1),
        L.nn.Flatten(),
        L.nn.Linear(8, 4),
    )


def lstm_lm(L):
    class LM(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = L.nn.Embedding(20, 8)
            self.rnn = L.nn.LSTM(8, 16, num_layers=2)
            self.head = L.nn.Linear(16, 20)

        def forward(self, tokens):
            out, _ = self.rnn(self.embed(tokens))
            return self.head(out).reshape(-1, 20)

    return LM()


def gru_tagger(L):
    class Tagger(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = L.nn.Embedding(20, 8)
            self.cell = L.nn.GRUCell(8, 16)
            self.head = L.nn.Linear(16, 4)

        def forward(self, tokens):
            h = L.zeros(tokens.shape[1], 16)
            outs = []
            for t in range(tokens.shape[0]):  # a Python time loop
                h = self.cell(self.embed(tokens[t]), h)
                outs.append(self.head(h))
            return L.stack(outs).reshape(-1, 4)

    return Tagger()


MODELS = {
    "mlp": (mlp, rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 4, 16)),
    "cnn": (cnn, rng.standard_normal((6, 1, 8, 8)).astype(np.float32), rng.integers(0, 4, 6)),
    "lstm_lm": (lstm_lm, rng.integers(0, 20, (7, 3)), rng.integers(0, 20, 21)),
    "gru": (gru_tagger, rng.integers(0, 20, (5, 3)), rng.integers(0, 4, 15)),
}

OPTIMIZERS = {
    "sgd_momentum": lambda L, p: L.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda L, p: L.optim.Adam(p, lr=0.01),
    "adamw": lambda L, p: L.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda L, p: L.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda L, p: L.optim.Adagrad(p, lr=0.1),
}


def _train(L, build, state, data, target, make_opt, steps=4):
    model = build(L)
    model.load_state_dict({k: L.tensor(v) for k, v in state.items()})
    opt = make_opt(L, model.parameters())
    x, y = L.tensor(data), L.tensor(target)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = L.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        L.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
    params = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return losses, params


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_training_matches_pytorch(model_name, opt_name):
    torch = torch_or_skip()
    build, data, target = MODELS[model_name]
    janus.manual_seed(0)
    state = {k: v.numpy().copy() for k, v in build(janus).state_dict().items()}
    j_losses, j_params = _train(janus, build, state, data, target, OPTIMIZERS[opt_name])
    t_losses, t_params = _train(torch, build, state, data, target, OPTIMIZERS[opt_name])
    np.testing.assert_allclose(j_losses, t_losses, rtol=1e-4, atol=1e-5)
    for name in t_params:
        assert_close(j_params[name], t_params[name], rtol=1e-3, atol=1e-4, what=name)
