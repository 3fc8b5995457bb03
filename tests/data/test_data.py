"""Datasets, samplers, the DataLoader and default_collate."""

import collections

import numpy as np
import pytest

import janus
from janus.utils.data import (
    ConcatDataset,
    DataLoader,
    RandomSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def test_batches_in_order_with_and_without_drop_last():
    ds = TensorDataset(janus.arange(10), janus.arange(10) * 10)
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][1].tolist() == [0, 10, 20, 30]
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2


def test_shuffle_is_reproducible_with_manual_seed():
    ds = TensorDataset(janus.arange(20))
    janus.manual_seed(3)
    first = [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True)]
    janus.manual_seed(3)
    second = [b[0].tolist() for b in DataLoader(ds, batch_size=5, shuffle=True)]
    assert first == second
    assert sorted(sum(first, [])) == list(range(20)) and sum(first, []) != list(range(20))


def test_random_sampler_with_replacement():
    sampler = RandomSampler(range(5), replacement=True, num_samples=50)
    values = list(sampler)
    assert len(values) == 50 and set(values) <= set(range(5))


def test_random_split_sizes_and_disjointness():
    parts = random_split(range(10), [7, 3], generator=janus.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [7, 3]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    parts = random_split(range(10), [0.5, 0.5])
    assert [len(p) for p in parts] == [5, 5]
    with pytest.raises(ValueError):
        random_split(range(10), [3, 3])


def test_subset_and_concat():
    assert Subset(list("abcde"), [4, 0])[0] == "e"
    both = ConcatDataset([list("ab"), list("cde")])
    assert len(both) == 5 and both[3] == "d" and both[-1] == "e"


def test_tensor_dataset_rejects_mismatched_sizes():
    with pytest.raises(AssertionError, match="Size mismatch"):
        TensorDataset(janus.zeros(3), janus.zeros(4))


Point = collections.namedtuple("Point", ["x", "y"])


def test_default_collate_structures():
    batch = [
        {
            "image": np.ones((2, 2), dtype=np.float32),
            "label": 1,
            "score": 0.5,
            "name": "a",
            "pair": (janus.tensor([1.0]), 3),
            "pt": Point(1, 2.0),
        },
        {
            "image": np.zeros((2, 2), dtype=np.float32),
            "label": 0,
            "score": 1.5,
            "name": "b",
            "pair": (janus.tensor([2.0]), 4),
            "pt": Point(3, 4.0),
        },
    ]
    out = default_collate(batch)
    assert out["image"].shape == (2, 2, 2) and out["image"].dtype is janus.float32
    assert out["label"].dtype is janus.int64 and out["label"].tolist() == [1, 0]
    assert out["score"].dtype is janus.float64
    assert out["name"] == ["a", "b"]
    assert out["pair"][0].tolist() == [[1.0], [2.0]] and out["pair"][1].tolist() == [3, 4]
    assert isinstance(out["pt"], Point) and out["pt"].y.tolist() == [2.0, 4.0]


def test_default_collate_matches_pytorch():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    batch = [(np.arange(3, dtype=np.float32), 1, 2.5), (np.ones(3, dtype=np.float32), 2, 0.5)]
    for j, t in zip(default_collate(batch), torch_collate(batch)):
        assert j.tolist() == t.tolist() and j.dtype.name == str(t.dtype).split(".")[1]


class _PerSample(TensorDataset):
    """A TensorDataset the loader must index one sample at a time."""


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_dataset_batches_are_the_stacked_samples(shuffle, monkeypatch):
    """The loader indexes a TensorDataset once per tensor and batch; the
    batches equal default_collate of the samples (values, dtypes, shapes,
    gradients), in the same order."""
    rng = np.random.default_rng(0)
    x = janus.tensor(rng.standard_normal((11, 3)), dtype=janus.float32, requires_grad=True)
    y, w = janus.arange(11), janus.tensor(rng.standard_normal(11))

    def batches(dataset):
        janus.manual_seed(5)
        return list(DataLoader(dataset, batch_size=4, shuffle=shuffle))

    want = batches(_PerSample(x, y, w))
    # Fetching must not go through __getitem__ (one op per sample).
    monkeypatch.setattr(TensorDataset, "__getitem__", None)
    got = batches(TensorDataset(x, y, w))
    monkeypatch.undo()
    assert len(got) == len(want) == 3
    for g, e in zip(got, want):
        assert isinstance(g, tuple) and len(g) == 3
        for a, b in zip(g, e):
            assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    sum(g[0].sum() for g in got).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((11, 3), np.float32))


def test_other_batches_are_fetched_sample_by_sample():
    """Index lists of other kinds and custom collate functions see samples."""
    ds = TensorDataset(janus.arange(6))
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return default_collate(samples)

    assert [b[0].tolist() for b in DataLoader(ds, batch_size=4, collate_fn=collate)] == [
        [0, 1, 2, 3],
        [4, 5],
    ]
    assert seen == [4, 2]
    loader = DataLoader(ds, batch_sampler=[[np.int64(5), np.int64(-1)], [-2, 0]])
    assert [b[0].tolist() for b in loader] == [[5, 5], [4, 0]]
    with pytest.raises(IndexError):
        list(DataLoader(ds, batch_sampler=[[1, 6]]))
