"""Training steps on a GPU: janus compiled (a CUDA graph of generated kernels
and cuBLAS, replayed) against janus eager (cupy), PyTorch eager and
`torch.compile(mode="reduce-overhead")`, in one run, from the same weights.

    python bench/cuda_step.py [--workloads lstm_lm,mlp,inception] [--steps 30]
                              [--no-torch-compile]

The LSTM LM is the issue's: a 35-step Python time loop, batch 20, hidden 256;
the inception block is GoogLeNet's 3a at batch 1.
Each step ends with `loss.item()`, so every mode synchronizes once per step,
as a training loop that logs its loss does. Prints ms per step (median of the
timed steps), the ratios, and the loss after the same steps; for janus's JIT
also one replay's GPU time against the sum of its kernels' times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

VOCAB, SEQ, BATCH, HIDDEN = 100, 35, 20, 256


def lstm_lm(torch, device):
    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
            self.cell = torch.nn.LSTMCell(HIDDEN, HIDDEN)
            self.head = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            h = torch.zeros(tokens.shape[1], HIDDEN, device=device)
            c = torch.zeros(tokens.shape[1], HIDDEN, device=device)
            logits = []
            for t in range(tokens.shape[0]):  # the Python time loop
                h, c = self.cell(self.embed(tokens[t]), (h, c))
                logits.append(self.head(h))
            return torch.stack(logits)

    model = LM()
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (SEQ, BATCH))
    y = rng.integers(0, VOCAB, (SEQ, BATCH))

    def loss_of(out, y):
        return torch.nn.functional.cross_entropy(out.reshape(-1, VOCAB), y.reshape(-1))

    return model, (x, y), loss_of


def mlp(torch, device):
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    return model, (x, y), torch.nn.functional.cross_entropy


def inception(torch, device):
    """GoogLeNet's inception (3a) block at batch 1 (four branches of
    convolutions over one 192-channel 28x28 map, concatenated), then a
    linear classifier on its mean."""

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            nn = torch.nn
            self.b1 = nn.Conv2d(192, 64, 1)
            self.b2 = nn.Sequential(
                nn.Conv2d(192, 96, 1), nn.ReLU(), nn.Conv2d(96, 128, 3, padding=1)
            )
            self.b3 = nn.Sequential(
                nn.Conv2d(192, 16, 1), nn.ReLU(), nn.Conv2d(16, 32, 5, padding=2)
            )
            self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(192, 32, 1))
            self.head = nn.Linear(256, 10)

        def forward(self, x):
            y = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1).relu()
            return self.head(y.mean((2, 3)))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 192, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 1)
    return Block(), (x, y), torch.nn.functional.cross_entropy


WORKLOADS = {"lstm_lm": lstm_lm, "mlp": mlp, "inception": inception}


def _weights(build):
    import janus

    janus.manual_seed(0)
    model, _, _ = build(janus, "cpu")
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def run(torch, build, weights, steps, mode):
    device = "cuda"
    model, (x, y), loss_of = build(torch, device)
    model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = loss_of(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if mode == "janus-jit":
        import janus

        step = janus.jit(step)
    elif mode == "janus-eager":
        import janus

        janus.jit.disable()
    elif mode == "torch-compile-ro":
        step = torch.compile(step, mode="reduce-overhead")
    xs, ys = torch.tensor(x).to(device), torch.tensor(y).to(device)
    start = time.perf_counter()
    for _ in range(5):  # warm-up: compiles and captures
        loss = step(xs, ys).item()
    warm = time.perf_counter() - start
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step(xs, ys).item()
        times.append(time.perf_counter() - t0)
    if mode == "janus-eager":
        import janus

        janus.jit.enable()
    if mode == "janus-jit":
        from janus.jit import frontend

        for report in frontend.reports.values():
            if report.compiles:
                print(str(report)[:1500])
        _replay_against_kernels()
    return statistics.median(times) * 1e3, warm, loss


def _replay_against_kernels() -> None:
    """The issue's figure: the GPU time of one replay of the step's CUDA graph
    against the sum of its nodes' kernel times, each node timed alone."""
    from janus.jit.cuda_program import PROGRAMS

    if not PROGRAMS:
        print("  (no CUDA program was built)")
        return
    from janus.jit.cuda_steps import Gemm

    program = max(PROGRAMS, key=lambda p: len(p.lowered.steps))
    replay = program.replay_ms()
    kernels = sum(program.kernel_ms())
    ratio = replay / kernels if kernels else float("nan")  # (0 where no GPU timed them)
    steps = [step for node in program.lowered.steps for step in node]
    gemms = sum(isinstance(step, Gemm) for step in steps)
    print(
        f"  replay {replay:.3f} ms on the GPU, sum of its {len(program.lowered.steps)} nodes' "
        f"kernel times {kernels:.3f} ms: {ratio:.2f}x ({program.n_streams} streams, "
        f"{len(steps) - gemms} kernel launches and {gemms} cuBLAS calls per replay)"
    )
    PROGRAMS.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="lstm_lm,mlp,inception")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--no-torch-compile", action="store_true")
    args = parser.parse_args()
    import janus

    modes = ["janus-jit", "janus-eager"]
    try:
        import torch

        modes += ["torch-eager"] + ([] if args.no_torch_compile else ["torch-compile-ro"])
    except ImportError:
        torch = None
        print("(PyTorch is not installed: its modes are skipped)")
    # The driver stays out of the JIT, as a test harness does: once hot, the
    # hook would translate it and trace into the step under measurement.
    run_mode = janus.jit.skip(run)
    for name in args.workloads.split(","):
        build = WORKLOADS[name]
        weights = _weights(build)
        rows = {}
        for mode in modes:
            lib = janus if mode.startswith("janus") else torch
            try:
                rows[mode] = run_mode(lib, build, weights, args.steps, mode)
            except Exception as error:  # a peer failing must not hide the others
                print(f"{name} / {mode}: {type(error).__name__}: {error}", file=sys.stderr)
        base = rows.get("torch-eager", rows.get("janus-eager"))[0]
        print(
            f"\n{name}: ms per step (median of {args.steps}), time relative to "
            f"{'torch-eager' if 'torch-eager' in rows else 'janus-eager'}, warm-up s, loss"
        )
        for mode, (ms, warm, loss) in rows.items():
            print(
                f"  {mode:18s} {ms:8.3f} ms  {ms / base:6.2f}x  "
                f"warm-up {warm:6.2f} s  loss {loss:.5f}"
            )
        if "janus-jit" in rows:
            jit = rows["janus-jit"][0]
            for peer in ("janus-eager", "torch-eager", "torch-compile-ro"):
                if peer in rows:
                    print(f"  janus-jit speedup over {peer}: {rows[peer][0] / jit:.2f}x")


if __name__ == "__main__":
    main()
