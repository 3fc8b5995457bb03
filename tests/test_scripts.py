"""Training scripts of the model families JANUS targets, written the ordinary
PyTorch way. Each runs with PyTorch and with `import janus as torch` from the
same initial weights and data, and must give the same losses.

Randomness inside a step (noise, sampled actions) comes in as numpy data, since
the two libraries' random streams differ by design.
"""

import numpy as np
import pytest

import janus

rng = np.random.default_rng(99)


def run_both(script, steps=3, **data):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    janus.manual_seed(0)
    j_losses, state = script(janus, None, steps, **data)
    t_losses, _ = script(torch, state, steps, **data)
    np.testing.assert_allclose(j_losses, t_losses, rtol=2e-4, atol=1e-5)


def sync(torch, modules, state):
    """Saves the janus modules' weights (state is None) or loads them (torch run)."""
    if state is None:
        return [{k: v.numpy().copy() for k, v in m.state_dict().items()} for m in modules]
    for m, s in zip(modules, state):
        m.load_state_dict({k: torch.tensor(v) for k, v in s.items()})
    return state


# ----- GAN: two models, two optimizers, alternating steps -----


def gan(torch, state, steps, real, noise):
    nn = torch.nn
    G = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    state = sync(torch, [G, D], state)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    losses = []
    for step in range(steps):
        x = torch.tensor(real[step])
        z = torch.tensor(noise[step])
        ones, zeros = torch.ones(len(x), 1), torch.zeros(len(x), 1)
        opt_d.zero_grad()
        fake = G(z)
        loss_d = bce(D(x), ones) + bce(D(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(D(fake), ones)
        loss_g.backward()
        opt_g.step()
        losses += [loss_d.item(), loss_g.item()]
    return losses, state


def test_gan():
    run_both(
        gan,
        real=rng.standard_normal((3, 8, 2)).astype(np.float32) + 2,
        noise=rng.standard_normal((3, 8, 4)).astype(np.float32),
    )


# ----- VAE: reparameterization, KL term -----


def vae(torch, state, steps, images, eps):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(16, 12)
            self.mu = nn.Linear(12, 3)
            self.logvar = nn.Linear(12, 3)
            self.dec = nn.Sequential(nn.Linear(3, 12), nn.ReLU(), nn.Linear(12, 16))

        def forward(self, x, noise):
            h = F.relu(self.enc(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + noise * torch.exp(0.5 * logvar)
            return self.dec(z), mu, logvar

    model = VAE()
    state = sync(torch, [model], state)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(steps):
        x = torch.tensor(images[step])
        recon, mu, logvar = model(x, torch.tensor(eps[step]))
        bce = F.binary_cross_entropy(torch.sigmoid(recon), x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (bce + kld) / len(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, state


def test_vae():
    run_both(
        vae,
        images=(rng.random((3, 8, 16)) > 0.5).astype(np.float32),
        eps=rng.standard_normal((3, 8, 3)).astype(np.float32),
    )


# ----- actor-critic on a small Python environment (CartPole dynamics) -----


class CartPole:
    """CartPole's equations of motion, in plain Python."""

    def __init__(self, start):
        self.state = list(start)

    def step(self, action):
        x, dx, theta, dtheta = self.state
        force = 10.0 if action == 1 else -10.0
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + 0.05 * dtheta**2 * sin) / 1.1
        ddtheta = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos**2 / 1.1))
        ddx = temp - 0.05 * ddtheta * cos / 1.1
        self.state = [
            x + 0.02 * dx,
            dx + 0.02 * ddx,
            theta + 0.02 * dtheta,
            dtheta + 0.02 * ddtheta,
        ]
        done = abs(self.state[0]) > 2.4 or abs(self.state[2]) > 0.21
        return np.array(self.state, dtype=np.float32), 1.0, done


def actor_critic(torch, state, steps, starts, uniforms):
    nn, F = torch.nn, torch.nn.functional

    class Policy(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 32)
            self.actor = nn.Linear(32, 2)
            self.critic = nn.Linear(32, 1)

        def forward(self, obs):
            h = torch.tanh(self.body(obs))
            return self.actor(h), self.critic(h)

    policy = Policy()
    state = sync(torch, [policy], state)
    opt = torch.optim.RMSprop(policy.parameters(), lr=7e-3)
    losses = []
    for episode in range(steps):
        env = CartPole(starts[episode])
        obs = np.array(env.state, dtype=np.float32)
        log_probs, values, rewards, entropies = [], [], [], []
        for t in range(12):
            logits, value = policy(torch.tensor(obs))
            dist = torch.distributions.Categorical(logits=logits)
            # Sample with a given uniform draw (inverse CDF) so both libraries agree.
            action = int(
                (dist.probs.detach().cumsum(0) > float(uniforms[episode, t])).int().argmax()
            )
            log_probs.append(dist.log_prob(torch.tensor(action)))
            entropies.append(dist.entropy())
            values.append(value.squeeze(0))
            obs, reward, done = env.step(action)
            rewards.append(reward)
            if done:
                break
        returns, running = [], 0.0
        for r in reversed(rewards):
            running = r + 0.99 * running
            returns.insert(0, running)
        returns = torch.tensor(returns)
        values = torch.stack(values)
        advantage = returns - values.detach()
        actor_loss = -(torch.stack(log_probs) * advantage).mean()
        critic_loss = F.smooth_l1_loss(values, returns)
        loss = actor_loss + 0.5 * critic_loss - 0.01 * torch.stack(entropies).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
        opt.step()
        losses.append(loss.item())
    return losses, state


def test_actor_critic():
    run_both(actor_critic, starts=rng.uniform(-0.05, 0.05, (3, 4)), uniforms=rng.random((3, 12)))


# ----- seq2seq with attention -----


def seq2seq(torch, state, steps, src, tgt):
    nn, F = torch.nn, torch.nn.functional

    class Seq2Seq(nn.Module):
        def __init__(self, vocab=12, hidden=16):
            super().__init__()
            self.embed = nn.Embedding(vocab, hidden, padding_idx=0)
            self.encoder = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * hidden, hidden)
            self.decoder = nn.GRUCell(3 * hidden, hidden)
            self.attn = nn.Linear(hidden, 2 * hidden, bias=False)
            self.out = nn.Linear(3 * hidden, vocab)

        def forward(self, source, target):
            memory, h = self.encoder(self.embed(source))  # (B, S, 2H)
            h = torch.tanh(self.bridge(torch.cat([h[0], h[1]], dim=-1)))
            context = memory.mean(1)
            logits = []
            for t in range(target.size(1) - 1):
                h = self.decoder(torch.cat([self.embed(target[:, t]), context], -1), h)
                scores = torch.bmm(memory, self.attn(h).unsqueeze(2)).squeeze(2)
                weights = F.softmax(scores.masked_fill(source == 0, -1e9), dim=1)
                context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
                logits.append(self.out(torch.cat([h, context], -1)))
            return torch.stack(logits, 1)

    model = Seq2Seq()
    state = sync(torch, [model], state)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(steps):
        source, target = torch.tensor(src), torch.tensor(tgt)
        logits = model(source, target)
        loss = F.cross_entropy(logits.reshape(-1, 12), target[:, 1:].reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, state


def test_seq2seq_with_attention():
    src = rng.integers(1, 12, (4, 6))
    src[0, 4:] = 0  # padding
    tgt = rng.integers(1, 12, (4, 5))
    tgt[1, 3:] = 0
    run_both(seq2seq, src=src, tgt=tgt)


# ----- TreeLSTM: recursion over a different tree structure per example -----


def random_tree(depth, rng_):
    if depth == 0 or rng_.random() < 0.3:
        return int(rng_.integers(0, 10))
    return (random_tree(depth - 1, rng_), random_tree(depth - 1, rng_))


def tree_lstm(torch, state, steps, trees, labels):
    nn, F = torch.nn, torch.nn.functional

    class TreeLSTM(nn.Module):
        def __init__(self, hidden=8):
            super().__init__()
            self.hidden = hidden
            self.leaf = nn.Embedding(10, hidden)
            self.gates = nn.Linear(2 * hidden, 5 * hidden)
            self.head = nn.Linear(hidden, 3)

        def node(self, tree):
            if isinstance(tree, int):
                h = self.leaf(torch.tensor([tree]))
                return h, torch.zeros(1, self.hidden)
            (hl, cl), (hr, cr) = self.node(tree[0]), self.node(tree[1])
            i, fl, fr, o, u = self.gates(torch.cat([hl, hr], 1)).chunk(5, 1)
            c = torch.sigmoid(i) * torch.tanh(u) + torch.sigmoid(fl) * cl + torch.sigmoid(fr) * cr
            return torch.sigmoid(o) * torch.tanh(c), c

        def forward(self, tree):
            return self.head(self.node(tree)[0])

    model = TreeLSTM()
    state = sync(torch, [model], state)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for step in range(steps):
        tree, label = trees[step], labels[step]
        loss = F.cross_entropy(model(tree), torch.tensor([label]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, state


def test_tree_lstm():
    tree_rng = np.random.default_rng(3)
    trees = [random_tree(4, tree_rng) for _ in range(4)]
    run_both(tree_lstm, steps=4, trees=trees, labels=[0, 2, 1, 2])
