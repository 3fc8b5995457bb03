"""`DataLoader`: batches from a dataset, in order or shuffled.

Loading runs in the calling process; `num_workers` is accepted for
compatibility and ignored (janus's datasets are in memory).

A `TensorDataset` batched by `default_collate` is fetched with one indexing
per tensor: stacking the rows `t[i]` of a batch's indices is `t[indices]`,
the same values, dtype and gradient, without an indexing op per sample.
"""

from __future__ import annotations

from .collate import default_collate
from .dataset import TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


class DataLoader:
    """Iterates over `dataset` in batches.

    >>> import janus
    >>> from janus.utils.data import DataLoader, TensorDataset
    >>> loader = DataLoader(TensorDataset(janus.arange(5)), batch_size=2)
    >>> [b[0].tolist() for b in loader]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        generator=None,
        **kwargs,
    ):
        if batch_sampler is not None and (
            batch_size != 1 or shuffle or sampler is not None or drop_last
        ):
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, "
                "shuffle, sampler, and drop_last"
            )
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.num_workers, self.generator = num_workers, generator
        if sampler is None:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        self.sampler = sampler
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_sampler = batch_sampler
        self.collate_fn = (
            collate_fn
            if collate_fn is not None
            else (
                default_collate
                if batch_size is not None or batch_sampler is not None
                else _identity
            )
        )

    def __iter__(self):
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        # (exactly a TensorDataset: a subclass may index differently)
        rows = type(self.dataset) is TensorDataset and self.collate_fn is default_collate
        for indices in self.batch_sampler:
            if rows and indices and all(type(i) is int for i in indices):
                yield _gather_rows(self.dataset.tensors, indices)
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        if self.batch_sampler is None:
            return len(self.sampler)
        return len(self.batch_sampler)


def _identity(x):
    return x


def _gather_rows(tensors, indices) -> tuple:
    """default_collate([dataset[i] for i in indices]) of a TensorDataset."""
    from ...creation import tensor
    from ...dtypes import int64

    by_device = {}
    out = []
    for t in tensors:
        if t.device not in by_device:
            by_device[t.device] = tensor(list(indices), dtype=int64, device=t.device)
        out.append(t[by_device[t.device]])
    return tuple(out)
