"""Factories: dtypes and values as PyTorch gives them; seeded random numbers."""

import numpy as np
import pytest

import janus
from harness import torch_or_skip


@pytest.mark.parametrize(
    "expr",
    [
        "L.tensor([1, 2])",
        "L.tensor([1.0, 2])",
        "L.tensor([True, False])",
        "L.tensor(3.5)",
        "L.tensor([[1, 2], [3, 4]], dtype=L.float64)",
        "L.zeros(2, 3)",
        "L.ones((2,), dtype=L.int32)",
        "L.full((2, 2), 7)",
        "L.full((2,), 1.5)",
        "L.full((2,), True)",
        "L.arange(5)",
        "L.arange(1, 2, 0.25)",
        "L.arange(0, 10, 3)",
        "L.arange(5.0)",
        "L.linspace(0, 1, 5)",
        "L.eye(3)",
        "L.eye(2, 3, dtype=L.int64)",
        "L.zeros_like(L.ones(2, dtype=L.int64))",
        "L.full_like(L.ones(2), 3)",
        "L.empty(0)",
        "L.logspace(0, 2, 3)",
    ],
)
def test_factories_match_pytorch(expr):
    torch = torch_or_skip()
    j = eval(expr, {"L": janus})
    t = eval(expr, {"L": torch})
    assert j.dtype.name == str(t.dtype).split(".")[1]
    np.testing.assert_allclose(
        np.asarray(j, dtype=np.float64), t.numpy().astype(np.float64), rtol=1e-6
    )


def test_manual_seed_makes_random_numbers_reproducible():
    janus.manual_seed(42)
    a = janus.rand(5), janus.randn(3), janus.randint(0, 10, (4,)), janus.randperm(6)
    janus.manual_seed(42)
    b = janus.rand(5), janus.randn(3), janus.randint(0, 10, (4,)), janus.randperm(6)
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    assert a[0].tolist() != janus.rand(5).tolist()


def test_manual_seed_reaches_cuda_generators_made_later():
    """A device's generator is made at its first random op; a seed given
    before that is its seed (PyTorch seeds CUDA lazily), so a script that
    seeds first draws the same numbers whether or not the device was used
    before."""
    from janus.random import cuda_generator

    janus.manual_seed(3)
    assert cuda_generator(7).initial_seed() == 3 and cuda_generator(7)._offset == 0
    janus.manual_seed(4)
    assert cuda_generator(7).initial_seed() == 4 and cuda_generator(8).initial_seed() == 4
    made = janus.seed()
    assert cuda_generator(9).initial_seed() == made == cuda_generator(7).initial_seed()


def test_random_values_have_the_right_ranges_and_moments():
    janus.manual_seed(0)
    u = janus.rand(20000, dtype=janus.float64)
    assert 0.0 <= u.min().item() and u.max().item() < 1.0 and abs(u.mean().item() - 0.5) < 0.01
    z = janus.randn(20000)
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1.0) < 0.03
    r = janus.randint(3, 7, (1000,))
    assert r.dtype is janus.int64 and set(r.tolist()) == {3, 4, 5, 6}
    p = janus.randperm(50)
    assert sorted(p.tolist()) == list(range(50))


def test_generator_state_round_trip():
    g = janus.Generator().manual_seed(7)
    state = g.get_state()
    first = janus.rand(4, generator=g).tolist()
    g.set_state(state)
    assert janus.rand(4, generator=g).tolist() == first


def test_bad_sizes_raise():
    with pytest.raises(RuntimeError, match="negative dimension"):
        janus.zeros(-1)
    with pytest.raises(TypeError):
        janus.zeros(2.5)
