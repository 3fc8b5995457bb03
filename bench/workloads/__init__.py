"""The workloads, one module each, written once against the PyTorch-style API.

Every module defines:
- `SIZES`: {"small": ..., "large": ...}, the model and batch sizes ("small"
  runs in seconds on a 2-core CPU, "large" is meant for a GPU);
- `build(F, size, device, compile, seed)`: the model, optimizer and data in
  framework `F` (the `janus` or the `torch` module), with the initial weights
  and data of `weights.py`; returns `step(i)`, which runs training iteration i
  and returns its loss as a scalar tensor. The code it runs per iteration goes
  through `compile(fn, trace_unsafe=None)` (identity for eager modes; see
  `bench/modes.py`), where `trace_unsafe` says why a record-once trace of
  `fn` would be wrong, if it would;
- `build_jax(size, seed)`: the idiomatic JAX version of the same training,
  from the same initial arrays; returns `step(i)` likewise.
"""

from __future__ import annotations

import importlib

NAMES = ("mlp", "lenet", "resnet", "inception", "lstm_lm", "treelstm", "actor_critic", "gan")


def get(name: str):
    """The workload module called `name`."""
    if name not in NAMES:
        raise ValueError(f"unknown workload {name!r} (choose from {', '.join(NAMES)})")
    return importlib.import_module(f"{__name__}.{name}")
