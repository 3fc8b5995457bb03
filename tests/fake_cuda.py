"""A CUDA device emulated on the CPU, for machines with no GPU: enough of
cupy's API for janus's "cuda" device and its CUDA runtime to run, so their
Python logic (the JIT's device paths, CudaProgram's capture, replay,
staging, commits and asserts) is tested in CI. It checks what janus asks of
the GPU, never the GPU itself: the GPU suite (tests/cuda) still runs on a
real one.

- Arrays are `FakeArray`, a numpy subclass that janus tells apart from CPU
  arrays (`type(a) is np.ndarray`), with cupy's `.data.ptr`, `.device` and
  `.get()`; reductions return 0-d arrays, as cupy's do.
- Device memory is host memory; pointers are host addresses.
- Generated kernels are compiled as C++ through the prelude's host branch
  (tests/jit/cuda_host.py); a launch runs its grid as at most 2 blocks of
  4 threads (`THREADS`), each block's threads at once, as OS threads, so
  the kernels' grid-stride loops, block reductions and barriers run as
  on a GPU (with fewer threads).
  Where NVRTC is installed, each source is also compiled by it for the
  H100, as cupy compiles it on a GPU machine.
- Work waits in per-stream queues and runs, when the host must see it, in
  an adversarial order that keeps only what events order (the newest
  stream first, or the oldest, in turn): a missing event wait between
  streams gives wrong results.
  Capturing on a stream records every launch, memset, memcpy, GEMM, event
  record and wait until the capture ends; the graph queues them again.
- cuBLAS is numpy's matmul over the pointed-to memory; janus's Philox fills
  are the CPU ones (the same stream of numbers).

`installed(monkeypatch)` puts it in place of cupy for one test.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
import shutil
import sys
import types

import numpy as np

import janus
from janus import _C, backend

# Whether a real GPU is usable (then tests/cuda runs on it), and whether the
# emulation can run (it compiles the generated kernels with g++).
REAL_GPU = janus.cuda.is_available()
USABLE = REAL_GPU or shutil.which("g++") is not None

# ----- arrays -----


class _Memory:
    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = ptr


class _Device:
    id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_DEVICE = _Device()


class FakeArray(np.ndarray):
    """A "device" array: numpy's, told apart by its type."""

    @property
    def data(self):
        return _Memory(self.ctypes.data)

    @property
    def device(self):
        return _DEVICE

    def get(self):
        return np.array(self)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        # (cupy returns 0-d arrays where numpy returns scalars)
        return np.asarray(array).view(FakeArray)


def _device(value):
    if isinstance(value, np.ndarray):
        return value if type(value) is FakeArray else value.view(FakeArray)
    if isinstance(value, np.generic):
        return np.asarray(value).view(FakeArray)
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    if isinstance(value, list):
        return [_device(v) for v in value]
    return value


def _forwarded(fn):
    def call(*args, **kwargs):
        return _device(fn(*args, **kwargs))

    call.__name__ = getattr(fn, "__name__", "fn")
    return call


def _at(ptr: int, nbytes: int) -> np.ndarray:
    """The bytes at host address `ptr`, as a writable uint8 array."""
    return np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))


def _typed_at(ptr: int, count: int, dtype) -> np.ndarray:
    return _at(ptr, count * np.dtype(dtype).itemsize).view(dtype)


# ----- streams, events, capture -----
#
# Work waits in its stream's queue until the host must see it (a
# synchronize, a copy to the host, or the caller's stream waiting on an
# event), then every queue runs in an adversarial order: the newest stream
# with work it may run goes first (the oldest, every other time), so a
# kernel that lacks an event wait on the work it reads runs too early and
# reads stale data, as it could on a GPU.


class _Capture:
    """(stream, item) pairs recorded while a stream captures (None: queue
    them on their streams), with CUDA's rules for the streams it spans: the
    capturing stream (`origin`) is in it; another stream joins it by
    waiting on an event recorded in it (a fork); work on a stream outside
    it, or a wait on an event recorded outside it, is refused (CUDA would
    run it at once, not in the graph, or fail); and when it ends, the last
    work of every stream must be waited on by the origin, directly or
    through other streams (else CUDA fails with "unjoined")."""

    recording: list | None = None
    origin = None
    streams: set = set()  # the streams in the capture
    dangling: set = set()  # those whose last work no other stream waits on yet
    last: dict = {}  # stream -> position in `recording` of its last work or wait


def _captured(stream, item) -> None:
    """Records `item` into the capture under way, checking its rules."""
    kind, event = item[0], item[1]
    if kind == "wait":
        recorded = getattr(event, "captured", None)
        if recorded is None or recorded[0] is not _Capture.recording:
            raise RuntimeError("fake CUDA: a capture waits on an event recorded outside it")
        source, position = recorded[1], recorded[2]
        if source is not stream and _Capture.last.get(source, -1) <= position:
            _Capture.dangling.discard(source)  # (its work up to there is waited on)
        _Capture.streams.add(stream)
    elif stream not in _Capture.streams:
        raise RuntimeError(
            "fake CUDA: work on a stream outside the capture (it forks from the capturing "
            "stream by waiting on an event recorded there)"
        )
    position = len(_Capture.recording)
    if kind == "record":
        event.captured = (_Capture.recording, stream, position)
    else:  # (a stream that only waited is in the capture, and must join back too)
        _Capture.last[stream] = position
        _Capture.dangling.add(stream)
    _Capture.recording.append((stream, item))


_STREAMS: dict = {}  # ptr -> Stream


def _stream(ptr_or_stream):
    if isinstance(ptr_or_stream, Stream):
        return ptr_or_stream
    if ptr_or_stream is None:
        return get_current_stream()
    return _STREAMS[int(ptr_or_stream)]


def _put(stream, item) -> None:
    """Queues `item` ("run", fn), ("record", event) or ("wait", event) on
    `stream`, or records it into the capture under way. A record or wait is
    tied to the event's latest record at the time it is issued, as CUDA's."""
    if _Capture.recording is not None:
        _captured(stream, item)
        return
    kind = item[0]
    if kind == "record":
        item[1].issued += 1
        item = ("record", item[1], item[1].issued)
    elif kind == "wait":
        item = ("wait", item[1], item[1].issued)
    stream.queue.append(item)


def _enqueue(work, stream=None) -> None:
    _put(_stream(stream), ("run", work))


class _Order:
    newest_first = True  # flips at every drain: both orders run in a test that calls twice


def _drain() -> None:
    """Runs every queued item: each time, the newest (or, every other
    drain, the oldest) stream whose next item may run (a wait may once the
    record it is tied to has run). Newest first runs a fork's branches
    before the work they should wait for; oldest first runs a join's
    continuation before the branches it should wait for."""
    _Order.newest_first = not _Order.newest_first
    streams = sorted(_STREAMS.values(), key=lambda s: -s.ptr if _Order.newest_first else s.ptr)
    while True:
        for stream in streams:
            if not stream.queue:
                continue
            kind, target, *rest = stream.queue[0]
            if kind == "wait" and target.done < rest[0]:
                continue
            stream.queue.pop(0)
            if kind == "run":
                target()
            elif kind == "record":
                target.done = max(target.done, rest[0])
            break
        else:
            if any(s.queue for s in streams):
                raise RuntimeError("fake CUDA: a stream waits on an event that is never recorded")
            return


class _Graph:
    def __init__(self, works):
        self.works = works

    def launch(self, stream=None):
        for target, item in self.works:
            _put(target, item)


class Stream:
    _next_ptr = 1

    def __init__(self, non_blocking: bool = False, null: bool = False):
        self.ptr = 0 if null else Stream._next_ptr
        if not null:
            Stream._next_ptr += 1
        self.queue: list = []
        _STREAMS[self.ptr] = self

    def __enter__(self):
        _State.stack.append(self)
        return self

    def __exit__(self, *exc):
        _State.stack.pop()
        return False

    def synchronize(self):
        if _Capture.recording is not None:
            raise RuntimeError("synchronize while capturing (not allowed in CUDA)")
        _drain()

    def wait_event(self, event):
        _put(self, ("wait", event))
        if self is get_current_stream() and _Capture.recording is None:
            _drain()  # (the caller's work runs on the host at once: it must see the event's)

    def begin_capture(self):
        if _Capture.recording is not None:
            raise RuntimeError("a capture is already running")
        _Capture.recording, _Capture.origin = [], self
        _Capture.streams, _Capture.dangling, _Capture.last = {self}, set(), {}

    def end_capture(self):
        if self is not _Capture.origin:
            raise RuntimeError("fake CUDA: a capture ends on another stream than it began on")
        works, _Capture.recording = _Capture.recording, None
        unjoined = _Capture.dangling - {self}
        if unjoined:
            raise RuntimeError(
                f"fake CUDA: {len(unjoined)} stream(s) forked in the capture are not joined "
                "back into the capturing stream (cudaErrorStreamCaptureUnjoined)"
            )
        return _Graph(works)


class _State:
    stack: list = []
    null = Stream(null=True)


class Event:
    def __init__(self, disable_timing: bool = False, **_):
        self.issued = self.done = 0

    def record(self, stream=None):
        _put(_stream(stream), ("record", self))

    def synchronize(self):
        _drain()


def get_current_stream():
    return _State.stack[-1] if _State.stack else _State.null


class _Allocation:
    def __init__(self, nbytes: int):
        self.buffer = np.zeros(max(1, nbytes) + 256, np.uint8)
        start = self.buffer.ctypes.data
        self.ptr = -(-start // 256) * 256  # (aligned as cudaMalloc's)


def _memset(ptr, value, nbytes, stream=None):
    _enqueue(lambda: _at(ptr, nbytes).fill(value), stream)


def _memcpy(dst, src, nbytes, kind=None, stream=None):
    def copy():
        ctypes.memmove(dst, src, nbytes)

    if kind == 1 and _Capture.recording is None:
        # Host to device from pageable memory: the source is read before
        # the call returns, as CUDA's staging does.
        data = bytes(_at(src, nbytes)) if nbytes else b""
        _enqueue(lambda: ctypes.memmove(dst, data, nbytes), stream)
        return
    _enqueue(copy, stream)
    if kind == 2 and _Capture.recording is None:
        _drain()  # (the host reads it after a synchronize; running now is one valid order)


runtime = types.SimpleNamespace(
    getDeviceCount=lambda: 1,
    getDevice=lambda: 0,
    setDevice=lambda index: None,
    deviceSynchronize=lambda: None,
    getDeviceProperties=lambda index: {"name": b"janus fake CUDA device (host emulation)"},
    memset=lambda ptr, value, nbytes: (_drain(), _memset(ptr, value, nbytes), _drain()),
    memsetAsync=_memset,
    memcpyAsync=_memcpy,
)


# ----- kernels -----


REJECTED: list = []  # NVRTC's errors for each source it rejected
THREADS = (2, 4)  # blocks at most, and threads per block, of an emulated launch


class CompileException(Exception):
    """cupy's, for a source NVRTC rejects."""


class RawModule:
    """The generated source, compiled for the host (blocks of threads per
    launch, `THREADS`). Where NVRTC is installed, the source is first compiled by it as on a
    GPU (a source the host accepts and NVRTC does not would fail only
    there); what it rejects raises, as cupy does, and is kept in
    `REJECTED`, which the GPU suite checks after each test (the JIT would
    run such a frame eagerly, which no result shows)."""

    def __init__(self, code: str, options=()):
        here = os.path.join(os.path.dirname(__file__), "jit")
        if here not in sys.path:
            sys.path.insert(0, here)
        import cuda_host  # the host compiler of generated sources

        if cuda_host.nvrtc() is not None:
            errors = cuda_host.compile_as_cuda(code)
            if errors:
                REJECTED.append(errors)
                raise CompileException(errors)
        self.library = cuda_host._library(code, threads=True)
        self.launch_on_threads = cuda_host.launch_on_threads

    def get_function(self, name: str):
        getattr(self.library, name)  # (an unknown kernel raises here, as cupy's does)

        def launch(grid, block, args):
            words = [int(a) for a in args]
            blocks = min(int(grid[0]), THREADS[0])
            _enqueue(lambda: self.launch_on_threads(self.library, name, words, blocks, THREADS[1]))

        return launch


def _gemm(ta, tb, m, n, k, batch, sa, sb, sc, alpha, beta, dtype, a, b, c, stream, ws, wsize):
    """cuBLAS's row-major C = alpha op(A) op(B) + beta C, over raw pointers."""

    def run():
        item = np.dtype(dtype)
        rows_a, cols_a = (k, m) if ta else (m, k)
        rows_b, cols_b = (n, k) if tb else (k, n)
        for at in range(batch):
            x = _typed_at(a + at * sa * item.itemsize, rows_a * cols_a, item).reshape(rows_a, -1)
            y = _typed_at(b + at * sb * item.itemsize, rows_b * cols_b, item).reshape(rows_b, -1)
            out = _typed_at(c + at * sc * item.itemsize, m * n, item).reshape(m, n)
            product = alpha * ((x.T if ta else x) @ (y.T if tb else y))
            out[...] = product + beta * out if beta else product

    _enqueue(run, stream)


def _philox(kind):
    fill = _C.philox_normal_ if kind == "normal" else _C.philox_uniform_

    def cuda_fill(ptr, size, dtype, seed, offset, stream):
        np_dtype = janus.dtypes._BY_NAME[dtype].np
        _enqueue(lambda: fill(_typed_at(ptr, size, np_dtype), seed, offset), stream)
        _drain()  # (eager: the array is read on the host at once)

    return cuda_fill


# ----- the module -----


def _forwarding(name: str, source) -> types.ModuleType:
    """A module whose functions are `source`'s, returning device arrays
    (submodules too: cupy.linalg, ...)."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # (find_spec asks)

    def __getattr__(attr):
        value = getattr(source, attr)
        if isinstance(value, types.ModuleType) and value.__name__.startswith("numpy"):
            return _forwarding(f"{name}.{attr}", value)
        if callable(value) and not isinstance(value, (type, np.ufunc)):
            return _forwarded(value)
        return value

    module.__getattr__ = __getattr__
    return module


def _module() -> types.ModuleType:
    fake = _forwarding("cupy", np)
    fake.ndarray = FakeArray

    def asarray(a, dtype=None, **kw):
        if type(a) is FakeArray:  # already on the device: no copy unless a cast
            return _device(np.asarray(a, dtype=dtype, **kw))
        return _device(np.array(a, dtype, **kw))  # host to device: new memory

    fake.asarray = asarray
    fake.array = lambda a, dtype=None, copy=True, **kw: _device(np.array(a, dtype, copy=copy, **kw))
    fake.asnumpy = lambda a: np.array(a)
    fake.get_array_module = lambda *a: fake
    fake.cuda = types.SimpleNamespace(
        runtime=runtime,
        Stream=Stream,
        Event=Event,
        Device=lambda index=0: _DEVICE,
        alloc=_Allocation,
        get_current_stream=get_current_stream,
        get_elapsed_time=lambda start, stop: 0.0,
    )
    fake.RawModule = RawModule
    return fake


FAKE = _module()


def _cupyx() -> dict:
    """cupyx.scipy.special.erf, which the eager erf uses on the device."""
    from janus.ops.elementwise import _erf_numpy

    special = types.ModuleType("cupyx.scipy.special")
    special.erf = lambda x: _device(np.asarray(_erf_numpy(np.asarray(x))))
    scipy = types.ModuleType("cupyx.scipy")
    scipy.special = special
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = scipy
    return {"cupyx": cupyx, "cupyx.scipy": scipy, "cupyx.scipy.special": special}


def installed(monkeypatch) -> types.ModuleType:
    """The fake in place of cupy (and of janus's CUDA extension entries)
    until the test ends."""
    monkeypatch.setitem(sys.modules, "cupy", FAKE)  # (the native guards import it by name)
    for name, module in _cupyx().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(backend, "_cupy", FAKE)
    monkeypatch.setattr(backend, "ARRAY_TYPES", (np.ndarray, FakeArray))
    for name, value in (
        ("has_cuda", True),
        ("cuda_gemm", _gemm),
        ("cuda_philox_normal_", _philox("normal")),
        ("cuda_philox_uniform_", _philox("uniform")),
    ):
        monkeypatch.setattr(_C, name, value, raising=False)
    return FAKE
