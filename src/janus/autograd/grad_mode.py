"""Grad mode: whether ops record the autograd graph (thread-local, as in PyTorch)."""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled = True


state = _State()


def is_grad_enabled() -> bool:
    return state.enabled


class _GradModeContext:
    """Base for `no_grad`/`enable_grad`: a context manager and a decorator."""

    _mode = True

    def __enter__(self):
        self._previous = state.enabled
        state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        state.enabled = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Ops inside do not record gradients.

    >>> import janus
    >>> x = janus.ones(2, requires_grad=True)
    >>> with janus.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Re-enables gradient recording inside a `no_grad` block."""

    _mode = True


class inference_mode(no_grad):  # noqa: N801
    """Like `no_grad` (janus has no separate inference tensors)."""

    def __init__(self, mode: bool = True):
        self._mode = not mode

    def __call__(self, fn):
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            ctx = inference_mode(not mode)
            with ctx:
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Sets grad mode; works as a function call, a context manager or a decorator."""

    def __init__(self, mode: bool):
        self._previous = state.enabled
        self._mode = bool(mode)
        state.enabled = self._mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        state.enabled = self._previous
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
