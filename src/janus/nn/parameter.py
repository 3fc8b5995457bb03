"""`Parameter`: a tensor that a Module registers as one of its parameters."""

from __future__ import annotations

from ..tensor import Tensor, _make


class Parameter(Tensor):
    """A Tensor that `Module` collects in `parameters()`; it shares `data`'s memory.

    >>> import janus
    >>> p = janus.nn.Parameter(janus.zeros(2))
    >>> p.requires_grad
    True
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        p = _make(data._data)
        p.__class__ = cls
        p._rg = bool(requires_grad)
        return p

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        data = self._data if type(self._data).__module__ == "numpy" else self._data.get()
        return (_rebuild_parameter, (data, str(self.device), self._rg))

    def __deepcopy__(self, memo):
        result = Parameter(Tensor.__deepcopy__(self, memo), self._rg)
        memo[id(self)] = result
        return result


def _rebuild_parameter(data, device_name, requires_grad):
    from ..tensor import _rebuild

    return Parameter(_rebuild(Tensor, data, device_name, False), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module."""

    def __new__(cls, data: Tensor, *, persistent: bool = True):
        b = _make(data._data)
        b.persistent = persistent
        return b
