"""Advantage actor-critic (A2C) on CartPole: each iteration steps the Python
environment for a rollout, choosing every action with the policy network
(one small forward per environment step), then updates policy and value on
the rollout with RMSprop. Actions are drawn with shared numpy uniforms, so
every framework follows the same trajectory."""

from __future__ import annotations

import numpy as np

from . import weights
from .cartpole import CartPole

SIZES = {
    "small": dict(hidden=64, rollout=16),
    "large": dict(hidden=256, rollout=64),
}
STEPS_PER_WINDOW = {"small": 20, "large": 10}
LR, GAMMA, VALUE_COEF, ENTROPY_COEF = 7e-3, 0.99, 0.5, 0.01


def model(F, size):
    nn = F.nn

    class ActorCritic(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, size["hidden"])
            self.policy = nn.Linear(size["hidden"], 2)
            self.value = nn.Linear(size["hidden"], 1)

        def forward(self, obs):
            h = self.body(obs).tanh()
            return self.policy(h), self.value(h).squeeze(-1)

    return ActorCritic()


class Rollouts:
    """The environment and the action uniforms: both framework-independent."""

    def __init__(self, seed: int):
        self.env = CartPole(weights.rng(seed, 1))
        self.obs = self.env.reset()
        self.uniforms = weights.rng(seed, 2)

    def collect(self, act, steps: int) -> tuple:
        """Runs `steps` environment steps with `act(obs) -> (P(left), value)`;
        returns (observations, actions, discounted returns) as numpy arrays."""
        observations, actions, rewards, dones = [], [], [], []
        for _ in range(steps):
            p_left, _ = act(self.obs)
            action = 0 if self.uniforms.random() < p_left else 1
            observations.append(self.obs)
            actions.append(action)
            self.obs, reward, done = self.env.step(action)
            rewards.append(reward)
            dones.append(done)
            if done:
                self.obs = self.env.reset()
        _, ret = act(self.obs)  # bootstrap from the value of the last state
        returns = np.empty(steps, np.float32)
        for t in reversed(range(steps)):
            ret = rewards[t] + GAMMA * ret * (not dones[t])
            returns[t] = ret
        return np.stack(observations), np.array(actions), returns


def build(F, size, device, compile, seed=0):
    net = weights.load(F, model(F, size), seed, device)
    opt = F.optim.RMSprop(net.parameters(), lr=LR)
    log_softmax = F.nn.functional.log_softmax
    rollouts = Rollouts(seed)

    def policy(obs):
        with F.no_grad():
            logits, value = net(obs)
            return logits.softmax(-1), value

    def update(obs, actions, returns):
        opt.zero_grad()
        logits, values = net(obs)
        logp = log_softmax(logits, -1)
        logp_action = logp.gather(1, actions[:, None]).squeeze(1)
        advantage = returns - values.detach()
        entropy = -(logp.exp() * logp).sum(-1).mean()
        value_loss = ((returns - values) ** 2).mean()
        loss = -(logp_action * advantage).mean() + VALUE_COEF * value_loss - ENTROPY_COEF * entropy
        loss.backward()
        opt.step()
        return loss.detach()  # the caller only reads it

    policy, update = compile(policy), compile(update)

    def act(obs):
        probs, value = policy(F.tensor(obs[None], device=device))
        return float(probs[0, 0]), float(value[0])

    def step(i):
        obs, actions, returns = rollouts.collect(act, size["rollout"])
        return update(*(F.tensor(a, device=device) for a in (obs, actions, returns)))

    return step


def build_jax(size, seed=0):
    import jax
    import jax.numpy as jnp

    import janus

    from . import jax_nn

    params = jax_nn.initial_params(model(janus, size), seed)
    init, update = jax_nn.rmsprop(LR)
    state = (params, init(params))
    rollouts = Rollouts(seed)

    def forward(p, obs):
        h = jnp.tanh(jax_nn.linear(p, "body", obs))
        return jax_nn.linear(p, "policy", h), jax_nn.linear(p, "value", h)[..., 0]

    @jax.jit
    def policy(p, obs):
        logits, value = forward(p, obs)
        return jax.nn.softmax(logits, -1)[0, 0], value[0]

    def loss_fn(p, obs, actions, returns):
        logits, values = forward(p, obs)
        logp = jax.nn.log_softmax(logits, -1)
        logp_action = jnp.take_along_axis(logp, actions[:, None], 1)[:, 0]
        advantage = returns - jax.lax.stop_gradient(values)
        entropy = -(jnp.exp(logp) * logp).sum(-1).mean()
        value_loss = ((returns - values) ** 2).mean()
        return -(logp_action * advantage).mean() + VALUE_COEF * value_loss - ENTROPY_COEF * entropy

    @jax.jit
    def train_step(state, obs, actions, returns):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, obs, actions, returns)
        return update(params, grads, opt_state), loss

    def act(obs):
        p_left, value = policy(state[0], obs[None])
        return float(p_left), float(value)

    def step(i):
        nonlocal state
        state, loss = train_step(state, *rollouts.collect(act, size["rollout"]))
        return loss

    return step
