"""Normal (Gaussian) distribution, with a reparameterized sampler."""

from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..creation import randn
from ..ops import elementwise as E
from ..ops import meta as M
from ..ops import shape as S
from ..tensor import Tensor
from .distribution import Distribution


def _as_tensor(value, like=None):
    if isinstance(value, Tensor):
        return value
    from ..creation import tensor

    return tensor(float(value)) if like is None else tensor(float(value), dtype=like.dtype)


class Normal(Distribution):
    """N(loc, scale^2), elementwise over broadcast `loc` and `scale`."""

    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        loc = _as_tensor(loc, scale if isinstance(scale, Tensor) else None)
        scale = _as_tensor(scale, loc)
        shape = M.broadcast_shapes(tuple(loc.shape), tuple(scale.shape))
        self.loc, self.scale = S.expand(loc, shape), S.expand(scale, shape)
        super().__init__(shape)

    @property
    def mean(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale * self.scale

    def rsample(self, sample_shape=()):
        eps = randn(
            self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device
        )
        return self.loc + eps * self.scale

    def sample(self, sample_shape=()):
        with no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        var = self.scale * self.scale
        return (
            -((value - self.loc) ** 2) / (2 * var)
            - E.log(self.scale)
            - math.log(math.sqrt(2 * math.pi))
        )

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + E.log(self.scale)

    def __repr__(self) -> str:
        return f"Normal(loc: {tuple(self.loc.shape)}, scale: {tuple(self.scale.shape)})"
