"""Matrix products: matmul (with NumPy/PyTorch batch broadcasting), mm, bmm, mv, dot.

The primitive is `matmul` on operands of 2 or more dims; 1-D operands are
promoted to matrices by the frontend (and the extra dim removed after), as
PyTorch defines it, so the gradient rule only has one case.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import meta as M
from . import reduction as R
from .registry import apply, declare
from .shape import reshape, squeeze, transpose, unsqueeze


def _matmul_meta(a, b):
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(_shape_error(a.shape, b.shape))
    batch = M.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return M.Meta(batch + (a.shape[-2], b.shape[-1]), a.dtype)


def _shape_error(sa, sb) -> str:
    return (
        f"mat1 and mat2 shapes cannot be multiplied ({'x'.join(map(str, sa[-2:]))} and "
        f"{'x'.join(map(str, sb[-2:]))})"
    )


def _mT(x: Tensor) -> Tensor:
    return transpose(x, -1, -2)


def _matmul_grad(n, g):
    a, b = n.inputs
    ga = apply(MATMUL, g, _mT(b)) if n.needs_grad(0) else None
    gb = apply(MATMUL, _mT(a), g) if n.needs_grad(1) else None
    return ga, gb


MATMUL = declare(
    "matmul",
    impl=lambda xp, a, b: xp.matmul(a, b),
    meta=_matmul_meta,
    grad=_matmul_grad,
    broadcast=True,
    saves=lambda a, b: (b._rg, a._rg),
)


def _check_same_dtype(a: Tensor, b: Tensor, name: str) -> None:
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"{name}: expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != "
            f"{b.dtype.name}"
        )


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """PyTorch's `matmul`: dot, matrix-vector, matrix and broadcast batched products."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("matmul(): argument 'input' and 'other' must be Tensors")
    _check_same_dtype(input, other, "matmul")
    a, b = input._data, other._data
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == b.shape[-2]:
        try:
            return apply(MATMUL, input, other)
        except RuntimeError:
            pass  # batch dims do not broadcast: the checks below explain
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {input.ndim}D and "
            f"{other.ndim}D"
        )
    a = unsqueeze(input, 0) if input.ndim == 1 else input
    b = unsqueeze(other, -1) if other.ndim == 1 else other
    if a._data.shape[-1] != b._data.shape[-2]:
        if input.ndim == 1 and other.ndim == 1:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                f"[{other.shape[0]}] to have the same number of elements, but got "
                f"{input.shape[0]} and {other.shape[0]} elements respectively"
            )
        raise RuntimeError(_shape_error(a._data.shape, b._data.shape))
    out = apply(MATMUL, a, b)
    if other.ndim == 1:
        out = squeeze(out, -1)
    if input.ndim == 1:
        out = squeeze(out, -2 if other.ndim > 1 else -1)
    return out


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}]."
        )
    return matmul(input, mat2)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


def dot(input: Tensor, other: Tensor) -> Tensor:
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return matmul(input, other)


# ----- linear: x @ w.T + b as one op (PyTorch's addmm), the most common layer -----


def _linear_impl(xp, x, w, b):
    out = xp.matmul(x, w.T)
    if b is not None:
        out += b
    return out


def _linear_meta(x, w, b):
    return M.Meta(tuple(x.shape[:-1]) + (w.shape[0],), x.dtype)


def _linear_grad(n, g):
    x, w, b = n.inputs
    gx = matmul(g, w) if n.needs_grad(0) else None
    gw = gb = None
    if n.needs_grad(1):
        g2 = g if g._data.ndim == 2 else reshape(g, (-1, g._data.shape[-1]))
        x2 = x if x._data.ndim == 2 else reshape(x, (-1, x._data.shape[-1]))
        gw = apply(MATMUL, transpose(g2, 0, 1), x2)
    if b is not None and n.needs_grad(2):
        gb = R.sum(g, tuple(range(g.ndim - 1))) if g.ndim > 1 else g
    return gx, gw, gb


LINEAR = declare(
    "linear",
    impl=_linear_impl,
    meta=_linear_meta,
    grad=_linear_grad,
    saves=lambda x, w, b: (w._rg, x._rg, False),
)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`input @ weight.T + bias`, PyTorch's layout (weight is out x in)."""
    _check_same_dtype(input, weight, "linear")
    if (
        input._data.ndim == 0
        or weight._data.ndim != 2
        or (input._data.shape[-1] != weight._data.shape[-1])
    ):
        rows = 1
        for s in input._data.shape[:-1]:
            rows *= s
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input._data.shape[-1]} and "
            f"{'x'.join(map(str, reversed(weight._data.shape)))})"
        )
    if bias is not None and bias._data.dtype != input._data.dtype:
        raise RuntimeError(f"linear: expected bias to have dtype {input.dtype.name}")
    return apply(LINEAR, input, weight, bias)


# ----- products built from matmul -----


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two vectors."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError("outer: expected 1-D tensors")
    return unsqueeze(input, 1) * unsqueeze(vec2, 0)


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    product = mm(mat1, mat2)
    return _scaled_sum(input, product, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (batch1 @ batch2), batched."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def _scaled_sum(input, product, beta, alpha):
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # PyTorch ignores input (even NaN) when beta is 0
        return product
    return product + (input if beta == 1 else input * beta)


# ----- einsum -----


def _einsum_impl(xp, *operands, equation):
    return xp.einsum(equation, *operands, optimize=len(operands) > 2)


def _parse_einsum(equation: str, count: int):
    equation = equation.replace(" ", "")
    if "." in equation:
        raise NotImplementedError("einsum with '...' is not implemented yet")
    inputs, arrow, output = equation.partition("->")
    subs = inputs.split(",")
    if len(subs) != count:
        raise RuntimeError(
            "einsum(): more operands were provided than specified in the equation"
            if len(subs) < count
            else "einsum(): fewer operands were provided than specified in the equation"
        )
    if not arrow:  # implicit output: letters used once, in alphabetical order
        letters = "".join(subs)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for sub in subs + [output]:
        if len(set(sub)) != len(sub):
            raise NotImplementedError(
                "einsum with a repeated index in one operand (a diagonal) is not implemented yet"
            )
    return subs, output


def _einsum_meta(*operands, equation):
    subs, output = _parse_einsum(equation, len(operands))
    sizes = {}
    for sub, m in zip(subs, operands):
        for letter, size in zip(sub, m.shape):
            if sizes.get(letter, size) != size and size != 1 and sizes[letter] != 1:
                raise RuntimeError(f"einsum(): operands do not broadcast for subscript {letter}")
            sizes[letter] = max(sizes.get(letter, size), size)
    return M.Meta(tuple(sizes[c] for c in output), operands[0].dtype)


def _einsum_grad(n, g):
    """d/d operand i: einsum of the output gradient with the other operands, onto
    operand i's subscripts; letters only operand i has were summed, so the
    gradient is broadcast back over them."""
    from .shape import expand

    operands = n.inputs
    subs, output = _parse_einsum(n.attrs["equation"], len(operands))
    grads = []
    for i, (sub, x) in enumerate(zip(subs, operands)):
        if not n.needs_grad(i):
            grads.append(None)
            continue
        others = [s for j, s in enumerate(subs) if j != i]
        available = set(output).union(*others) if others else set(output)
        kept = "".join(c for c in sub if c in available)
        equation = ",".join([output] + others) + "->" + kept
        partial = apply(
            EINSUM, g, *[o for j, o in enumerate(operands) if j != i], equation=equation
        )
        if kept != sub:
            shape = tuple(x._data.shape[sub.index(c)] if c in kept else 1 for c in sub)
            partial = expand(reshape(partial, shape), tuple(x._data.shape))
        grads.append(partial)
    return tuple(grads)


EINSUM = declare("einsum", impl=_einsum_impl, meta=_einsum_meta, grad=_einsum_grad, broadcast=True)


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, e.g. `einsum("bij,bjk->bik", a, b)`."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    _parse_einsum(equation, len(operands))
    from .. import dtypes
    from .elementwise import cast

    result = dtypes.result_type(*operands)
    return apply(EINSUM, *[cast(o, result) for o in operands], equation=equation)


# ----- triangles and diagonals -----


def _triangle(input, diagonal, upper):
    from .creation_ops import scalar_tensor
    from .elementwise import where

    if input.ndim < 2:
        raise RuntimeError(
            f"{'triu' if upper else 'tril'}: input tensor must have at least 2 dimensions"
        )
    rows, cols = input._data.shape[-2:]
    keep = np.tri(rows, cols, diagonal - 1 if upper else diagonal, dtype=bool)
    if upper:
        keep = ~keep
    from ..creation import tensor as make_tensor

    mask = make_tensor(keep, device=input.device)
    return where(mask, input, scalar_tensor(0, input))


def tril(input, diagonal: int = 0) -> Tensor:
    return _triangle(input, diagonal, upper=False)


def triu(input, diagonal: int = 0) -> Tensor:
    return _triangle(input, diagonal, upper=True)


def diag(input, diagonal: int = 0) -> Tensor:
    """A vector's diagonal matrix, or a matrix's diagonal (as a vector)."""
    from ..creation import tensor as make_tensor
    from .indexing import INDEX_PUT, getitem

    if input.ndim == 1:
        n = input._data.shape[0]
        size = n + abs(diagonal)
        rows = np.arange(n) + max(-diagonal, 0)
        cols = np.arange(n) + max(diagonal, 0)
        from .creation_ops import zeros_from_meta

        zeros = zeros_from_meta((size, size), input._data.dtype, like=input)
        index = [make_tensor(rows, device=input.device), make_tensor(cols, device=input.device)]
        return apply(INDEX_PUT, zeros, input, *index, spec=(("t",), ("t",)), accumulate=False)
    if input.ndim == 2:
        rows, cols = input._data.shape
        start_r, start_c = max(-diagonal, 0), max(diagonal, 0)
        length = max(min(rows - start_r, cols - start_c), 0)
        r = make_tensor(np.arange(length) + start_r, device=input.device)
        c = make_tensor(np.arange(length) + start_c, device=input.device)
        return getitem(input, (r, c))
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
