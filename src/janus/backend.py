"""Array libraries behind the devices: numpy for "cpu", cupy for "cuda".

cupy is optional and imported on first use, so a CPU-only install never pays
for it. `ARRAY_TYPES` grows to include cupy's ndarray once cupy is loaded.
"""

from __future__ import annotations

import numpy as np

from .device import CPU, device

ARRAY_TYPES: tuple = (np.ndarray,)
_cupy = None
_cupy_error: str | None = None


def cupy():
    """The cupy module; RuntimeError if it is missing or no GPU is usable."""
    global _cupy, _cupy_error, ARRAY_TYPES
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy as cp

            cp.cuda.runtime.getDeviceCount()
            _cupy = cp
            ARRAY_TYPES = (np.ndarray, cp.ndarray)
            return cp
        except Exception as exc:  # ImportError, or CUDA errors without a GPU
            _cupy_error = f"{type(exc).__name__}: {exc}"
    raise RuntimeError(f"CUDA is not available (cupy could not be used: {_cupy_error})")


def cuda_available() -> bool:
    try:
        cupy()
        return True
    except RuntimeError:
        return False


def is_cpu_array(array) -> bool:
    return type(array) is np.ndarray


def xp_of(array):
    """numpy or cupy, whichever owns `array`."""
    return np if type(array) is np.ndarray else _cupy


def device_of(array) -> device:
    if type(array) is np.ndarray:
        return CPU
    return device("cuda", array.device.id)


def to_device_array(array, dev: device):
    """`array` moved (or left, if already there) to `dev`."""
    if dev.type == "cpu":
        return array if type(array) is np.ndarray else array.get()
    cp = cupy()
    if type(array) is cp.ndarray and array.device.id == dev.index:
        return array
    with cp.cuda.Device(dev.index):
        return cp.asarray(array)


def as_array(value):
    """Turns numpy scalars (which numpy returns for 0-d results) into arrays."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, ARRAY_TYPES):
        return value
    return np.asarray(value)
