"""A small ResNet: a stem and three basic blocks (the last two halve the
resolution through a strided convolution and a 1x1 projection shortcut),
batch norm in training mode, global average pooling."""

from __future__ import annotations

from . import classifier

SIZES = {
    "small": dict(batch=16, image=32, width=16, batches=8),
    "large": dict(batch=128, image=32, width=64, batches=8),
}
STEPS_PER_WINDOW = {"small": 3, "large": 10}


def model(F, size):
    nn, fn = F.nn, F.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            out = fn.relu(self.bn1(self.conv1(x)))
            return fn.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.conv = nn.Conv2d(3, w, 3, 1, 1, bias=False)
            self.bn = nn.BatchNorm2d(w)
            self.blocks = nn.Sequential(Block(w, w, 1), Block(w, 2 * w, 2), Block(2 * w, 4 * w, 2))
            self.fc = nn.Linear(4 * w, 10)

        def forward(self, x):
            x = self.blocks(fn.relu(self.bn(self.conv(x))))
            return self.fc(x.mean((2, 3)))

    return ResNet(size["width"])


def data(size, seed):
    shape = (size["batch"], 3, size["image"], size["image"])
    return classifier.random_batches(seed, size["batches"], shape, 10)


def build(F, size, device, compile, seed=0):
    return classifier.build(F, model(F, size), data(size, seed), device, compile, seed)


def build_jax(size, seed=0):
    import jax

    import janus

    from .jax_nn import batch_norm, conv2d, linear

    relu = jax.nn.relu

    def block(p, name, x, stride):
        out = relu(batch_norm(p, f"{name}.bn1", conv2d(p, f"{name}.conv1", x, stride, 1)))
        out = batch_norm(p, f"{name}.bn2", conv2d(p, f"{name}.conv2", out, 1, 1))
        if f"{name}.shortcut.0.weight" in p:
            x = batch_norm(p, f"{name}.shortcut.1", conv2d(p, f"{name}.shortcut.0", x, stride))
        return relu(out + x)

    def forward(p, x):
        x = relu(batch_norm(p, "bn", conv2d(p, "conv", x, 1, 1)))
        for k, stride in enumerate((1, 2, 2)):
            x = block(p, f"blocks.{k}", x, stride)
        return linear(p, "fc", x.mean((2, 3)))

    return classifier.build_jax(forward, model(janus, size), data(size, seed), seed)
