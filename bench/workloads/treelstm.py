"""Binary TreeLSTM (Tai et al. 2015, constituency form) classifying random
parse trees: the PyTorch-style version recurses over each tree in Python; the
JAX version flattens each tree into post-order index arrays and runs the
nodes with lax.scan (vmapped over the trees of a step), as JAX users batch
trees."""

from __future__ import annotations

import numpy as np

from . import weights

SIZES = {
    "small": dict(leaves=12, trees=4, vocab=1000, embed=64, hidden=64, classes=5, pool=64),
    "large": dict(leaves=24, trees=32, vocab=10000, embed=300, hidden=256, classes=5, pool=64),
}
# The pool holds more steps than a run takes (bench/run_one.py): every step
# sees trees it has not seen before, as with a real corpus, so a compiler that
# specializes on the tree must cope with new structure on every call.
STEPS_PER_WINDOW = {"small": 8, "large": 10}
LR, MOMENTUM = 0.1, 0.9


def model(F, size):
    nn, hidden = F.nn, size["hidden"]

    class TreeLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(size["vocab"], size["embed"])
            self.leaf = nn.Linear(size["embed"], 3 * hidden)  # input, output, update
            self.node = nn.Linear(2 * hidden, 5 * hidden)  # input, 2 forgets, output, update
            self.out = nn.Linear(hidden, size["classes"])

        def encode(self, tree, x):
            """(h, c) of `tree`: a leaf's position in the sentence, or (left, right)."""
            if isinstance(tree, int):
                i, o, u = self.leaf(x[tree : tree + 1]).chunk(3, -1)
                c = i.sigmoid() * u.tanh()
                return o.sigmoid() * c.tanh(), c
            (hl, cl), (hr, cr) = self.encode(tree[0], x), self.encode(tree[1], x)
            i, fl, fr, o, u = self.node(F.cat([hl, hr], -1)).chunk(5, -1)
            c = i.sigmoid() * u.tanh() + fl.sigmoid() * cl + fr.sigmoid() * cr
            return o.sigmoid() * c.tanh(), c

        def forward(self, tree, words):
            h, _ = self.encode(tree, self.embed(words))
            return self.out(h)

    return TreeLSTM()


def random_tree(rng, lo: int, hi: int):
    """A random binary bracketing of the leaves lo..hi-1."""
    if hi - lo == 1:
        return lo
    split = int(rng.integers(lo + 1, hi))
    return (random_tree(rng, lo, split), random_tree(rng, split, hi))


def data(size, seed):
    """`pool` steps, each a list of (tree, word ids, label)."""
    steps = []
    for k in range(size["pool"]):
        rng = weights.rng(seed, k)
        steps.append(
            [
                (
                    random_tree(rng, 0, size["leaves"]),
                    rng.integers(0, size["vocab"], size["leaves"]),
                    rng.integers(0, size["classes"], 1),
                )
                for _ in range(size["trees"])
            ]
        )
    return steps


def build(F, size, device, compile, seed=0):
    net = weights.load(F, model(F, size), seed, device)
    opt = F.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    steps = [
        [(tree, F.tensor(w, device=device), F.tensor(y, device=device)) for tree, w, y in trees]
        for trees in data(size, seed)
    ]
    cross_entropy = F.nn.functional.cross_entropy

    def train_step(trees):
        opt.zero_grad()
        loss = sum(cross_entropy(net(tree, words), label) for tree, words, label in trees)
        loss = loss / len(trees)
        loss.backward()
        opt.step()
        return loss.detach()  # the caller only reads it

    train_step = compile(
        train_step, trace_unsafe="each call recurses over a different tree (Python control flow)"
    )
    return lambda i: train_step(steps[i % len(steps)])


def post_order(tree, leaves: int):
    """Arrays (is_leaf, leaf position, left, right) over the 2 * leaves - 1
    nodes of `tree` in post-order (children before parents, root last)."""
    rows = []  # (is_leaf, leaf position, left, right)

    def visit(node):
        if isinstance(node, int):
            rows.append((True, node, 0, 0))
        else:
            rows.append((False, 0, visit(node[0]), visit(node[1])))
        return len(rows) - 1

    visit(tree)
    assert len(rows) == 2 * leaves - 1
    return tuple(np.array(column) for column in zip(*rows))


def build_jax(size, seed=0):
    import jax
    import jax.numpy as jnp

    import janus

    from . import jax_nn

    params = jax_nn.initial_params(model(janus, size), seed)
    init, update = jax_nn.sgd(LR, MOMENTUM)
    state = (params, init(params))
    steps = []
    for trees in data(size, seed):
        arrays = [post_order(t, size["leaves"]) + (w, y[0]) for t, w, y in trees]
        steps.append(tuple(jnp.asarray(np.stack(column)) for column in zip(*arrays)))
    nodes, hidden = 2 * size["leaves"] - 1, size["hidden"]
    sigmoid, tanh = jax.nn.sigmoid, jnp.tanh

    def tree_loss(p, is_leaf, position, left, right, words, label):
        x = p["embed.weight"][words]

        def visit(carry, k):
            H, C = carry
            i, o, u = jnp.split(jax_nn.linear(p, "leaf", x[position[k]]), 3)
            c_leaf = sigmoid(i) * tanh(u)
            h_leaf = sigmoid(o) * tanh(c_leaf)
            children = jnp.concatenate([H[left[k]], H[right[k]]])
            i, fl, fr, o, u = jnp.split(jax_nn.linear(p, "node", children), 5)
            c_node = sigmoid(i) * tanh(u) + sigmoid(fl) * C[left[k]] + sigmoid(fr) * C[right[k]]
            h_node = sigmoid(o) * tanh(c_node)
            h = jnp.where(is_leaf[k], h_leaf, h_node)
            c = jnp.where(is_leaf[k], c_leaf, c_node)
            return (H.at[k].set(h), C.at[k].set(c)), None

        zeros = jnp.zeros((nodes, hidden), x.dtype)
        (H, _), _ = jax.lax.scan(visit, (zeros, zeros), jnp.arange(nodes))
        return jax_nn.cross_entropy(jax_nn.linear(p, "out", H[-1]), label)

    def loss_fn(p, trees):
        return jax.vmap(tree_loss, in_axes=(None, 0, 0, 0, 0, 0, 0))(p, *trees).mean()

    @jax.jit
    def train_step(state, trees):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, trees)
        return update(params, grads, opt_state), loss

    def step(i):
        nonlocal state
        state, loss = train_step(state, steps[i % len(steps)])
        return loss

    return step
