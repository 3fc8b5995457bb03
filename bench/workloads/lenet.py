"""LeNet-5-class CNN on 28x28 single-channel images."""

from __future__ import annotations

from . import classifier

SIZES = {
    "small": dict(batch=32, batches=8),
    "large": dict(batch=256, batches=8),
}
STEPS_PER_WINDOW = {"small": 8, "large": 10}


def model(F, size):
    nn = F.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def data(size, seed):
    return classifier.random_batches(seed, size["batches"], (size["batch"], 1, 28, 28), 10)


def build(F, size, device, compile, seed=0):
    return classifier.build(F, model(F, size), data(size, seed), device, compile, seed)


def build_jax(size, seed=0):
    import jax

    import janus

    from .jax_nn import conv2d, linear, max_pool2d

    def forward(p, x):
        h = max_pool2d(jax.nn.relu(conv2d(p, "0", x)), 2)
        h = max_pool2d(jax.nn.relu(conv2d(p, "3", h)), 2)
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(linear(p, "7", h))
        h = jax.nn.relu(linear(p, "9", h))
        return linear(p, "11", h)

    return classifier.build_jax(forward, model(janus, size), data(size, seed), seed)
