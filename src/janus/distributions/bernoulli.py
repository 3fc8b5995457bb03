"""Bernoulli: 0/1 outcomes with probability `probs` (or `logits`)."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..creation import rand
from ..ops import activation as A
from ..ops import elementwise as E
from .distribution import Distribution
from .normal import _as_tensor


class Bernoulli(Distribution):
    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _as_tensor(probs)
            eps = 1.1920928955078125e-07 if self.probs._data.dtype.itemsize == 4 else 2.22e-16
            clamped = A.clamp(self.probs, eps, 1 - eps)
            self.logits = E.log(clamped) - E.log1p(-clamped)
        else:
            self.logits = _as_tensor(logits)
            self.probs = E.sigmoid(self.logits)
        super().__init__(tuple(self.probs.shape))

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        with no_grad():
            u = rand(
                self._extended_shape(sample_shape), dtype=self.probs.dtype, device=self.probs.device
            )
            return E.cast(u < self.probs, self.probs.dtype)

    def log_prob(self, value):
        value = _as_tensor(value, self.logits)
        # -BCE with logits: value * logits - softplus(logits), stable for large |logits|.
        return value * self.logits - A.softplus(self.logits)

    def entropy(self):
        return A.softplus(self.logits) - self.probs * self.logits

    def __repr__(self) -> str:
        return f"Bernoulli(probs: {tuple(self.probs.shape)})"
