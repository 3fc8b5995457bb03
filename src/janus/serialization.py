"""`janus.save` / `janus.load`: pickle, with tensors stored as numpy arrays.

Tensors pickle through `Tensor.__reduce_ex__` (data copied to the host, device
recorded); `map_location` moves them on load.
"""

from __future__ import annotations

import io
import os
import pickle

from .device import device as Device


def save(obj, f, pickle_protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    """Saves `obj` (tensors, state dicts, modules, optimizer states...) to a path or file."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle_protocol)
    else:
        pickle.dump(obj, f, protocol=pickle_protocol)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, map_location):
        super().__init__(file)
        self.map_location = map_location

    def find_class(self, module, name):
        if module == "janus.tensor" and name == "_rebuild" and self.map_location is not None:
            location = self.map_location

            def rebuild(cls, data, device_name, requires_grad):
                from .tensor import _rebuild

                target = _map(location, device_name)
                return _rebuild(cls, data, str(target), requires_grad)

            return rebuild
        return super().find_class(module, name)


def _map(location, device_name):
    if callable(location) and not isinstance(location, (str, Device)):
        result = location(device_name, device_name)
        return Device(result) if result is not None else Device(device_name)
    if isinstance(location, dict):
        return Device(location.get(device_name, device_name))
    return Device(location)


def load(f, map_location=None, weights_only=None, **kwargs):
    """Loads what `save` wrote; `map_location` ("cpu", a device, a dict or a function)
    chooses where tensors go."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return _Unpickler(fh, map_location).load()
    if isinstance(f, bytes):
        f = io.BytesIO(f)
    return _Unpickler(f, map_location).load()
