"""The janus demo: a character-level LSTM language model, written the ordinary
PyTorch way, trained with janus (and with PyTorch in the same run when it is
installed, from the same initial weights, to show both learn the same model).

    python examples/lstm_lm.py [--steps 60] [--device cpu|cuda]

Nothing here is janus-specific except the import: the training function
receives the library as `torch`. janus runs it twice, with its JIT off and on
(the default), and prints both step times and the speedup.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TEXT = (
    "janus speculates on what stays the same from call to call, compiles it into a "
    "dataflow graph and falls back to python the moment a speculation turns out wrong. "
) * 8


def build(torch, vocab: int, embed: int, hidden: int):
    class CharLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, embed)
            self.cell = torch.nn.LSTMCell(embed, hidden)
            self.head = torch.nn.Linear(hidden, vocab)

        def forward(self, tokens, state):
            h, c = state
            logits = []
            for t in range(tokens.shape[0]):  # a Python time loop, as in JANUS's RNN models
                h, c = self.cell(self.embed(tokens[t]), (h, c))
                logits.append(self.head(h))
            return torch.stack(logits), (h, c)

    return CharLM()


def batches(text: str, seq_len: int, batch: int, steps: int):
    chars = sorted(set(text))
    ids = np.array([chars.index(ch) for ch in text], dtype=np.int64)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - seq_len - 1, size=batch)
        window = np.stack([ids[s : s + seq_len + 1] for s in starts], axis=1)
        yield window[:-1], window[1:]


def train(torch, weights, args, vocab):
    model = build(torch, vocab, args.embed, args.hidden)
    if weights is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    model.to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def step(x, y):
        state = (
            torch.zeros(args.batch, args.hidden, device=args.device),
            torch.zeros(args.batch, args.hidden, device=args.device),
        )
        logits, _ = model(x, state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    losses, times = [], []
    for x, y in batches(TEXT, args.seq_len, args.batch, args.steps):
        x = torch.tensor(x, device=args.device)
        y = torch.tensor(y, device=args.device)
        start = time.perf_counter()
        losses.append(step(x, y))
        times.append(time.perf_counter() - start)
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return losses, times, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seq-len", type=int, default=35)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import janus

    vocab = len(set(TEXT))
    janus.manual_seed(0)
    initial = {
        k: v.numpy() for k, v in build(janus, vocab, args.embed, args.hidden).state_dict().items()
    }
    # The same code three ways: janus with its JIT off, with it on (hot frames
    # compile by themselves: here `step`, after two calls), and PyTorch.
    janus.jit.disable()
    runs = {"janus (eager)": train(janus, initial, args, vocab)}
    janus.jit.enable()
    runs["janus (JIT)"] = train(janus, initial, args, vocab)
    try:
        import torch

        torch.set_num_threads(2)
        runs["PyTorch (eager)"] = train(torch, initial, args, vocab)
    except ImportError:
        print("(PyTorch is not installed: showing janus only)")
    print(
        f"char-LSTM LM: {args.steps} steps, seq {args.seq_len}, batch {args.batch}, "
        f"hidden {args.hidden}, device {args.device}"
    )
    for name, (losses, times, _) in runs.items():
        median_ms = 1000 * float(np.median(times[3:] or times))
        print(
            f"  {name:16s} loss {losses[0]:.3f} -> {losses[-1]:.3f}   "
            f"{median_ms:7.1f} ms/step (median)"
        )
    base_losses, base_times, _ = runs["janus (eager)"]
    for name, (losses, times, _) in runs.items():
        if name == "janus (eager)":
            continue
        print(
            f"  {name:16s} vs janus (eager): loss curves agree to "
            f"{max(abs(a - b) for a, b in zip(base_losses, losses)):.2e}, "
            f"speedup {np.median(base_times[3:]) / np.median(times[3:]):.2f}x"
        )
    if "PyTorch (eager)" in runs:
        jit_times, torch_times = runs["janus (JIT)"][1], runs["PyTorch (eager)"][1]
        print(
            f"  janus (JIT) vs PyTorch (eager): speedup "
            f"{np.median(torch_times[3:]) / np.median(jit_times[3:]):.2f}x"
        )


if __name__ == "__main__":
    main()
