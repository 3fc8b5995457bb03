"""Flattening parameters into one vector and back."""

from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops import shape as S
from ...tensor import Tensor


def parameters_to_vector(parameters) -> Tensor:
    return S.cat([S.reshape(p, -1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(S.reshape(vec[offset : offset + n], tuple(p.shape)))
            offset += n
