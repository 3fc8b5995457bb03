"""Padding helpers for variable-length sequences."""

from __future__ import annotations

from ...creation import full
from ...tensor import Tensor


def pad_sequence(
    sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Tensor:
    """Stacks sequences of different lengths, padding them to the longest."""
    from ...ops import shape as S

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
    out = S.stack(padded, 0 if batch_first else 1)
    return out
