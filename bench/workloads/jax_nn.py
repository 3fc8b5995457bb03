"""The layers, losses and optimizers the JAX versions of the workloads share,
written the way a JAX user writes them: pure functions over a dict of arrays
named as in the PyTorch-style state dict, so the same initial arrays load into
both. Imported only when JAX is installed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from . import weights


def initial_params(module, seed: int) -> dict:
    """The trainable arrays of `weights.initial_arrays` as JAX arrays, by state-dict name."""
    arrays = weights.initial_arrays(module, seed)
    return {name: jnp.asarray(arrays[name]) for name in weights.parameter_names(module)}


def linear(p: dict, name: str, x):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def conv2d(p: dict, name: str, x, stride: int = 1, padding: int = 0):
    y = lax.conv_general_dilated(
        x,
        p[f"{name}.weight"],
        (stride, stride),
        [(padding, padding)] * 2,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )
    bias = p.get(f"{name}.bias")
    return y if bias is None else y + bias[None, :, None, None]


def batch_norm(p: dict, name: str, x, eps: float = 1e-5):
    """Training-mode batch norm over (N, H, W) (running statistics are not
    part of the training loss, so they are not tracked here)."""
    mean = x.mean((0, 2, 3), keepdims=True)
    var = x.var((0, 2, 3), keepdims=True)
    scale = p[f"{name}.weight"][None, :, None, None]
    shift = p[f"{name}.bias"][None, :, None, None]
    return (x - mean) * lax.rsqrt(var + eps) * scale + shift


def max_pool2d(x, kernel: int, stride: int | None = None, padding: int = 0):
    stride = stride or kernel
    pad = [(0, 0), (0, 0), (padding, padding), (padding, padding)]
    return lax.reduce_window(
        x, -jnp.inf, lax.max, (1, 1, kernel, kernel), (1, 1, stride, stride), pad
    )


def lstm_cell(p: dict, name: str, x, h, c):
    """PyTorch's LSTMCell: gates in the order input, forget, cell, output."""
    gates = (
        x @ p[f"{name}.weight_ih"].T
        + p[f"{name}.bias_ih"]
        + h @ p[f"{name}.weight_hh"].T
        + p[f"{name}.bias_hh"]
    )
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def cross_entropy(logits, labels):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, labels[..., None], axis=-1).mean()


def bce_with_logits(logits, target):
    return (jnp.maximum(logits, 0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits)))).mean()


def clip_by_global_norm(grads: dict, max_norm: float) -> dict:
    """As torch.nn.utils.clip_grad_norm_: scale by min(max_norm / (norm + 1e-6), 1)."""
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
    scale = jnp.minimum(max_norm / (norm + 1e-6), 1.0)
    return jax.tree_util.tree_map(lambda g: g * scale, grads)


# Optimizers: init(params) -> state, update(params, grads, state) -> (params,
# state), with PyTorch's update rules so the losses match step for step.


def sgd(lr: float, momentum: float = 0.0):
    def init(params):
        return jax.tree_util.tree_map(jnp.zeros_like, params)

    def update(params, grads, state):
        state = jax.tree_util.tree_map(lambda b, g: momentum * b + g, state, grads)
        params = jax.tree_util.tree_map(lambda p, b: p - lr * b, params, state)
        return params, state

    return init, update


def rmsprop(lr: float, alpha: float = 0.99, eps: float = 1e-8):
    def init(params):
        return jax.tree_util.tree_map(jnp.zeros_like, params)

    def update(params, grads, state):
        state = jax.tree_util.tree_map(lambda s, g: alpha * s + (1 - alpha) * g * g, state, grads)
        params = jax.tree_util.tree_map(
            lambda p, g, s: p - lr * g / (jnp.sqrt(s) + eps), params, grads, state
        )
        return params, state

    return init, update


def adam(lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
    b1, b2 = betas

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return jnp.zeros((), jnp.float32), zeros, zeros

    def update(params, grads, state):
        step, m, v = state
        step = step + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        bias1, bias2_sqrt = 1 - b1**step, jnp.sqrt(1 - b2**step)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr / bias1 * m / (jnp.sqrt(v) / bias2_sqrt + eps), params, m, v
        )
        return params, (step, m, v)

    return init, update
