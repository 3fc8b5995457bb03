"""`janus.optim`: optimizers and learning-rate schedulers (PyTorch's `torch.optim`)."""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "LBFGS",
    "Optimizer",
    "RMSprop",
    "lr_scheduler",
]


def __getattr__(name: str):
    from ..unsupported import missing

    raise missing("janus.optim", name)
