"""`t[key]` and `t[key] = v` with index tensors mixed with ints, slices, None
and `...`, against PyTorch: where the index dims go, how the value broadcasts,
and the gradients of both sides of a write."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(11)
X = rng.standard_normal((4, 5, 6, 3)).astype(np.float32)
IDX = np.array([0, 2, 1])
J = np.array([[1, 0, 1], [3, 4, 0]])
M = np.array([True, False, True, True])  # three set, like IDX has three entries
M2 = np.zeros((4, 5), dtype=bool)
M2[[0, 1, 3], [4, 0, 2]] = True
M3 = np.zeros((6, 3), dtype=bool)
M3[[1, 4, 5], [2, 0, 2]] = True

_ = slice(None)

# name -> key built from the index tensors of one library (i, j, m, m2, m3)
KEYS = {
    "i,:,i": lambda i, j, m, m2, m3: (i, _, i),
    "0,:,i": lambda i, j, m, m2, m3: (0, _, i),
    "i,:,0": lambda i, j, m, m2, m3: (i, _, 0),
    ":,i,0,i": lambda i, j, m, m2, m3: (_, i, 0, i),
    ":,j,:,0": lambda i, j, m, m2, m3: (_, j, _, 0),
    "1,:,j": lambda i, j, m, m2, m3: (1, _, j),
    "-1,1:4,:,i": lambda i, j, m, m2, m3: (-1, slice(1, 4), _, i),
    "0,i,0": lambda i, j, m, m2, m3: (0, i, 0),
    "i,0,j[:1]": lambda i, j, m, m2, m3: (i, 0, j[:1]),
    "i,None,i": lambda i, j, m, m2, m3: (i, None, i),
    "None,i,:,i": lambda i, j, m, m2, m3: (None, i, _, i),
    "0,None,i": lambda i, j, m, m2, m3: (0, None, i),
    "1,j[:,:1],None,i": lambda i, j, m, m2, m3: (1, j[:, :1], None, i),
    "...,i": lambda i, j, m, m2, m3: (Ellipsis, i),
    "0,...,i": lambda i, j, m, m2, m3: (0, Ellipsis, i),
    "i,...,i": lambda i, j, m, m2, m3: (i, Ellipsis, i),
    "i,i,...": lambda i, j, m, m2, m3: (i, i, Ellipsis),
    "i,i,:,...,0": lambda i, j, m, m2, m3: (i, i, _, Ellipsis, 0),
    "m,:,i": lambda i, j, m, m2, m3: (m, _, i),
    "0,:,m3": lambda i, j, m, m2, m3: (0, _, m3),
    "m2,:,0": lambda i, j, m, m2, m3: (m2, _, 0),
    "m2,0,...": lambda i, j, m, m2, m3: (m2, 0, Ellipsis),
    "2,:,1:3,m3[4]": lambda i, j, m, m2, m3: (2, _, slice(1, 3), m3[4]),
    "list,:,list": lambda i, j, m, m2, m3: ([0, 1], _, [2, 0]),
    "0,:,list": lambda i, j, m, m2, m3: (0, _, [2, 0, 1]),
    "True,0,:,i": lambda i, j, m, m2, m3: (True, 0, _, i),
}


def _key(L, name):
    return KEYS[name](*(L.tensor(a) for a in (IDX, J, M, M2, M3)))


def _torch_result(torch, name):
    return torch.tensor(X)[_key(torch, name)]


@pytest.mark.parametrize("name", list(KEYS))
def test_getitem_places_index_dims_like_pytorch(name):
    torch = torch_or_skip()
    expected = _torch_result(torch, name)
    assert_close(janus.tensor(X)[_key(janus, name)], expected, what=name)


def _values(shape):
    """A value of the indexing result's full shape, and ones that broadcast to
    it: the last dim alone, and every other dim set to 1."""
    full = rng.standard_normal(shape).astype(np.float32)
    values = [full]
    if len(shape) > 1:
        values.append(full[(0,) * (len(shape) - 1)])
        values.append(full[tuple(slice(None) if d % 2 else slice(0, 1) for d in range(len(shape)))])
        values.append(full[None])  # a leading 1 beyond the result's rank
    return values


@pytest.mark.parametrize("name", list(KEYS))
def test_setitem_writes_where_pytorch_writes(name):
    torch = torch_or_skip()
    shape = tuple(_torch_result(torch, name).shape)
    for value in _values(shape):
        expected = torch.tensor(X)
        expected[_key(torch, name)] = torch.tensor(value)
        actual = janus.tensor(X)
        actual[_key(janus, name)] = janus.tensor(value)
        assert_close(actual, expected, what=f"{name} value {value.shape}")


@pytest.mark.parametrize("name", ["0,:,i", ":,j,:,0", "-1,1:4,:,i", "0,None,i", "0,:,list"])
def test_setitem_gradients_match_pytorch(name):
    torch = torch_or_skip()
    shape = tuple(_torch_result(torch, name).shape)
    value = rng.standard_normal(shape[:1] + (1,) * (len(shape) - 1)).astype(np.float32)
    weights = rng.standard_normal(X.shape).astype(np.float32)
    grads = []
    for L in (janus, torch):
        leaf = L.tensor(X, requires_grad=True)
        v = L.tensor(value, requires_grad=True)
        x = leaf * 1.0
        x[_key(L, name)] = v * 2.0
        (x * L.tensor(weights)).sum().backward()
        grads.append((leaf.grad, v.grad))
    (j_leaf, j_v), (t_leaf, t_v) = grads
    assert_close(j_leaf, t_leaf, what=f"{name} grad of x")
    assert_close(j_v, t_v, what=f"{name} grad of value")


def test_setitem_value_that_cannot_broadcast_is_a_clear_error():
    x = janus.tensor(X)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        x[0, :, janus.tensor(IDX)] = janus.ones(2, 5, 3, 3)


# (A list holding lists, slices or tensors is left out: PyTorch still reads
# it as a tuple, with a deprecation warning announcing numpy's reading, which
# janus already follows.)
LIST_KEYS = {
    "flat list is one index": lambda L: [2, 0, 2],
    "empty list": lambda L: [],
    "list of bools is a mask": lambda L: [True, False, True, False],
}


@pytest.mark.parametrize("name", list(LIST_KEYS))
def test_list_keys_index_like_pytorch(name):
    torch = torch_or_skip()
    expected = torch.tensor(X)[LIST_KEYS[name](torch)]
    assert_close(janus.tensor(X)[LIST_KEYS[name](janus)], expected, what=name)
    value = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    t = torch.tensor(X)
    t[LIST_KEYS[name](torch)] = torch.tensor(value)
    j = janus.tensor(X)
    j[LIST_KEYS[name](janus)] = janus.tensor(value)
    assert_close(j, t, what=f"{name}: setitem")


def test_an_int_selection_is_a_view_like_pytorchs():
    """`x[0]` of a vector is a 0-d view: an in-place op on it writes `x`
    (numpy answers a full int selection with a scalar, a copy)."""
    torch = torch_or_skip()
    results = []
    for lib in (janus, torch):
        x = lib.zeros(3)
        m = lib.zeros(2, 2)
        x[0].add_(1)
        m[0][1].add_(2)
        m[1, 0].mul_(3).add_(4)
        results.append((x.tolist(), m.tolist(), tuple(x[2].shape)))
    assert results[0] == results[1]
