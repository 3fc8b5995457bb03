"""`janus.cuda`: what scripts ask of the GPU (availability, seeds, devices)."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    return backend.cuda_available()


def device_count() -> int:
    if not is_available():
        return 0
    return backend.cupy().cuda.runtime.getDeviceCount()


def current_device() -> int:
    return backend.cupy().cuda.runtime.getDevice()


def set_device(index) -> None:
    from .device import device

    backend.cupy().cuda.runtime.setDevice(
        device(index).index if not isinstance(index, int) else index
    )


def synchronize(device=None) -> None:
    if is_available():
        backend.cupy().cuda.runtime.deviceSynchronize()


def manual_seed(seed: int) -> None:
    from .random import cuda_generator

    for index in range(max(device_count(), 1)):
        cuda_generator(index).manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    manual_seed(seed)


def get_device_name(device=None) -> str:
    props = backend.cupy().cuda.runtime.getDeviceProperties(0 if device is None else int(device))
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name
