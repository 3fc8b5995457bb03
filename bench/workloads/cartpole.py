"""CartPole in plain Python (the classic cart-pole dynamics of Barto, Sutton
and Anderson, with gym's constants): the environment the actor-critic agent
steps, one Python call per time step, as RL code does."""

from __future__ import annotations

import math

import numpy as np

GRAVITY, CART_MASS, POLE_MASS, HALF_LENGTH, FORCE, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
TOTAL_MASS = CART_MASS + POLE_MASS
THETA_LIMIT, X_LIMIT, MAX_STEPS = 12 * 2 * math.pi / 360, 2.4, 200


class CartPole:
    """state = (x, x_dot, theta, theta_dot); action 0 pushes left, 1 right;
    reward 1 per step; an episode ends when the pole falls, the cart leaves
    the track, or after MAX_STEPS steps."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.reset()

    def reset(self) -> np.ndarray:
        self.state = [float(v) for v in self.rng.uniform(-0.05, 0.05, 4)]
        self.steps = 0
        return np.array(self.state, np.float32)

    def step(self, action: int) -> tuple:
        """Returns (observation, reward, done)."""
        x, x_dot, theta, theta_dot = self.state
        force = FORCE if action == 1 else -FORCE
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + POLE_MASS * HALF_LENGTH * theta_dot**2 * sin) / TOTAL_MASS
        theta_acc = (GRAVITY * sin - cos * temp) / (
            HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos**2 / TOTAL_MASS)
        )
        x_acc = temp - POLE_MASS * HALF_LENGTH * theta_acc * cos / TOTAL_MASS
        x, x_dot = x + TAU * x_dot, x_dot + TAU * x_acc
        theta, theta_dot = theta + TAU * theta_dot, theta_dot + TAU * theta_acc
        self.state = [x, x_dot, theta, theta_dot]
        self.steps += 1
        done = abs(x) > X_LIMIT or abs(theta) > THETA_LIMIT or self.steps >= MAX_STEPS
        return np.array(self.state, np.float32), 1.0, done
