"""Variable-length sequences: padding, and PyTorch's packed layout.

A PackedSequence stores the time steps of a batch sorted by decreasing length
back to back: step t holds the `batch_sizes[t]` sequences still running. The
recurrent layers accept it (see `janus.nn.modules.rnn`), run a masked
recurrence, and return packed outputs.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ... import dtypes
from ...creation import full
from ...creation import tensor as make_tensor
from ...ops import indexing as I
from ...ops import shape as S
from ...tensor import Tensor

_Packed = namedtuple(
    "PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"]
)


class PackedSequence(_Packed):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as PyTorch lays them out."""

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        return type(self)(
            self.data.to(*args, **kwargs),
            self.batch_sizes,
            self.sorted_indices,
            self.unsorted_indices,
        )


def _invert(permutation: Tensor) -> Tensor:
    order = np.asarray(permutation)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return make_tensor(inverse)


def _lengths_array(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        return np.asarray(lengths, dtype=np.int64)
    return np.asarray(list(lengths), dtype=np.int64)


def pad_sequence(
    sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Tensor:
    """Stacks sequences of different lengths, padding them to the longest."""
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    trailing = tuple(sequences[0].shape[1:])
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = full((missing,) + trailing, padding_value, dtype=s.dtype, device=s.device)
            s = S.cat([s, pad] if padding_side == "right" else [pad, s])
        padded.append(s)
    return S.stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(
    input, lengths, batch_first: bool = False, enforce_sorted: bool = True, sorted_indices=None
) -> PackedSequence:
    """Packs a padded batch (time-major unless `batch_first`) given each sequence's length."""
    lengths = _lengths_array(lengths)
    if sorted_indices is None:
        if enforce_sorted:
            if np.any(np.diff(lengths) > 0):
                raise RuntimeError(
                    "`lengths` array must be sorted in decreasing order when "
                    "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                    "to pack_padded_sequence and/or pack_sequence to sidestep "
                    "this requirement if you do not need ONNX exportability."
                )
            order = None
        else:
            order = make_tensor(np.argsort(-lengths, kind="stable").astype(np.int64))
    else:
        order = sorted_indices
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0")
    if batch_first:
        input = S.transpose(input, 0, 1)
    if order is not None:
        input = I.index_select(input, 1, order.to(input.device))
        lengths = lengths[np.asarray(order)]
    steps = int(lengths.max())
    batch_sizes = np.array([(lengths > t).sum() for t in range(steps)], dtype=np.int64)
    data = S.cat([input[t, : int(batch_sizes[t])] for t in range(steps)], 0)
    return PackedSequence(
        data, make_tensor(batch_sizes), order, None if order is None else _invert(order)
    )


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length=None,
):
    """(padded batch, lengths) from a PackedSequence, in the original batch order."""
    data, batch_sizes = sequence.data, np.asarray(sequence.batch_sizes)
    batch = int(batch_sizes[0])
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"Expected total_length to be at least {steps}, but got {total_length}."
            )
        steps_out = total_length
    else:
        steps_out = steps
    trailing = tuple(data.shape[1:])
    rows, offset = [], 0
    for t in range(steps_out):
        size = int(batch_sizes[t]) if t < steps else 0
        piece = data[offset : offset + size]
        offset += size
        if size < batch:
            pad = full(
                (batch - size,) + trailing, padding_value, dtype=data.dtype, device=data.device
            )
            piece = S.cat([piece, pad], 0) if size else pad
        rows.append(piece)
    padded = S.stack(rows, 0)
    lengths = np.array([(batch_sizes > b).sum() for b in range(batch)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        padded = I.index_select(padded, 1, sequence.unsorted_indices.to(padded.device))
        lengths = lengths[np.asarray(sequence.unsorted_indices)]
    if batch_first:
        padded = S.transpose(padded, 0, 1)
    return padded, make_tensor(lengths, dtype=dtypes.int64)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
