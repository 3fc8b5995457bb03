"""`janus.distributions`: Categorical, Normal and Bernoulli with PyTorch's API."""

from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .normal import Normal

__all__ = ["Bernoulli", "Categorical", "Distribution", "Normal"]
