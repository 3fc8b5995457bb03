"""Property tests (hypothesis): random shapes, dtypes, dims and indexing keys,
each run by janus and by PyTorch; values and gradients must agree."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import janus
from harness import assert_close

torch = pytest.importorskip("torch", reason="PyTorch (the oracle) is not installed")

DTYPES = ["float32", "float64", "int64", "int32", "bool"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "lt", "where"]


@st.composite
def broadcastable_shapes(draw):
    ndim = draw(st.integers(0, 4))
    full = [draw(st.integers(1, 4)) for _ in range(ndim)]
    a = [s if draw(st.booleans()) else 1 for s in full]
    b = [s if draw(st.booleans()) else 1 for s in full]
    a = a[draw(st.integers(0, len(a))) :]  # drop leading dims
    b = b[draw(st.integers(0, len(b))) :]
    return tuple(a), tuple(b)


def _array(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith("int"):
        return rng.integers(1, 5, shape).astype(dtype)
    return (rng.standard_normal(shape) + 3).astype(dtype)  # away from 0 for div


@settings(max_examples=150, deadline=None)
@given(
    shapes=broadcastable_shapes(),
    da=st.sampled_from(DTYPES),
    db=st.sampled_from(DTYPES),
    op=st.sampled_from(BINARY),
    seed=st.integers(0, 2**16),
)
def test_broadcasting_binary_ops(shapes, da, db, op, seed):
    rng = np.random.default_rng(seed)
    a, b = _array(rng, shapes[0], da), _array(rng, shapes[1], db)
    results = []
    for L in (janus, torch):
        x, y = L.tensor(a), L.tensor(b)
        try:
            if op == "where":
                out = L.where(x > 3.5 if da != "bool" else x, x, y)
            else:
                out = getattr(L, op)(x, y)
        except RuntimeError as exc:  # both must refuse, with the same exception type
            out = exc
        results.append(out)
    j, t = results
    if isinstance(t, Exception) or isinstance(j, Exception):
        assert type(j) is type(t), f"janus: {j!r}, torch: {t!r}"
        return
    assert j.dtype.name == str(t.dtype).split(".")[1]
    assert_close(j, t, rtol=1e-6, atol=1e-6)


@st.composite
def index_keys(draw, shape):
    """A random key mixing ints, slices, None, Ellipsis and one index array."""
    key, dim, used_array, used_ellipsis = [], 0, False, False
    while dim < len(shape) and draw(st.booleans()):
        size = shape[dim]
        kind = draw(st.sampled_from(["int", "slice", "none", "array", "ellipsis"]))
        if kind == "int":
            key.append(draw(st.integers(-size, size - 1)))
            dim += 1
        elif kind == "slice":
            start = draw(st.one_of(st.none(), st.integers(-size, size)))
            stop = draw(st.one_of(st.none(), st.integers(-size, size)))
            key.append(slice(start, stop, draw(st.one_of(st.none(), st.integers(1, 3)))))
            dim += 1
        elif kind == "none":
            key.append(None)
        elif kind == "array" and not used_array:
            n = draw(st.integers(1, 3))
            key.append(np.array([draw(st.integers(-size, size - 1)) for _ in range(n)]))
            used_array = True
            dim += 1
        elif kind == "ellipsis" and not used_ellipsis:
            key.append(Ellipsis)
            used_ellipsis = True
            dim = len(shape)
    return tuple(key)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), shape=st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_indexing_values_and_gradients(data, shape):
    shape = tuple(shape)
    key = data.draw(index_keys(shape))
    base = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    results = []
    for L in (janus, torch):
        x = L.tensor(base, requires_grad=True)
        lib_key = tuple(L.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
        out = x[lib_key]
        (out * L.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))).sum().backward()
        results.append((out.detach(), x.grad))
    (jo, jg), (to, tg) = results
    assert_close(jo, to)
    assert_close(jg, tg)


@settings(max_examples=100, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
    op=st.sampled_from(["sum", "mean", "amax", "var", "logsumexp", "prod"]),
    keepdim=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_reductions_over_random_dims(shape, data, op, keepdim, seed):
    dims = data.draw(
        st.lists(
            st.integers(-len(shape), len(shape) - 1),
            min_size=1,
            max_size=len(shape),
            unique_by=lambda d: d % len(shape),
        )
    )
    array = np.random.default_rng(seed).standard_normal(shape)
    results = []
    for L in (janus, torch):
        x = L.tensor(array, requires_grad=True)
        dim = dims[0] if op == "prod" else tuple(dims)  # PyTorch's prod takes one dim
        out = getattr(L, op)(x, dim, keepdim=keepdim)
        (out * 1.5).sum().backward()
        results.append((out.detach(), x.grad))
    (jo, jg), (to, tg) = results
    assert_close(jo, to, rtol=1e-9, atol=1e-12)
    assert_close(jg, tg, rtol=1e-7, atol=1e-9)
