"""In-place variants against PyTorch: values, version bumps and gradients through them."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(7)
X = rng.standard_normal((3, 4)).astype(np.float32)
Y = rng.standard_normal((3, 4)).astype(np.float32)
POS = (rng.random((3, 4)) + 0.5).astype(np.float32)
MASK = rng.random((3, 4)) > 0.5

CASES = {
    "add_": lambda L, x, y: x.add_(y, alpha=2),
    "sub_": lambda L, x, y: x.sub_(y),
    "mul_": lambda L, x, y: x.mul_(y),
    "div_": lambda L, x, y: x.div_(y.abs() + 1),
    "pow_": lambda L, x, y: x.pow_(2),
    "exp_": lambda L, x, y: x.exp_(),
    "tanh_": lambda L, x, y: x.tanh_(),
    "sigmoid_": lambda L, x, y: x.sigmoid_(),
    "relu_": lambda L, x, y: x.relu_(),
    "clamp_": lambda L, x, y: x.clamp_(-0.5, 0.5),
    "neg_": lambda L, x, y: x.neg_(),
    "addcmul_": lambda L, x, y: x.addcmul_(y, y, value=0.5),
    "addcdiv_": lambda L, x, y: x.addcdiv_(y, y.abs() + 1, value=-1),
    "lerp_": lambda L, x, y: x.lerp_(y, 0.3),
    "masked_fill_": lambda L, x, y: x.masked_fill_(L.tensor(MASK), 0.0),
    "copy_": lambda L, x, y: x.copy_(y),
    "fill_": lambda L, x, y: x.fill_(2.0),
    "zero_": lambda L, x, y: x.zero_(),
    "iadd": lambda L, x, y: x.__iadd__(y),
    "imul": lambda L, x, y: x.__imul__(2.0),
    "setitem_slice": lambda L, x, y: x.__setitem__((slice(None), 1), y[:, 0]) or x,
    "setitem_mask": lambda L, x, y: x.__setitem__(L.tensor(MASK), 1.0) or x,
    "index_add_": lambda L, x, y: x.index_add_(0, L.tensor([0, 2, 0]), y),
    "scatter_": lambda L, x, y: x.scatter_(1, L.tensor([[0], [1], [3]]), y[:, :1]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_inplace_matches_pytorch(name):
    torch = torch_or_skip()
    fn = CASES[name]
    results = []
    for L in (janus, torch):
        leaf_x = L.tensor(X, requires_grad=True)
        y = L.tensor(Y, requires_grad=True)
        x = leaf_x * 1.0  # a non-leaf, so the in-place op is recorded
        version = x._version
        out = fn(L, x, y)
        assert out is x
        assert x._version > version
        (x * L.tensor(POS)).sum().backward()
        results.append((x.detach().numpy().copy(), leaf_x.grad, y.grad))
    (jx, jgx, jgy), (tx, tgx, tgy) = results
    assert_close(jx, tx, what="value")
    for jg, tg, what in ((jgx, tgx, "grad x"), (jgy, tgy, "grad y")):
        if tg is None:
            assert jg is None or not np.any(np.asarray(jg)), what
        else:
            assert_close(jg, tg, rtol=1e-5, atol=1e-6, what=what)


@pytest.mark.parametrize("name", list(CASES))
def test_inplace_without_autograd_writes_the_same_memory(name):
    x = janus.tensor(X.copy())
    data = x._data
    alias = x[0]  # a view must see the write
    CASES[name](janus, x, janus.tensor(Y))
    assert x._data is data
    assert_close(alias, x[0])
