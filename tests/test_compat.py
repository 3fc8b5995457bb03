"""What scripts touch around the ops: devices, backends flags, grad modes, and the
error for names janus does not have."""

import pytest

import janus


def test_device_and_backend_queries_scripts_make():
    device = janus.device("cuda" if janus.cuda.is_available() else "cpu")
    assert janus.ones(2).to(device).device == device
    assert janus.backends.mps.is_available() is False
    janus.backends.cudnn.benchmark = True
    janus.backends.cudnn.deterministic = True
    assert janus.backends.cudnn.deterministic
    janus.use_deterministic_algorithms(True)
    assert janus.are_deterministic_algorithms_enabled()
    janus.use_deterministic_algorithms(False)
    assert janus.accelerator.is_available() == janus.cuda.is_available()
    assert (janus.accelerator.current_accelerator() is None) != janus.cuda.is_available()
    janus.cuda.manual_seed(0)
    janus.cuda.manual_seed_all(0)


def test_grad_mode_spellings():
    x = janus.ones(2, requires_grad=True)
    with janus.inference_mode():
        assert not (x * 2).requires_grad
    with janus.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_unsupported_names_raise_a_clear_error():
    for namespace, name in (
        (janus, "fft"),
        (janus.nn, "Transformer"),
        (janus.nn.functional, "grid_sample"),
        (janus.optim, "SparseAdam"),
    ):
        with pytest.raises(AttributeError, match="not implemented in janus yet"):
            getattr(namespace, name)
    with pytest.raises(AttributeError, match="Tensor.stft is not implemented"):
        _ = janus.ones(2).stft
    assert not hasattr(janus, "definitely_missing")


def test_in_place_random_fills_and_new_factories():
    janus.manual_seed(1)
    t = janus.empty(10000)
    t.uniform_(-2.0, 3.0)
    assert -2.0 <= t.min().item() and t.max().item() < 3.0
    assert abs(t.mean().item() - 0.5) < 0.05
    t.normal_(1.0, 0.5)
    assert abs(t.mean().item() - 1.0) < 0.02 and abs(t.std().item() - 0.5) < 0.02
    assert t.new_empty((2, 3)).shape == (2, 3) and t.new_ones(2).tolist() == [1.0, 1.0]
    b = janus.empty(10000).bernoulli_(0.25)
    assert abs(b.mean().item() - 0.25) < 0.02


def test_module_deepcopy_and_sparse_embedding():
    import copy

    emb = janus.nn.Embedding(5, 3, sparse=True)
    twin = copy.deepcopy(emb)
    assert twin.weight is not emb.weight and twin.weight.tolist() == emb.weight.tolist()
    emb(janus.tensor([1, 1, 4])).sum().backward()
    assert emb.weight.grad.shape == (5, 3)  # sparse=True gives a dense gradient
    assert emb.weight.grad[1].tolist() == [2.0, 2.0, 2.0]


def test_lbfgs_line_search_is_reported_missing():
    w = janus.zeros(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="line_search_fn"):
        janus.optim.LBFGS([w], line_search_fn="strong_wolfe")
