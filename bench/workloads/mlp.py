"""MLP classifier: two hidden ReLU layers over 784-wide inputs."""

from __future__ import annotations

from . import classifier

SIZES = {
    "small": dict(batch=64, features=784, hidden=256, classes=10, batches=8),
    "large": dict(batch=512, features=784, hidden=2048, classes=10, batches=8),
}
STEPS_PER_WINDOW = {"small": 20, "large": 10}


def model(F, size):
    nn = F.nn
    return nn.Sequential(
        nn.Linear(size["features"], size["hidden"]),
        nn.ReLU(),
        nn.Linear(size["hidden"], size["hidden"]),
        nn.ReLU(),
        nn.Linear(size["hidden"], size["classes"]),
    )


def data(size, seed):
    return classifier.random_batches(
        seed, size["batches"], (size["batch"], size["features"]), size["classes"]
    )


def build(F, size, device, compile, seed=0):
    return classifier.build(F, model(F, size), data(size, seed), device, compile, seed)


def build_jax(size, seed=0):
    import jax

    import janus

    from .jax_nn import linear

    def forward(p, x):
        h = jax.nn.relu(linear(p, "0", x))
        h = jax.nn.relu(linear(p, "2", h))
        return linear(p, "4", h)

    return classifier.build_jax(forward, model(janus, size), data(size, seed), seed)
