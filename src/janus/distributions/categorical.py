"""Categorical: a distribution over class indices 0..K-1."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from ..creation import multinomial
from ..ops import activation as A
from ..ops import elementwise as E
from ..ops import indexing as I
from ..ops import meta as M
from ..ops import reduction as R
from ..ops import shape as S
from ..ops import softmax as N
from .distribution import Distribution


class Categorical(Distribution):
    """Classes drawn with the given `probs` (normalized over the last dim) or `logits`.

    >>> import janus
    >>> d = janus.distributions.Categorical(logits=janus.zeros(4))
    >>> round(d.entropy().item(), 4)
    1.3863
    """

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / R.sum(probs, -1, keepdim=True)
            self.logits = E.log(A.clamp(self.probs, min=_tiny(probs)))
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - R.logsumexp(logits, -1, keepdim=True)
            self.probs = N.softmax(logits, -1)
        self._num_events = self.probs.shape[-1]
        super().__init__(tuple(self.probs.shape[:-1]))

    @property
    def param_shape(self):
        return self.probs.shape

    def sample(self, sample_shape=()):
        with no_grad():
            flat = S.reshape(self.probs, (-1, self._num_events))
            count = 1
            for s in sample_shape:
                count *= s
            draws = multinomial(flat, count, replacement=True)  # (batch, count)
            draws = S.t(draws) if draws.ndim == 2 else draws
            return S.reshape(draws, tuple(sample_shape) + tuple(self._batch_shape))

    def log_prob(self, value):
        value = E.cast(value, _long()) if value._data.dtype.kind != "i" else value
        # Broadcast the values against the batch, as PyTorch does.
        index = S.unsqueeze(value, -1)
        shape = M.broadcast_shapes(tuple(index.shape), tuple(self.logits.shape))
        index = S.expand(index, shape[:-1] + (1,))
        picked = I.gather(S.expand(self.logits, shape), -1, index)
        return S.squeeze(picked, -1)

    def entropy(self):
        p_log_p = E.where(self.probs > 0, self.probs * self.logits, 0.0)
        return -R.sum(p_log_p, -1)

    @property
    def mean(self):
        raise NotImplementedError("Categorical has no mean")

    def __repr__(self) -> str:
        return f"Categorical(probs: {tuple(self.probs.shape)})"


def _tiny(t) -> float:
    import numpy as np

    return float(np.finfo(t._data.dtype).tiny)


def _long():
    from .. import dtypes

    return dtypes.int64
