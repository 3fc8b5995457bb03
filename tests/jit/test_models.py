"""Whole training steps, differentially: each model trains for several steps
eagerly and through `janus.jit` from the same weights and data; losses,
gradients, parameters, buffers and optimizer state must agree after every
step, and the steps after the first must have run compiled (the first one
creates the optimizer state, which is a graph break by design)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.jit.differential import compiled_calls, run_both

import janus
import janus.nn as nn
import janus.nn.functional as F

STEPS = 5
TOL = dict(rtol=1e-4, atol=1e-5)


def _trainer(model_cls, optimizer="sgd", extra_state=None):
    """A `make` for run_both: a fresh model, its optimizer and one training step."""

    def make():
        model = model_cls()
        if optimizer == "sgd":
            opt = janus.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        else:
            opt = janus.optim.Adam(model.parameters(), lr=0.01)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        return step, lambda: {"model": model, "opt": opt}

    return make


def _assert_compiled(jf, at_least: int = STEPS - 2) -> None:
    """The optimizer's first step is a break; every later step runs a graph."""
    assert compiled_calls(jf) >= at_least, jf.explain()
    assert jf.report.compiles[-1].entry is not None, jf.explain()


# ----- MLP -----
class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(6, 16), nn.Linear(16, 16), nn.Linear(16, 3)])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp(optimizer):
    janus.manual_seed(1)
    data = [(janus.randn(8, 6), janus.randint(0, 3, (8,))) for _ in range(STEPS)]
    jf = run_both(_trainer(MLP, optimizer), data, **TOL)
    _assert_compiled(jf)


# ----- CNN: conv2d, max_pool2d, batch norm, dropout -----
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.drop = nn.Dropout(0.25)  # draws from the seeded default generator
        self.fc = nn.Linear(8 * 2 * 2, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(self.drop(x.flatten(1)))


def test_cnn_with_batchnorm_and_dropout():
    janus.manual_seed(2)
    data = [(janus.randn(4, 1, 12, 12), janus.randint(0, 3, (4,))) for _ in range(STEPS)]
    jf = run_both(_trainer(CNN), data, **TOL)  # state: running stats, num_batches_tracked
    _assert_compiled(jf)


def test_cnn_switching_between_eval_and_train_mode_recompiles():
    # The mode is switched outside the compiled function (`Module.train`
    # inside one is an unsupported call: it stores through object.__setattr__).
    results = {}
    for mode in ("eager", "jit"):
        janus.manual_seed(3)
        model = CNN()
        x = janus.randn(2, 1, 12, 12)

        def infer(x, model=model):
            with janus.no_grad():
                return model(x)

        fn = janus.jit(infer) if mode == "jit" else infer
        outs = []
        with janus._C.capture.disabled():
            for train in (False, False, False, True, True, True, False):
                model.train(train)
                outs.append(fn(x).numpy().copy())
        results[mode] = (outs, fn, model.bn.running_mean.numpy().copy())
    for a, b in zip(results["eager"][0], results["jit"][0]):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(results["eager"][2], results["jit"][2], **TOL)
    jf = results["jit"][1]
    assert len(jf.report.compiles) == 2, jf.explain()  # one entry per mode
    assert compiled_calls(jf) == 5
    assert any("training" in str(m) for m in jf.misses), jf.misses


# ----- LSTM language model with a Python time loop -----
class LSTMLM(nn.Module):
    def __init__(self, vocab=13, width=8, layers=2):
        super().__init__()
        self.vocab = vocab
        self.emb = nn.Embedding(vocab, width)
        self.cells = nn.ModuleList([nn.LSTMCell(width, width) for _ in range(layers)])
        self.out = nn.Linear(width, vocab)

    def forward(self, tokens):
        batch = tokens.shape[1]
        states = [(janus.zeros(batch, 8), janus.zeros(batch, 8)) for _ in self.cells]
        logits = []
        for t in range(tokens.shape[0]):
            x = self.emb(tokens[t])
            for k, cell in enumerate(self.cells):
                h, c = cell(x, states[k])
                states[k] = (h, c)
                x = h
            logits.append(self.out(x))
        return janus.stack(logits).reshape(-1, self.vocab)


def test_lstm_language_model_with_a_python_time_loop():
    def make():
        model = LSTMLM()
        opt = janus.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return loss.item()

        return step, lambda: {"model": model, "opt": opt}

    janus.manual_seed(4)
    data = [(janus.randint(0, 13, (6, 3)), janus.randint(0, 13, (6, 3))) for _ in range(STEPS)]
    jf = run_both(make, data, **TOL)
    _assert_compiled(jf)


def test_a_longer_sequence_recompiles_the_time_loop():
    janus.manual_seed(5)
    short = [(janus.randint(0, 13, (4, 2)), janus.randint(0, 13, (4 * 2,))) for _ in range(3)]
    long = [(janus.randint(0, 13, (7, 2)), janus.randint(0, 13, (7 * 2,))) for _ in range(3)]
    jf = run_both(_trainer(LSTMLM), short + long + short[:1], **TOL)
    assert len(jf.report.compiles) == 3, jf.explain()  # state made, then one per length
    assert compiled_calls(jf) == 4
    assert any("shape" in str(m) for m in jf.misses), jf.misses


# ----- GRU: the library layer and a GRUCell loop -----
class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 6, num_layers=2)
        self.cell = nn.GRUCell(5, 6)
        self.out = nn.Linear(12, 2)

    def forward(self, x):
        seq, _ = self.gru(x)
        h = janus.zeros(x.shape[1], 6)
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
        return self.out(janus.cat([seq[-1], h], -1))


def test_gru_layer_and_gru_cell_loop():
    janus.manual_seed(6)
    data = [(janus.randn(4, 3, 5), janus.randint(0, 2, (3,))) for _ in range(STEPS)]
    jf = run_both(_trainer(GRUNet, "adam"), data, **TOL)
    _assert_compiled(jf)


# ----- TreeLSTM: recursion over a different random tree every step -----
class TreeLSTM(nn.Module):
    def __init__(self, vocab=20, width=6):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.leaf = nn.Linear(width, 3 * width)
        self.node = nn.Linear(2 * width, 5 * width)
        self.out = nn.Linear(width, 3)

    def encode(self, tree, x):
        if isinstance(tree, int):
            i, o, u = self.leaf(x[tree : tree + 1]).chunk(3, -1)
            c = i.sigmoid() * u.tanh()
            return o.sigmoid() * c.tanh(), c
        (hl, cl), (hr, cr) = self.encode(tree[0], x), self.encode(tree[1], x)
        i, fl, fr, o, u = self.node(janus.cat([hl, hr], -1)).chunk(5, -1)
        c = i.sigmoid() * u.tanh() + fl.sigmoid() * cl + fr.sigmoid() * cr
        return o.sigmoid() * c.tanh(), c

    def forward(self, tree, words):
        h, _ = self.encode(tree, self.embed(words))
        return self.out(h)


def random_tree(rng, lo: int, hi: int):
    if hi - lo == 1:
        return lo
    split = int(rng.integers(lo + 1, hi))
    return (random_tree(rng, lo, split), random_tree(rng, split, hi))


def _tree_batches(steps, trees=3, leaves=5, seed=0):
    rng = np.random.default_rng(seed)
    return [
        [
            (
                random_tree(rng, 0, leaves),
                janus.tensor(rng.integers(0, 20, leaves)),
                janus.tensor(rng.integers(0, 3, 1)),
            )
            for _ in range(trees)
        ]
        for _ in range(steps)
    ]


def _tree_trainer():
    model = TreeLSTM()
    opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(batch):
        opt.zero_grad()
        loss = sum(F.cross_entropy(model(tree, w), y) for tree, w, y in batch)
        loss = loss / len(batch)
        loss.backward()
        opt.step()
        return loss.item()

    return step, lambda: {"model": model, "opt": opt}


def test_treelstm_on_new_random_trees_every_step():
    # A new structure each call: it may stay eager, but it must stay right.
    jf = run_both(_tree_trainer, [(b,) for b in _tree_batches(6)], **TOL)
    assert len(jf.report.compiles) <= jf.budget


class Stack(nn.Module):
    """Blocks in a ModuleList, a Sequential, a ModuleDict and a
    ParameterList, each looped over in forward, as real models do."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(6, 6) for _ in range(3)])
        self.tail = nn.Sequential(nn.Linear(6, 6), nn.Tanh())
        self.heads = nn.ModuleDict({"a": nn.Linear(6, 3), "b": nn.Linear(6, 3)})
        self.scales = nn.ParameterList([nn.Parameter(janus.ones(6)) for _ in range(2)])

    def forward(self, x):
        for k, block in enumerate(self.blocks):
            x = F.relu(block(x)) + x * k
        for block in reversed(self.blocks):
            x = x + block(x) * 0.1
        for scale in self.scales:
            x = x * scale
        for layer in self.tail:
            x = layer(x)
        return sum(self.heads[name](x) for name in self.heads)


def test_loops_over_module_containers_compile_and_follow_changes():
    """`for block in self.blocks` reads each block through the container on
    every call (it was a break: an outside iterable), so a block replaced
    or appended between calls is followed, as eagerly."""

    def make():
        janus.manual_seed(3)
        model = Stack()
        step, observed = _trainer(lambda: model)()
        calls = 0

        def changing(x, y):
            nonlocal calls
            calls += 1
            if calls == 4:
                model.blocks[1] = nn.Linear(6, 6)
            if calls == 6:
                model.blocks.append(nn.Linear(6, 6))
            return step(x, y)

        return changing, observed

    janus.manual_seed(1)
    data = [(janus.randn(8, 6), janus.randint(0, 3, (8,))) for _ in range(8)]
    jf = run_both(make, data, **TOL)
    assert not any(b for t in jf.report.compiles for b in t.breaks if "iterates" in str(b))
    assert compiled_calls(jf) >= 3


class Toggled(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.body(x)
        return self.head(h * 2 if self.training else h)


def test_train_and_eval_inside_the_step_compile():
    """`model.train(flag)` inside the step stores `training` into every
    submodule (Module.train's object.__setattr__ over modules()): effects
    committed after the graph, not a break, and the forward after it
    follows the mode (dropout, batch statistics)."""

    def make():
        janus.manual_seed(3)
        model = Toggled()
        opt = janus.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y, train):
            model.train(train)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            model.eval()
            return loss.detach(), model(x).detach()

        return step, lambda: {"model": model, "opt": opt, "mode": model.body[3].training}

    janus.manual_seed(1)
    data = [(janus.randn(8, 6), janus.randint(0, 3, (8,)), k % 3 != 2) for k in range(8)]
    jf = run_both(make, data, **TOL)
    breaks = [b for t in jf.report.compiles for b in t.breaks]
    assert all("optimizer state" in b.explanation for b in breaks), breaks
    assert compiled_calls(jf) >= 4
