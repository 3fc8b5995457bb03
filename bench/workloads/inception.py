"""An Inception-style CNN: two multi-branch blocks (1x1, 1x1-3x3, 1x1-5x5 and
pool-1x1 branches, concatenated on channels) between a stem and a global
average pool."""

from __future__ import annotations

from . import classifier

SIZES = {
    "small": dict(batch=16, image=32, width=8, batches=8),
    "large": dict(batch=128, image=32, width=32, batches=8),
}
STEPS_PER_WINDOW = {"small": 3, "large": 10}


def _channels(w):
    """(in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) of both blocks."""
    first = (4 * w, 2 * w, 2 * w, 3 * w, w // 2, w, w)
    second = (7 * w, 3 * w, 3 * w, 4 * w, w, 2 * w, 2 * w)
    return first, second


def model(F, size):
    nn, fn = F.nn, F.nn.functional

    class Inception(nn.Module):
        def __init__(self, cin, c1, c3r, c3, c5r, c5, cp):
            super().__init__()
            self.b1 = nn.Conv2d(cin, c1, 1)
            self.b3 = nn.Sequential(nn.Conv2d(cin, c3r, 1), nn.ReLU(), nn.Conv2d(c3r, c3, 3, 1, 1))
            self.b5 = nn.Sequential(nn.Conv2d(cin, c5r, 1), nn.ReLU(), nn.Conv2d(c5r, c5, 5, 1, 2))
            self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, cp, 1))

        def forward(self, x):
            return fn.relu(F.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1))

    class Net(nn.Module):
        def __init__(self, w):
            super().__init__()
            first, second = _channels(w)
            self.stem = nn.Conv2d(3, first[0], 3, 1, 1)
            self.inc1 = Inception(*first)
            self.inc2 = Inception(*second)
            self.fc = nn.Linear(second[1] + second[3] + second[5] + second[6], 10)

        def forward(self, x):
            x = fn.max_pool2d(fn.relu(self.stem(x)), 2)
            x = fn.max_pool2d(self.inc2(self.inc1(x)), 2)
            return self.fc(x.mean((2, 3)))

    return Net(size["width"])


def data(size, seed):
    shape = (size["batch"], 3, size["image"], size["image"])
    return classifier.random_batches(seed, size["batches"], shape, 10)


def build(F, size, device, compile, seed=0):
    return classifier.build(F, model(F, size), data(size, seed), device, compile, seed)


def build_jax(size, seed=0):
    import jax
    import jax.numpy as jnp

    import janus

    from .jax_nn import conv2d, linear, max_pool2d

    relu = jax.nn.relu

    def inception(p, name, x):
        b1 = conv2d(p, f"{name}.b1", x)
        b3 = conv2d(p, f"{name}.b3.2", relu(conv2d(p, f"{name}.b3.0", x)), 1, 1)
        b5 = conv2d(p, f"{name}.b5.2", relu(conv2d(p, f"{name}.b5.0", x)), 1, 2)
        bp = conv2d(p, f"{name}.bp.1", max_pool2d(x, 3, 1, 1))
        return relu(jnp.concatenate([b1, b3, b5, bp], 1))

    def forward(p, x):
        x = max_pool2d(relu(conv2d(p, "stem", x, 1, 1)), 2)
        x = max_pool2d(inception(p, "inc2", inception(p, "inc1", x)), 2)
        return linear(p, "fc", x.mean((2, 3)))

    return classifier.build_jax(forward, model(janus, size), data(size, seed), seed)
