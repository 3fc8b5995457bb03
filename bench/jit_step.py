"""Full training steps compiled by janus's JIT against janus eager and PyTorch
eager, from the same source, in one run; plus compile time, per-call overhead
and the cost of the frame hook on pure-Python code.

    python bench/jit_step.py [--repeat 20]

Prints ratios measured in this run (never absolute targets): a step's median
time in each mode, janus JIT's speedup over each peer, and the loss after the
timed steps so every mode is seen to train the same model.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np

VOCAB, SEQ, BATCH, HIDDEN = 50, 35, 20, 128
WARM_UP = 12  # calls before timing, in every mode


def mlp(torch):
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((32, 64), dtype=np.float32))
    y = torch.tensor(rng.integers(0, 10, 32))

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return model, step, (x, y)


def mlp_epoch(torch):
    """An epoch as users write it: a DataLoader loop with the training step
    inline, a log line printed to a file per batch (a graph break inside the
    loop) and a learning-rate schedule stepped after the loop."""
    model, _, _ = mlp(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.99)
    rng = np.random.default_rng(1)
    data = torch.utils.data.TensorDataset(
        torch.tensor(rng.standard_normal((256, 64), dtype=np.float32)),
        torch.tensor(rng.integers(0, 10, 256)),
    )
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    log = io.StringIO()

    def epoch(loader):
        total = 0.0
        for x, y in loader:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item()
            print(f"{loss.item():.4f}", file=log)
        sched.step()
        log.seek(0)
        log.truncate()
        return total / len(loader)

    return model, epoch, (loader,)


# Its resume functions (one per split point in the loop) compile over the
# first epochs, and the lr becomes data after three values: a longer warm-up.
mlp_epoch.warm_up = 30


def lstm_lm(torch):
    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
            self.cell = torch.nn.LSTMCell(HIDDEN, HIDDEN)
            self.head = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            h = torch.zeros(tokens.shape[1], HIDDEN)
            c = torch.zeros(tokens.shape[1], HIDDEN)
            logits = []
            for t in range(tokens.shape[0]):  # the Python time loop
                h, c = self.cell(self.embed(tokens[t]), (h, c))
                logits.append(self.head(h))
            return torch.stack(logits)

    model = LM()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.integers(0, VOCAB, (SEQ, BATCH)))
    y = torch.tensor(rng.integers(0, VOCAB, (SEQ, BATCH)))

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    return model, step, (x, y)


def tree_lstm(torch):
    """A child-sum TreeLSTM over a new random tree every call (recursion)."""
    dim = 32

    class Node:
        def __init__(self, word, children):
            self.word, self.children = word, children

    def random_tree(rng, depth=0):
        if depth >= 4 or rng.random() < 0.3:
            return Node(int(rng.integers(0, VOCAB)), [])
        return Node(int(rng.integers(0, VOCAB)), [random_tree(rng, depth + 1) for _ in range(2)])

    class TreeLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, dim)
            self.iou = torch.nn.Linear(2 * dim, 3 * dim)
            self.f = torch.nn.Linear(2 * dim, dim)
            self.out = torch.nn.Linear(dim, 2)

        def node(self, tree):
            x = self.embed(torch.tensor([tree.word]))
            h_sum = torch.zeros(1, dim)
            states = [self.node(child) for child in tree.children]
            for h, _ in states:
                h_sum = h_sum + h
            i, o, u = self.iou(torch.cat([x, h_sum], 1)).chunk(3, 1)
            c = torch.sigmoid(i) * torch.tanh(u)
            for h, c_child in states:
                c = c + torch.sigmoid(self.f(torch.cat([x, h], 1))) * c_child
            return torch.sigmoid(o) * torch.tanh(c), c

        def forward(self, tree):
            return self.out(self.node(tree)[0])

    model = TreeLSTM()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    trees = [random_tree(rng) for _ in range(64)]
    label = torch.tensor([1])
    counter = iter(range(10**9))

    def step(tree, label):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tree), label)
        loss.backward()
        opt.step()
        return loss.item()

    def args():  # a new tree each call
        return (trees[next(counter) % len(trees)], label)

    return model, step, args


WORKLOADS = {"mlp": mlp, "mlp_epoch": mlp_epoch, "lstm_lm": lstm_lm, "tree_lstm": tree_lstm}


def _weights(janus, build):
    janus.manual_seed(0)
    model, _, _ = build(janus)
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def run(torch, build, weights, repeat):
    model, step, args = build(torch)
    model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    make_args = args if callable(args) else (lambda: args)
    start = time.perf_counter()
    step(*make_args())
    first = time.perf_counter() - start
    # Warm-up: the hook compiles a frame on its second call, and a frame whose
    # structure changes every call (TreeLSTM) is retranslated a few times
    # before it is left to run as usual. Every mode runs the same calls (so
    # the losses compare), enough for the JIT to settle; the steady state is
    # timed, and the warm-up column shows what settling cost.
    for _ in range(getattr(build, "warm_up", WARM_UP) - 1):
        step(*make_args())
    warm_up = time.perf_counter() - start
    translations = _translations()
    times, loss = [], None
    for _ in range(repeat):
        a = make_args()
        start = time.perf_counter()
        loss = step(*a)
        times.append(time.perf_counter() - start)
    if _translations() != translations:
        print(f"(warning: the JIT still translated during the timed steps of {build.__name__})")
    return statistics.median(times), first, warm_up, loss


def _translations() -> int:
    from janus.jit import frontend

    return sum(len(r.compiles) for r in frontend.reports.values())


def overhead(janus, calls=20000, repeat=5):
    """Per-call cost of a compiled trivial function (guards included) against
    the same function run eagerly: CPU time of this thread, fastest of
    `repeat` windows (other processes on a shared machine distort wall time)."""
    from janus import _C

    def tiny(x):
        return x + 1

    x = janus.ones(1)
    out = {}
    for mode in ("eager", "jit"):
        janus.jit.enable() if mode == "jit" else janus.jit.disable()
        _C.capture.reset()
        for _ in range(5):
            tiny(x)
        best = float("inf")
        for _ in range(repeat):
            start = time.thread_time()
            for _ in range(calls):
                tiny(x)
            best = min(best, time.thread_time() - start)
        out[mode] = best / calls
    janus.jit.enable()
    return out


def python_slowdown(janus, n=200000):
    """A pure-Python, call-heavy program with the hook installed vs not."""

    def add(a, b):
        return a + b

    def work():
        total = 0
        for i in range(n):
            total = add(total, i)
        return total

    out = {}
    for mode in ("off", "on"):
        janus.jit.enable() if mode == "on" else janus.jit.disable()
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - start)
        out[mode] = best
    janus.jit.enable()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    import janus

    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("(PyTorch is not installed: janus modes only)")
    print(f"python {sys.version.split()[0]}; median of {args.repeat} steps after warm-up")
    print(
        f"{'workload':10s} {'mode':14s} {'ms/step':>9s} {'first call ms':>14s} "
        f"{'warm-up ms':>11s} {'loss':>9s}"
    )
    for name in args.workloads.split(","):
        build = WORKLOADS[name]
        weights = _weights(janus, build)
        results = {}
        janus.jit.disable()
        janus.manual_seed(1)
        results["janus eager"] = run(janus, build, weights, args.repeat)
        janus.jit.enable()
        janus.manual_seed(1)
        results["janus JIT"] = run(janus, build, weights, args.repeat)
        if torch is not None:
            torch.manual_seed(1)
            results["torch eager"] = run(torch, build, weights, args.repeat)
        for mode, (median, first, warm, loss) in results.items():
            print(
                f"{name:10s} {mode:14s} {median * 1e3:9.2f} {first * 1e3:14.1f} "
                f"{warm * 1e3:11.0f} {loss:9.4f}"
            )
        jit = results["janus JIT"][0]
        ratios = ", ".join(
            f"{results[m][0] / jit:.2f}x vs {m}" for m in results if m != "janus JIT"
        )
        print(f"{name:10s} janus JIT speedup: {ratios}")
    from janus.jit import frontend

    lm = [r for r in frontend.reports.values() if "lstm_lm" in r.name]
    if lm:
        compiles = [t.seconds for t in lm[0].compiles if t.entry is not None]
        print(f"compile time of the LSTM LM step: {max(compiles):.2f} s")
    o = overhead(janus)
    print(
        f"trivial call: eager {o['eager'] * 1e6:.2f} us, compiled {o['jit'] * 1e6:.2f} us "
        f"(guards + graph + commit)"
    )
    s = python_slowdown(janus)
    print(
        f"pure-Python call-heavy loop: {s['on'] / s['off']:.2f}x the time with the hook as without"
    )


if __name__ == "__main__":
    main()
