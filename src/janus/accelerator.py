"""`janus.accelerator`: the device-agnostic view of the GPU, as in recent PyTorch."""

from __future__ import annotations

from . import cuda
from .device import device


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False):
    """`device("cuda")` when a GPU is usable, else None."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()


def synchronize(device=None) -> None:
    cuda.synchronize(device)
