"""LSTM language model: embedding, an LSTMCell stepped by a Python loop over
time, a linear decoder, cross-entropy on the next token; gradient clipping and
SGD. The JAX version runs the time loop with lax.scan."""

from __future__ import annotations

from . import weights

SIZES = {
    "small": dict(batch=16, seq=20, vocab=256, embed=64, hidden=128, batches=4),
    "large": dict(batch=64, seq=35, vocab=10000, embed=256, hidden=512, batches=4),
}
STEPS_PER_WINDOW = {"small": 5, "large": 10}
LR, CLIP = 1.0, 0.25


def model(F, size):
    nn = F.nn

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(size["vocab"], size["embed"])
            self.cell = nn.LSTMCell(size["embed"], size["hidden"])
            self.decoder = nn.Linear(size["hidden"], size["vocab"])

        def forward(self, tokens):  # tokens: (seq, batch) -> logits (seq, batch, vocab)
            x = self.embed(tokens)
            h = x.new_zeros(tokens.shape[1], size["hidden"])
            c = h
            outputs = []
            for t in range(tokens.shape[0]):
                h, c = self.cell(x[t], (h, c))
                outputs.append(h)
            return self.decoder(F.stack(outputs))

    return LanguageModel()


def data(size, seed):
    """Token sequences of length seq + 1 (inputs and shifted targets)."""
    shape = (size["seq"] + 1, size["batch"])
    return [weights.rng(seed, k).integers(0, size["vocab"], shape) for k in range(size["batches"])]


def build(F, size, device, compile, seed=0):
    net = weights.load(F, model(F, size), seed, device)
    opt = F.optim.SGD(net.parameters(), lr=LR)
    batches = [F.tensor(tokens, device=device) for tokens in data(size, seed)]

    def train_step(tokens):
        opt.zero_grad()
        logits = net(tokens[:-1])
        loss = F.nn.functional.cross_entropy(
            logits.reshape(-1, size["vocab"]), tokens[1:].reshape(-1)
        )
        loss.backward()
        F.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        return loss.detach()  # the caller only reads it

    train_step = compile(train_step)
    return lambda i: train_step(batches[i % len(batches)])


def build_jax(size, seed=0):
    import jax
    import jax.numpy as jnp

    import janus

    from . import jax_nn

    params = jax_nn.initial_params(model(janus, size), seed)
    init, update = jax_nn.sgd(LR)
    state = (params, init(params))
    batches = [jnp.asarray(tokens) for tokens in data(size, seed)]

    def loss_fn(p, tokens):
        x = p["embed.weight"][tokens[:-1]]
        h = jnp.zeros((tokens.shape[1], size["hidden"]), x.dtype)

        def cell(carry, x_t):
            h, c = jax_nn.lstm_cell(p, "cell", x_t, *carry)
            return (h, c), h

        _, hs = jax.lax.scan(cell, (h, h), x)
        return jax_nn.cross_entropy(jax_nn.linear(p, "decoder", hs), tokens[1:])

    @jax.jit
    def train_step(state, tokens):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens)
        grads = jax_nn.clip_by_global_norm(grads, CLIP)
        return update(params, grads, opt_state), loss

    def step(i):
        nonlocal state
        state, loss = train_step(state, batches[i % len(batches)])
        return loss

    return step
