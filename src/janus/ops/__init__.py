"""The op table (`registry.OPS`) and the frontends that PyTorch's API names.

Importing this package declares every op and attaches the Tensor methods.
"""

from . import (  # noqa: F401 - importing declares the ops
    conversion,
    elementwise,
    indexing,
    inplace,
    linalg,
    methods,
    nn_ops,
    reduction,
    shape,
    sorting,
)
from .registry import OPS, apply

methods.install()

__all__ = ["OPS", "apply"]
