"""Bad input raises the exception type PyTorch raises, with a message naming the op and shapes."""

import pytest

import janus

# (name, fn(L), exception type, words the janus message must contain)
CASES = [
    ("broadcast", lambda L: L.ones(2, 3) + L.ones(4), RuntimeError, ["size of tensor", "3", "4"]),
    ("matmul_shapes", lambda L: L.ones(2, 3) @ L.ones(4, 5), RuntimeError, ["2x3", "4x5"]),
    (
        "matmul_dtypes",
        lambda L: L.ones(2, 3) @ L.ones(3, 2, dtype=L.float64),
        RuntimeError,
        ["same dtype"],
    ),
    ("index_out_of_range", lambda L: L.ones(3)[5], IndexError, ["5", "size 3"]),
    (
        "index_select_range",
        lambda L: L.index_select(L.ones(3), 0, L.tensor([7])),
        IndexError,
        ["index_select", "out of"],
    ),
    (
        "gather_range",
        lambda L: L.gather(L.ones(2, 3), 1, L.tensor([[0, 9]])),
        RuntimeError,
        ["gather", "9"],
    ),
    ("reshape", lambda L: L.ones(2, 3).reshape(4, 2), RuntimeError, ["shape", "6"]),
    (
        "cat_shapes",
        lambda L: L.cat([L.ones(2, 3), L.ones(3, 2)]),
        RuntimeError,
        ["Sizes of tensors must match"],
    ),
    ("dim_range", lambda L: L.ones(2, 3).sum(5), IndexError, ["Dimension out of range"]),
    ("mean_int", lambda L: L.ones(3, dtype=L.int64).mean(), RuntimeError, ["mean"]),
    (
        "int_requires_grad",
        lambda L: L.ones(3, dtype=L.int64).requires_grad_(),
        RuntimeError,
        ["floating point"],
    ),
    ("item_many", lambda L: L.ones(3).item(), RuntimeError, ["3 elements"]),
    ("bool_ambiguous", lambda L: bool(L.ones(3)), RuntimeError, ["ambiguous"]),
    ("inplace_cast", lambda L: L.ones(3, dtype=L.int64).add_(1.5), RuntimeError, ["Float", "Long"]),
    ("expand", lambda L: L.ones(2, 3).expand(4, 3), RuntimeError, ["expanded size"]),
    (
        "embedding_range",
        lambda L: L.nn.functional.embedding(L.tensor([5]), L.ones(3, 2)),
        IndexError,
        ["index out of range"],
    ),
]


@pytest.mark.parametrize("name,fn,exc,words", CASES, ids=[c[0] for c in CASES])
def test_janus_raises_like_pytorch(name, fn, exc, words):
    with pytest.raises(exc) as info:
        fn(janus)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"
    torch = pytest.importorskip("torch")
    with pytest.raises(exc):
        fn(torch)


def test_messages_name_the_op_and_input_shapes():
    with pytest.raises(RuntimeError) as info:
        janus.where(janus.ones(2, dtype=janus.bool), janus.ones(3), janus.ones(4))
    assert "where()" in str(info.value) and "(3,)" in str(info.value)


def test_backward_twice_raises_runtime_error():
    x = janus.ones(2, requires_grad=True)
    y = (x.sigmoid()).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_state_is_unchanged_after_a_failed_op():
    x = janus.ones(2, 3)
    with pytest.raises(RuntimeError):
        x.add_(janus.ones(4))
    assert x.tolist() == [[1.0] * 3] * 2 and x._version == 0
