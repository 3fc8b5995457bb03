"""Identical starting points for every framework: initial weights and data
come from numpy, keyed by a seed and the state-dict name, never from a
framework's own random stream (janus's and PyTorch's differ by design).

The JAX versions take the same arrays, so all modes train the same model.
"""

from __future__ import annotations

import math
import zlib

import numpy as np


def _fan_in(shape: tuple) -> int:
    return max(1, math.prod(shape[1:]))


def initial_arrays(module, seed: int = 0) -> dict:
    """A numpy array for every entry of `module.state_dict()`, a function of
    (seed, name, shape) only: weights uniform in +-1/sqrt(fan_in) (PyTorch's
    default bound for Linear and Conv), biases with their weight's bound,
    norm scales 1, norm shifts and running means 0, running variances 1."""
    state = module.state_dict()
    shapes = {name: tuple(value.shape) for name, value in state.items()}
    arrays = {}
    for name, shape in shapes.items():
        prefix, _, leaf = name.rpartition(".")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        if leaf == "num_batches_tracked":
            arrays[name] = np.zeros(shape, np.int64)
        elif leaf == "running_var" or (leaf == "weight" and len(shape) == 1):
            arrays[name] = np.ones(shape, np.float32)
        elif leaf == "running_mean" or (
            leaf == "bias" and f"{prefix}.weight" in shapes and len(shapes[f"{prefix}.weight"]) == 1
        ):
            arrays[name] = np.zeros(shape, np.float32)
        else:
            weight = name.replace("bias", "weight")
            fan_in = _fan_in(shapes.get(weight, shape)) if len(shape) == 1 else _fan_in(shape)
            bound = 1.0 / math.sqrt(fan_in)
            arrays[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return arrays


def parameter_names(module) -> list:
    """The trainable entries of the state dict (the ones an optimizer updates)."""
    return [name for name, _ in module.named_parameters()]


def load(F, module, seed: int, device: str):
    """Loads `initial_arrays(module, seed)` into `module` (of framework F) and
    moves it to `device`; returns the module."""
    arrays = initial_arrays(module, seed)
    module.load_state_dict({name: F.tensor(value) for name, value in arrays.items()})
    return module.to(device)


def rng(seed: int, *key: int) -> np.random.Generator:
    """The numpy generator for data item `key` of a workload seeded `seed`."""
    return np.random.default_rng([seed, *key])
