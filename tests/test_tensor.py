"""Tensor state and Python protocol: conversion, printing, pickling, promotion."""

import copy
import itertools
import pickle

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

DTYPES = ["float32", "float64", "float16", "int64", "int32", "bool"]


def test_conversions_to_python_and_numpy():
    t = janus.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert t[0, 0].item() == 1.5
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().dtype == np.float32
    assert np.asarray(t).shape == (2, 2)
    assert float(t[1, 1]) == 4.0 and int(t[1, 1]) == 4
    assert f"{t[0, 0]:.2f}" == "1.50"
    assert [1, 2, 3][janus.tensor(1)] == 2  # __index__
    assert len(t) == 2 and [r.tolist() for r in t] == [[1.5, 2.0], [3.0, 4.0]]


def test_numpy_refuses_tensors_that_require_grad():
    t = janus.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0, 1.0]


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.zeros(3, dtype=np.float32)
    shared, copied = janus.from_numpy(a), janus.tensor(a)
    a[0] = 7
    assert shared[0].item() == 7 and copied[0].item() == 0


def test_dlpack_round_trip():
    t = janus.arange(6).reshape(2, 3)
    back = janus.from_dlpack(np.from_dlpack(t))
    assert back.tolist() == t.tolist()


def test_pickle_and_deepcopy_keep_values_and_requires_grad():
    t = janus.tensor([1.0, 2.0], requires_grad=True)
    u = pickle.loads(pickle.dumps(t))
    assert u.tolist() == [1.0, 2.0] and u.requires_grad
    d = copy.deepcopy(t)
    assert d.tolist() == [1.0, 2.0] and d.requires_grad and d._data is not t._data


def test_hash_is_identity_and_eq_is_elementwise():
    a, b = janus.ones(2), janus.ones(2)
    assert len({a, b}) == 2
    assert (a == b).tolist() == [True, True]


def test_data_attribute_reads_and_assigns():
    t = janus.ones(2, requires_grad=True)
    assert not t.data.requires_grad
    t.data = janus.zeros(2)
    assert t.tolist() == [0.0, 0.0] and t.requires_grad


def test_new_factories_and_type_conversions():
    t = janus.ones(2, dtype=janus.float64)
    assert t.new_zeros(3).dtype is janus.float64
    assert t.new_full((2,), 5).tolist() == [5.0, 5.0]
    assert t.new_tensor([1, 2]).dtype is janus.float64
    assert t.float().dtype is janus.float32 and t.long().dtype is janus.int64
    assert t.to(janus.int32).dtype is janus.int32
    assert t.type_as(janus.ones(1, dtype=janus.float16)).dtype is janus.float16


def test_metadata():
    t = janus.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size(-1) == 4 and t.dim() == 3 and t.numel() == 24
    assert t.stride() == (12, 4, 1) and t.is_contiguous()
    assert not t.transpose(0, 2).is_contiguous()
    assert t.device == janus.device("cpu") and not t.is_cuda
    assert str(janus.device("cuda:1")) == "cuda:1"


def test_repr_matches_pytorch_style():
    assert repr(janus.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(janus.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(janus.tensor([0.5], dtype=janus.float64)) == "tensor([0.5000], dtype=janus.float64)"
    x = janus.ones(1, requires_grad=True)
    assert repr(x) == "tensor([1.], requires_grad=True)"
    assert "grad_fn=<MulBackward>" in repr(x * 2)


@pytest.mark.parametrize("da,db", list(itertools.product(DTYPES, DTYPES)))
def test_type_promotion_matches_pytorch(da, db):
    torch = torch_or_skip()
    shapes = [(3,), ()]  # tensors with dims and 0-d tensors rank differently
    for sa, sb in itertools.product(shapes, shapes):
        ja, jb = janus.ones(sa, dtype=getattr(janus, da)), janus.ones(sb, dtype=getattr(janus, db))
        ta = torch.ones(sa, dtype=getattr(torch, da))
        tb = torch.ones(sb, dtype=getattr(torch, db))
        assert janus.result_type(ja, jb).name == str(torch.result_type(ta, tb)).split(".")[1]
    for scalar in (True, 2, 2.5):
        ja = janus.ones(3, dtype=getattr(janus, da))
        ta = torch.ones(3, dtype=getattr(torch, da))
        assert (
            janus.result_type(ja, scalar).name == str(torch.result_type(ta, scalar)).split(".")[1]
        )


def test_int_division_and_inplace_promotion_rules():
    a = janus.tensor([3, 4])
    assert (a / 2).dtype is janus.float32
    assert (a // 2).tolist() == [1, 2]
    a += 1
    assert a.dtype is janus.int64
    f = janus.ones(2)
    f += janus.tensor([1, 2])
    assert f.tolist() == [2.0, 3.0]


def test_inplace_updates_are_visible_through_views():
    t = janus.zeros(3, 3)
    t[:, 1] += 1
    t.diagonal_view = None  # tensors accept attributes, like PyTorch's
    col = t[:, 1]
    col.mul_(5)
    assert_close(t, [[0, 5, 0]] * 3)
