"""A small GAN on a 2-D mixture of Gaussians: generator and discriminator
MLPs, two Adam optimizers, one discriminator step then one generator step per
iteration (the non-saturating loss)."""

from __future__ import annotations

import math

import numpy as np

from . import weights

SIZES = {
    "small": dict(batch=64, noise=16, hidden=128, pool=4),
    "large": dict(batch=1024, noise=64, hidden=1024, pool=4),
}
STEPS_PER_WINDOW = {"small": 20, "large": 10}
LR, BETAS = 2e-4, (0.5, 0.999)


def model(F, size):
    nn, h = F.nn, size["hidden"]
    generator = nn.Sequential(
        nn.Linear(size["noise"], h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2)
    )
    discriminator = nn.Sequential(
        nn.Linear(2, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1)
    )
    return nn.ModuleDict({"G": generator, "D": discriminator})


def data(size, seed):
    """`pool` pairs (real samples from 8 Gaussians on a ring, noise)."""
    out = []
    for k in range(size["pool"]):
        rng = weights.rng(seed, k)
        angle = rng.integers(0, 8, size["batch"]) * (2 * math.pi / 8)
        ring = np.stack([np.cos(angle), np.sin(angle)], 1) * 2
        real = (ring + 0.05 * rng.standard_normal(ring.shape)).astype(np.float32)
        noise = rng.standard_normal((size["batch"], size["noise"])).astype(np.float32)
        out.append((real, noise))
    return out


def build(F, size, device, compile, seed=0):
    nets = weights.load(F, model(F, size), seed, device)
    G, D = nets["G"], nets["D"]
    opt_g = F.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = F.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    bce = F.nn.functional.binary_cross_entropy_with_logits
    batches = [
        (F.tensor(x, device=device), F.tensor(z, device=device)) for x, z in data(size, seed)
    ]
    ones = F.ones(size["batch"], 1, device=device)
    zeros = F.zeros(size["batch"], 1, device=device)

    def discriminator_step(real, noise):
        opt_d.zero_grad()
        loss = bce(D(real), ones) + bce(D(G(noise).detach()), zeros)
        loss.backward()
        opt_d.step()
        return loss.detach()  # the caller only reads it

    def generator_step(noise):
        opt_g.zero_grad()
        loss = bce(D(G(noise)), ones)
        loss.backward()
        opt_g.step()
        return loss.detach()  # the caller only reads it

    unsafe = "Adam reads its step count with .item(): a trace would freeze the bias correction"
    discriminator_step = compile(discriminator_step, trace_unsafe=unsafe)
    generator_step = compile(generator_step, trace_unsafe=unsafe)

    def step(i):
        real, noise = batches[i % len(batches)]
        return discriminator_step(real, noise) + generator_step(noise)

    return step


def build_jax(size, seed=0):
    import jax

    import janus

    from . import jax_nn

    params = jax_nn.initial_params(model(janus, size), seed)
    g_params = {k[2:]: v for k, v in params.items() if k.startswith("G.")}
    d_params = {k[2:]: v for k, v in params.items() if k.startswith("D.")}
    init, update = jax_nn.adam(LR, BETAS)
    g_state, d_state = (g_params, init(g_params)), (d_params, init(d_params))
    batches = [tuple(jax.numpy.asarray(a) for a in pair) for pair in data(size, seed)]

    def generate(g, z):
        h = jax.nn.relu(jax_nn.linear(g, "0", z))
        return jax_nn.linear(g, "4", jax.nn.relu(jax_nn.linear(g, "2", h)))

    def discriminate(d, x):
        h = jax.nn.leaky_relu(jax_nn.linear(d, "0", x), 0.2)
        return jax_nn.linear(d, "4", jax.nn.leaky_relu(jax_nn.linear(d, "2", h), 0.2))

    def d_loss(d, g, real, noise):
        fake = jax.lax.stop_gradient(generate(g, noise))
        return jax_nn.bce_with_logits(discriminate(d, real), 1.0) + jax_nn.bce_with_logits(
            discriminate(d, fake), 0.0
        )

    def g_loss(g, d, noise):
        return jax_nn.bce_with_logits(discriminate(d, generate(g, noise)), 1.0)

    @jax.jit
    def discriminator_step(d_state, g, real, noise):
        d, opt_state = d_state
        loss, grads = jax.value_and_grad(d_loss)(d, g, real, noise)
        return update(d, grads, opt_state), loss

    @jax.jit
    def generator_step(g_state, d, noise):
        g, opt_state = g_state
        loss, grads = jax.value_and_grad(g_loss)(g, d, noise)
        return update(g, grads, opt_state), loss

    def step(i):
        nonlocal g_state, d_state
        real, noise = batches[i % len(batches)]
        d_state, loss_d = discriminator_step(d_state, g_state[0], real, noise)
        g_state, loss_g = generator_step(g_state, d_state[0], noise)
        return loss_d + loss_g

    return step
