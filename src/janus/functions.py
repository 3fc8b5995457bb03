"""The `janus.<op>` namespace: PyTorch's function names, bound to the frontends."""

from .ops.activation import clamp, clamp_max, clamp_min
from .ops.conversion import clone
from .ops.elementwise import (
    abs,
    acos,
    add,
    asin,
    atan,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    cos,
    cosh,
    div,
    eq,
    erf,
    exp,
    exp2,
    expm1,
    floor,
    floor_divide,
    fmod,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    nan_to_num,
    ne,
    neg,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    trunc,
    where,
)
from .ops.indexing import (
    gather,
    index_add,
    index_copy,
    index_select,
    masked_fill,
    masked_select,
    nonzero,
    scatter,
    scatter_add,
)
from .ops.linalg import addmm, baddbmm, bmm, diag, dot, einsum, matmul, mm, mv, outer, tril, triu
from .ops.reduction import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from .ops.shape import (
    cat,
    chunk,
    concat,
    concatenate,
    flatten,
    flip,
    hstack,
    movedim,
    narrow,
    permute,
    reshape,
    roll,
    select,
    split,
    squeeze,
    stack,
    t,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
    vstack,
)
from .ops.softmax import log_softmax, softmax
from .ops.sorting import argsort, cumprod, cumsum, sort, topk, unique

clip = clamp
true_divide = divide = div
ger = outer
multiply = mul
subtract = sub
negative = neg
absolute = abs
arctan = atan
swapaxes = swapdims = transpose
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


def is_nonzero(input) -> bool:
    return bool(input)


__all__ = [name for name in dir() if not name.startswith("_")]
