"""Devices: "cpu" stores tensors in numpy arrays, "cuda[:i]" in cupy arrays."""

from __future__ import annotations


class device:  # noqa: N801 - PyTorch's name
    """A device, e.g. `janus.device("cuda:0")` or `janus.device("cpu")`."""

    __slots__ = ("type", "index")

    def __new__(cls, type_or_device="cpu", index: int | None = None):
        if isinstance(type_or_device, device):
            return type_or_device
        kind = str(type_or_device)
        if ":" in kind:
            kind, _, idx = kind.partition(":")
            if index is not None:
                raise ValueError(f"device {type_or_device!r} already has an index")
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError(f"Invalid device string: '{type_or_device}'") from None
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {kind}"
            )
        if kind == "cuda" and index is None:
            index = 0
        key = (kind, index)
        cached = _interned.get(key)
        if cached is not None:
            return cached
        self = object.__new__(cls)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", index)
        _interned[key] = self
        return self

    def __setattr__(self, name, value):
        raise AttributeError("janus.device is immutable")

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


_interned: dict = {}
CPU = device("cpu")


# The device factories make tensors on when given none (None: the CPU, the
# common case, which then costs nothing). janus.jit guards it.
_default: list = [None]


def set_default_device(place) -> None:
    """The device `zeros`, `tensor`, `randn`, ... use when not given one
    (PyTorch's `torch.set_default_device`); None or "cpu" restores the CPU.

    >>> import janus
    >>> janus.set_default_device("cpu")
    >>> janus.get_default_device()
    device(type='cpu')
    """
    chosen = None if place is None else device(place)
    _default[0] = None if chosen == CPU else chosen


def get_default_device() -> device:
    return _default[0] or CPU
