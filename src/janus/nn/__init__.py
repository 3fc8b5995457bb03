"""`janus.nn`: layers, functional ops, initialization and utilities (PyTorch's `torch.nn`)."""

from . import functional, init, utils  # noqa: F401
from .modules import *  # noqa: F403
from .modules import __all__ as _modules_all
from .parameter import Buffer, Parameter

__all__ = ["Buffer", "Parameter", "functional", "init", "utils", *_modules_all]


def __getattr__(name: str):
    from ..unsupported import missing

    raise missing("janus.nn", name)
