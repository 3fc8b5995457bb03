"""Random numbers: counter-based Philox generators, shared by eager and compiled code.

A `Generator` is (seed, offset). Each random op draws from the Philox4x32-10
stream at `offset` and advances it by the words it used (see
csrc/runtime/rng/philox.h for the stream's definition), so a compiled graph can
reproduce eager's numbers from the same state, on CPU (`janus._C`) and on GPU
(the same generator in kernels/philox.cu).
"""

from __future__ import annotations

import numpy as np

from . import _C, dtypes
from .device import _default as _default_device
from .device import device as Device
from .ops import meta as M
from .ops.registry import apply, declare
from .tensor import Tensor, _make

DEFAULT_SEED = 67280421310721  # PyTorch's default initial seed


class Generator:
    """A random-number generator (PyTorch's `torch.Generator`).

    >>> import janus
    >>> g = janus.Generator().manual_seed(0)
    >>> janus.rand(2, generator=g).shape
    janus.Size([2])
    """

    def __init__(self, device="cpu"):
        self.device = Device(device)
        self._seed = DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if not -(2**63) <= seed < 2**64:
            raise RuntimeError(f"Overflow when unpacking long: seed {seed} out of range")
        self._seed = seed & 0xFFFFFFFFFFFFFFFF
        self._offset = 0
        return self

    def seed(self) -> int:
        import os

        self.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        return _make(np.array([self._seed, self._offset], dtype=np.uint64).view(np.int64))

    def set_state(self, state: Tensor) -> Generator:
        values = np.asarray(state._data if isinstance(state, Tensor) else state)
        if values.shape != (2,):
            raise RuntimeError("Generator.set_state expects a state from Generator.get_state")
        seed, offset = values.astype(np.int64).view(np.uint64)
        self._seed, self._offset = int(seed), int(offset)
        return self

    def _take(self, words: int) -> tuple[int, int]:
        """(seed, offset) for an op that uses `words` words; advances the offset."""
        state = (self._seed, self._offset)
        self._offset += words
        return state


default_generator = Generator("cpu")
_cuda_generators: dict = {}
# The seed janus.manual_seed (or seed) last gave every CUDA generator, made
# or not: one made later, at a device's first random op, starts from it (as
# PyTorch seeds CUDA lazily); None until then.
_cuda_seed: int | None = None


def cuda_generator(index: int = 0) -> Generator:
    gen = _cuda_generators.get(index)
    if gen is None:
        gen = _cuda_generators[index] = Generator(Device("cuda", index))
        if _cuda_seed is not None:
            gen.manual_seed(_cuda_seed)
    return gen


def generator_states() -> dict:
    """Every default generator made so far (the CPU's, and each CUDA
    device's) -> its (seed, offset) now."""
    gens = (default_generator, *_cuda_generators.values())
    return {gen: (gen._seed, gen._offset) for gen in gens}


def generator_for(device, generator: Generator | None) -> Generator:
    if generator is not None:
        return generator
    device = Device(device)
    return default_generator if device.type == "cpu" else cuda_generator(device.index)


def manual_seed(seed: int) -> Generator:
    """Seeds every default generator (CPU and CUDA)."""
    global _cuda_seed
    default_generator.manual_seed(seed)
    _cuda_seed = default_generator.initial_seed()
    for gen in _cuda_generators.values():
        gen.manual_seed(seed)
    return default_generator


def seed() -> int:
    global _cuda_seed
    s = _cuda_seed = default_generator.seed()
    for gen in _cuda_generators.values():
        gen.manual_seed(s)
    return s


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(state: Tensor) -> None:
    default_generator.set_state(state)


# ----- the random ops: no tensor inputs; the stream position is an attribute -----

_ALIGN = 4  # ops start on a Philox block boundary


def words_needed(kind: str, dtype: dtypes.dtype, numel: int) -> int:
    """Words an op draws: one per float32 uniform, two per float64 uniform, one per
    normal value rounded up to pairs; rounded up to whole blocks."""
    if kind == "normal":
        words = numel + (numel & 1)
    else:
        words = numel * (2 if dtype is dtypes.float64 else 1)
    return -(-words // _ALIGN) * _ALIGN


def _fill(kind, shape, dtype, seed, offset, device):
    dev = Device(device)
    np_dtype = dtypes._BY_NAME[dtype].np
    if dev.type == "cpu":
        out = np.empty(shape, dtype=np_dtype)
        (_C.philox_normal_ if kind == "normal" else _C.philox_uniform_)(out, seed, offset)
        return out
    from . import backend

    cp = backend.cupy()
    with cp.cuda.Device(dev.index):
        out = cp.empty(shape, dtype=np_dtype)
        fill = _C.cuda_philox_normal_ if kind == "normal" else _C.cuda_philox_uniform_
        fill(out.data.ptr, out.size, dtype, seed, offset, cp.cuda.get_current_stream().ptr)
        return out


def _random_meta(shape, dtype, seed, offset, device):
    return M.Meta(tuple(shape), dtypes._BY_NAME[dtype])


UNIFORM = declare(
    "philox_uniform",
    impl=lambda xp, shape, dtype, seed, offset, device: _fill(
        "uniform", shape, dtype, seed, offset, device
    ),
    meta=_random_meta,
    differentiable=False,
)
NORMAL = declare(
    "philox_normal",
    impl=lambda xp, shape, dtype, seed, offset, device: _fill(
        "normal", shape, dtype, seed, offset, device
    ),
    meta=_random_meta,
    differentiable=False,
)


def _draw(op, kind, shape, dtype, device, generator) -> Tensor:
    dtype = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if not dtype.is_floating_point:
        raise RuntimeError(f"\"check_uniform_bounds\" not implemented for '{dtype.name}'")
    device = Device(device if device is not None else (_default_device[0] or "cpu"))
    gen = generator_for(device, generator)
    numel = 1
    for s in shape:
        numel *= s
    # float16 is drawn as float32 and narrowed (the stream is defined for 32/64 bits).
    draw_dtype = dtypes.float32 if dtype is dtypes.float16 else dtype
    seed_, offset = gen._take(words_needed(kind, draw_dtype, numel))
    out = apply(
        op, shape=tuple(shape), dtype=draw_dtype.name, seed=seed_, offset=offset, device=str(device)
    )
    if draw_dtype is not dtype:
        from .ops.conversion import to_dtype

        out = to_dtype(out, dtype)
    return out


def uniform(shape, dtype=None, device=None, generator=None) -> Tensor:
    return _draw(UNIFORM, "uniform", shape, dtype, device, generator)


def normal_(shape, dtype=None, device=None, generator=None) -> Tensor:
    return _draw(NORMAL, "normal", shape, dtype, device, generator)
