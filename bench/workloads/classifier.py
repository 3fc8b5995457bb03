"""The training step shared by the image and MLP classifiers: cross-entropy,
SGD with momentum, a few fixed batches cycled through."""

from __future__ import annotations

import numpy as np

from . import weights

LR, MOMENTUM = 0.01, 0.9


def random_batches(seed: int, count: int, shape: tuple, classes: int) -> list:
    """`count` (inputs, labels) pairs: standard normal inputs of `shape`
    (batch first), uniform labels."""
    out = []
    for k in range(count):
        rng = weights.rng(seed, k)
        x = rng.standard_normal(shape).astype(np.float32)
        out.append((x, rng.integers(0, classes, shape[0])))
    return out


def build(F, net, batches, device, compile, seed):
    """`net` (of framework F) with the initial weights of `seed`, trained on
    `batches` (numpy (inputs, labels) pairs); returns step(i) -> loss."""
    net = weights.load(F, net, seed, device)
    opt = F.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    batches = [(F.tensor(x, device=device), F.tensor(y, device=device)) for x, y in batches]

    def train_step(x, y):
        opt.zero_grad()
        loss = F.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.detach()  # the caller only reads it

    train_step = compile(train_step)
    return lambda i: train_step(*batches[i % len(batches)])


def build_jax(forward, janus_net, batches, seed):
    """The JAX version: `forward(params, x)` gives the logits; the initial
    parameters are those of `janus_net` (the same model in janus) for `seed`."""
    import jax
    import jax.numpy as jnp

    from . import jax_nn

    params = jax_nn.initial_params(janus_net, seed)
    init, update = jax_nn.sgd(LR, MOMENTUM)
    state = (params, init(params))
    batches = [(jnp.asarray(x), jnp.asarray(y)) for x, y in batches]

    def loss_fn(params, x, y):
        return jax_nn.cross_entropy(forward(params, x), y)

    @jax.jit
    def train_step(state, x, y):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return update(params, grads, opt_state), loss

    def step(i):
        nonlocal state
        state, loss = train_step(state, *batches[i % len(batches)])
        return loss

    return step
