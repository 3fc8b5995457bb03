"""`janus.backends`: the flags scripts set on PyTorch's backends.

janus's kernels are deterministic and it has no cuDNN autotuner or TF32
switch yet, so these are recorded (scripts read them back) without changing
what runs.
"""

from __future__ import annotations

import types

cudnn = types.SimpleNamespace(
    enabled=True, benchmark=False, deterministic=False, allow_tf32=True, is_available=lambda: False
)
mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
cuda = types.SimpleNamespace(
    matmul=types.SimpleNamespace(allow_tf32=False), is_built=lambda: _cuda_built()
)


def _cuda_built() -> bool:
    from . import _C

    return bool(_C.has_cuda)


_deterministic = {"enabled": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded for scripts that ask; every janus kernel is already deterministic."""
    _deterministic["enabled"] = bool(mode)
    _deterministic["warn_only"] = bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic["enabled"]
