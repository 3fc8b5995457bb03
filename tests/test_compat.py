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
