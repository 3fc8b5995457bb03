"""The op table (`registry.OPS`) and the frontends that PyTorch's API names.

Importing this package declares every op and attaches the Tensor methods.
"""

from . import (  # noqa: F401 - importing declares the ops
    activation,
    conversion,
    convolution,
    elementwise,
    indexing,
    inplace,
    linalg,
    methods,
    pooling,
    reduction,
    resize,
    shape,
    softmax,
    sorting,
)
from .registry import OPS, apply

methods.install()

__all__ = ["OPS", "apply"]
