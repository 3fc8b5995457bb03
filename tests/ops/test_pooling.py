"""Max pooling's answer where the window's maximum is not a plain value,
against PyTorch: windows of padding and -inf, NaNs, windows that hold only
padding. The returned indices and the gradients must agree."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(5)


def _with_neg_inf():
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    x[0, :, :2, :] = -np.inf  # windows at the top edge see padding and -inf only
    x[1, 1] = -np.inf  # a whole plane
    x[1, 2, 3:, 4:] = -np.inf
    return x


def _with_nans():
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[0, 1, 0, 0] = np.nan  # two NaNs in some windows
    x[0, 1, 5, 5] = np.nan
    return x


CASES = {
    "-inf, 3x3 stride 2 pad 1": (_with_neg_inf, dict(kernel_size=3, stride=2, padding=1)),
    "-inf, 2x2 pad 1": (_with_neg_inf, dict(kernel_size=2, padding=1)),
    "-inf, ceil mode": (_with_neg_inf, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    "-inf, dilated": (_with_neg_inf, dict(kernel_size=3, padding=1, dilation=2)),
    "-inf, unbatched": (lambda: _with_neg_inf()[0], dict(kernel_size=(3, 2), padding=(1, 1))),
    "nan, 3x3 stride 1 pad 1": (_with_nans, dict(kernel_size=3, stride=1, padding=1)),
    "nan, 2x2": (_with_nans, dict(kernel_size=2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_max_pool2d_indices_and_gradients_match_pytorch(name):
    torch = torch_or_skip()
    make, kwargs = CASES[name]
    x = make()
    weights = rng.standard_normal(
        tuple(torch.nn.functional.max_pool2d(torch.tensor(x), **kwargs).shape)
    ).astype(np.float32)
    results = []
    for L, F in ((janus, janus.nn.functional), (torch, torch.nn.functional)):
        t = L.tensor(x, requires_grad=True)
        values, indices = F.max_pool2d(t, return_indices=True, **kwargs)
        (values * L.tensor(weights)).sum().backward()
        results.append((values, indices, t.grad))
    for what, j, t in zip(("values", "indices", "grad"), *results):
        assert_close(j, t, what=f"{name}: {what}")


def test_a_window_of_padding_alone_answers_like_pytorch_and_passes_no_gradient():
    torch = torch_or_skip()
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    # dilation 5: the window's taps sit at -1 and 4, both outside a 4-wide input
    kwargs = dict(kernel_size=2, padding=1, dilation=5)
    t_values, t_indices = torch.nn.functional.max_pool2d(
        torch.tensor(x), return_indices=True, **kwargs
    )
    t = janus.tensor(x, requires_grad=True)
    values, indices = janus.nn.functional.max_pool2d(t, return_indices=True, **kwargs)
    assert_close(values, t_values, what="values")
    assert_close(indices, t_indices, what="indices")  # PyTorch's index lies past the plane
    # PyTorch's backward writes through that index out of bounds, so the
    # oracle stops at the forward: no input value was taken, no gradient flows.
    values.sum().backward()
    assert np.all(np.asarray(t.grad) == 0)


@pytest.mark.parametrize(
    "pool, kwargs",
    [
        ("max_pool2d", dict(kernel_size=2, stride=0)),
        ("max_pool2d", dict(kernel_size=2, dilation=0)),
        ("max_pool2d", dict(kernel_size=2, stride=-1)),
        ("avg_pool2d", dict(kernel_size=2, stride=(1, 0))),
    ],
)
def test_windows_that_cannot_slide_raise_like_pytorch(pool, kwargs):
    x = janus.zeros(1, 1, 4, 4)
    with pytest.raises(RuntimeError, match="stride|dilation"):
        getattr(janus.nn.functional, pool)(x, **kwargs)
