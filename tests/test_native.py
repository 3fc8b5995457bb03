"""The native core janus._C: the Philox stream shared by eager, CPU runtime and CUDA
kernels, and the CPU runtime's GEMM."""

import numpy as np
import pytest

import janus
from janus import _C


def test_float32_uniform_is_the_top_24_bits_of_each_word():
    out = np.empty(10, dtype=np.float32)
    used = _C.philox_uniform_(out, 123, 8)
    words = _C.philox_words(123, 8, 10)
    np.testing.assert_array_equal(out, (words >> 8).astype(np.float32) * np.float32(2**-24))
    assert used == 12


def test_float64_uniform_combines_two_words():
    out = np.empty(3, dtype=np.float64)
    assert _C.philox_uniform_(out, 5, 0) == 8
    w = _C.philox_words(5, 0, 6).astype(np.uint64)
    expected = ((w[0::2] >> 5) * 2**26 + (w[1::2] >> 6)).astype(np.float64) * 2.0**-53
    np.testing.assert_array_equal(out, expected)


def test_normals_follow_box_muller_on_word_pairs():
    out = np.empty(5, dtype=np.float64)
    assert _C.philox_normal_(out, 9, 0) == 8
    w = _C.philox_words(9, 0, 6)
    u1 = ((w[0::2] >> 8) + 1) * 2.0**-24
    u2 = (w[1::2] >> 8) * 2.0**-24
    r = np.sqrt(-2 * np.log(u1))
    expected = np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], 1).reshape(-1)
    np.testing.assert_allclose(out, expected[:5], rtol=1e-12)


def test_bad_outputs_raise_value_error():
    with pytest.raises(ValueError, match="float32 or float64"):
        _C.philox_uniform_(np.empty(3, dtype=np.int64), 0, 0)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.philox_uniform_(np.empty((3, 4), dtype=np.float32)[:, ::2], 0, 0)
    frozen = np.empty(3, dtype=np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.philox_normal_(frozen, 0, 0)


def test_eager_random_ops_draw_from_the_generator_stream():
    g = janus.Generator().manual_seed(77)
    a = janus.rand(6, generator=g)
    b = janus.rand(3, generator=g)
    words = _C.philox_words(77, 0, 12)
    np.testing.assert_array_equal(a.numpy(), (words[:6] >> 8) * np.float32(2**-24))
    # The second op starts on the next block boundary (word 8).
    np.testing.assert_array_equal(b.numpy(), (words[8:11] >> 8) * np.float32(2**-24))
    assert g.get_state().tolist()[1] == 12


def test_build_info_reports_the_build():
    info = _C.build_info()
    assert info["version"] == janus.__version__
    assert isinstance(info["cuda"], bool) and info["cuda"] == _C.has_cuda


def test_runtime_gemm_matches_numpy_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float32, 1e-4), (np.float64, 1e-12)):
        a = rng.standard_normal((7, 13)).astype(dtype)
        b = rng.standard_normal((13, 5)).astype(dtype)
        np.testing.assert_allclose(_C.matmul_2d(a, b), a @ b, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="cannot be multiplied"):
        _C.matmul_2d(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        _C.matmul_2d(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64))
    assert isinstance(_C.build_info()["blas"], bool)
