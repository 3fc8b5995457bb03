"""Peak arena with memory planning against one buffer per result, on the IR of
an LSTM language-model training step (forward, backward, SGD update) recorded
from an eager run, after the default passes; then the CPU executor's arena for
the same graph, with in-place reuse.

    python bench/memory_plan.py [--steps 35] [--batch 20] [--hidden 256]
"""

from __future__ import annotations

import argparse

import numpy as np

import janus


def lstm_step_graph(steps: int, batch: int, hidden: int, vocab: int = 1000):
    janus.manual_seed(0)
    embed = janus.nn.Embedding(vocab, hidden)
    cell = janus.nn.LSTMCell(hidden, hidden)
    head = janus.nn.Linear(hidden, vocab)
    params = [*embed.parameters(), *cell.parameters(), *head.parameters()]
    tokens = janus.tensor(np.random.default_rng(0).integers(0, vocab, (steps + 1, batch)))

    def step(tokens):
        h = c = janus.zeros(batch, hidden)
        loss = 0.0
        for t in range(steps):
            h, c = cell(embed(tokens[t]), (h, c))
            loss = loss + janus.nn.functional.cross_entropy(head(h), tokens[t + 1])
        loss = loss / steps
        loss.backward()
        with janus.no_grad():
            for p in params:
                p.sub_(p.grad * 0.1)
        return loss

    graph, _ = janus.jit.record(step, tokens)
    return graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=35)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args()
    graph = lstm_step_graph(args.steps, args.batch, args.hidden)
    nodes = graph.node_count()
    for name in janus._C.ir.pass_names():
        graph.run_pass(name)
    plan = graph.plan_memory()
    streams = graph.assign_streams()
    mib = 1 / 2**20
    print(
        f"LSTM LM step ({args.steps} steps, batch {args.batch}, hidden {args.hidden}): "
        f"{nodes} nodes, {graph.node_count()} after passes"
    )
    print(f"  one buffer per result: {plan['unshared_bytes'] * mib:9.2f} MiB")
    print(f"  planned arena:         {plan['arena_bytes'] * mib:9.2f} MiB")
    print(f"  planned / unshared:    {plan['arena_bytes'] / plan['unshared_bytes']:9.3f}")
    # The executor's arena adds in-place reuse (fused groups writing over an
    # operand that dies there), which only its kernels can vouch for.
    program = janus.jit.compile_graph(graph, passes=[], threads=1).program
    print(
        f"  executor arena, in place: {program.arena_bytes * mib:6.2f} MiB "
        f"({program.in_place_count} results written over a dead operand; "
        f"{program.arena_bytes / plan['arena_bytes']:.3f} of the planned arena)"
    )
    print(f"  streams (Nimble): {streams['streams']}, cross-stream syncs: {len(streams['syncs'])}")


if __name__ == "__main__":
    main()
