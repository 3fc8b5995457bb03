"""`default_collate`: turns a list of samples into a batch, as PyTorch does."""

from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from ...tensor import Tensor


def default_collate(batch):
    """Stacks tensors and arrays, makes tensors of numbers (float64 for floats,
    int64 for ints), keeps strings as lists, and recurses into tuples, lists,
    dicts and namedtuples."""
    from ... import creation, dtypes
    from ...ops.shape import stack

    first = batch[0]
    if isinstance(first, Tensor):
        return stack(list(batch), 0)
    if isinstance(first, np.ndarray):
        if first.dtype.kind in "USO":
            raise TypeError(
                f"default_collate: batch must contain tensors, numpy arrays, "
                f"numbers, dicts or lists; found {first.dtype}"
            )
        return stack([creation.as_tensor(b) for b in batch], 0)
    if isinstance(first, np.generic):
        return creation.tensor(np.array(batch))
    if isinstance(first, bool):
        return creation.tensor(batch, dtype=dtypes.bool_)
    if isinstance(first, numbers.Integral):
        return creation.tensor(batch, dtype=dtypes.int64)
    if isinstance(first, numbers.Real):
        return creation.tensor(batch, dtype=dtypes.float64)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        return (
            type(first)({key: default_collate([d[key] for d in batch]) for key in first})
            if not isinstance(first, dict) or type(first) is dict
            else {key: default_collate([d[key] for d in batch]) for key in first}
        )
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        size = len(first)
        if any(len(item) != size for item in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(list(samples)) for samples in zip(*batch)]
        return tuple(transposed) if isinstance(first, tuple) else transposed
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
        f"or lists; found {type(first)}"
    )
