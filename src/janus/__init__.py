"""janus: imperative deep learning with PyTorch's API, compiled speculatively.

The eager layer mirrors PyTorch's names and semantics, so a script inside that
subset runs with `import janus as torch`:

>>> import janus as torch
>>> x = torch.randn(4, 3)
>>> layer = torch.nn.Linear(3, 2)
>>> layer(x).shape
janus.Size([4, 2])
"""

import warnings as _warnings  # noqa: I001 - ops must load before the rest

from . import autograd, dtypes, ops  # noqa: I001 - ops must load before the rest
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import cuda_available as _cuda_available
from .creation import (
    arange,
    as_tensor,
    asarray,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    multinomial,
    logspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .device import device, get_default_device, set_default_device
from .dtypes import (
    bool_ as bool,  # noqa: A004 - PyTorch's name
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    result_type,
    set_default_dtype,
    short,
    uint8,
)
from .dtypes import float as float  # noqa: A004, PLC0414
from .dtypes import int as int  # noqa: A004, PLC0414
from .functions import *  # noqa: F403 - the op frontends under PyTorch's names
from .random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from .serialization import load, save
from .tensor import Size, Tensor
from . import accelerator, backends, cuda, distributions, jit, nn, optim, utils  # noqa: E402
from .backends import are_deterministic_algorithms_enabled, use_deterministic_algorithms

__version__ = "0.1.0"

# PyTorch returns inf/nan silently (log(0), 1/0, exp overflow); numpy warns. Silence
# those warnings where janus's own kernels raise them, and nowhere else.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"janus\.")


config = jit.config
explain = jit.explain

# The JIT is on from here (hot frames that do tensor work compile by
# themselves); JANUS_JIT=0 turns it off, and must give the same results.
jit.enable()


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    return input.numel()


def is_floating_point(input: Tensor) -> bool:
    return input.is_floating_point()


def __getattr__(name: str):
    from .unsupported import missing

    raise missing("janus", name)
