"""Training steps on a GPU: janus compiled (a CUDA graph of generated kernels
and cuBLAS, replayed) against janus eager (cupy), PyTorch eager and
`torch.compile(mode="reduce-overhead")`, in one run, from the same weights.

    python bench/cuda_step.py [--workloads lstm_lm,mlp] [--steps 30] [--no-torch-compile]

The LSTM LM is the issue's: a 35-step Python time loop, batch 20, hidden 256.
Each step ends with `loss.item()`, so every mode synchronizes once per step,
as a training loop that logs its loss does. Prints ms per step (median of the
timed steps), the ratios, and the loss after the same steps.
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


WORKLOADS = {"lstm_lm": lstm_lm, "mlp": mlp}


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
    return statistics.median(times) * 1e3, warm, loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="lstm_lm,mlp")
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
    for name in args.workloads.split(","):
        build = WORKLOADS[name]
        weights = _weights(build)
        rows = {}
        for mode in modes:
            lib = janus if mode.startswith("janus") else torch
            try:
                rows[mode] = run(lib, build, weights, args.steps, mode)
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
