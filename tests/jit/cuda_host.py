"""Runs the CUDA code generator's output on the CPU: the generated source
compiled as C++ (the prelude's host branch: one block of one thread), its
steps run in order over one numpy buffer per value, GEMMs by numpy. It checks
what the kernels compute, not how the GPU schedules them."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile

import numpy as np

from janus import _C
from janus.jit.cuda_codegen import lower
from janus.jit.program import _NUMPY, _copy

_CACHE = os.path.join(tempfile.gettempdir(), "janus-cuda-host")


def have_compiler() -> bool:
    return shutil.which("g++") is not None


# The prelude's host branch for blocks of threads (JANUS_HOST_THREADS): a
# launch runs its blocks one after another, and each block's threads at once,
# as OS threads, so a kernel whose threads split the work wrongly, or do not
# meet at a barrier, fails on the host. Shared memory is static (one block at
# a time uses it); __syncthreads is a barrier that an exited thread leaves,
# as on the GPU; atomics take one lock.
HOST_THREADS = r"""
#define JANUS_HOST_THREADS
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>
using namespace std;
#define JANUS_KERNEL extern "C"
#define JANUS_SHARED static
#define JANUS_INF INFINITY
struct JanusDim { unsigned x; };
static thread_local JanusDim threadIdx = {0}, blockIdx = {0};
static JanusDim blockDim = {1}, gridDim = {1};

class JanusBarrier {
 public:
  explicit JanusBarrier(unsigned threads) : expected_(threads) {}
  void wait() {
    unique_lock<mutex> lock(m_);
    unsigned long round = round_;
    if (++arrived_ == expected_) return release();
    cv_.wait(lock, [&] { return round_ != round; });
  }
  void leave() {  // a thread that returned
    unique_lock<mutex> lock(m_);
    if (--expected_ > 0 && arrived_ == expected_) release();
  }
 private:
  void release() { arrived_ = 0; ++round_; cv_.notify_all(); }
  mutex m_;
  condition_variable cv_;
  unsigned expected_, arrived_ = 0;
  unsigned long round_ = 0;
};
static JanusBarrier* janus_barrier = nullptr;
#define JANUS_SYNC() janus_barrier->wait()

static mutex janus_atomics;
template <typename T, typename U> inline void janus_atomic_add(T* p, U v) {
  lock_guard<mutex> lock(janus_atomics);
  *p += v;
}
#define JANUS_ATOMIC_ADD(p, v) janus_atomic_add((p), (v))

// Calls kernel `fn` with `n` 8-byte arguments (every kernel parameter is a
// pointer or an i64, passed alike on x86-64 and arm64).
typedef unsigned long long janus_word;
template <size_t... I>
static void janus_call(void* fn, const janus_word* a, index_sequence<I...>) {
  reinterpret_cast<void (*)(decltype((void)I, janus_word())...)>(fn)(a[I]...);
}
template <size_t... N>
static void janus_dispatch(void* fn, size_t n, const janus_word* a, index_sequence<N...>) {
  using Caller = void (*)(void*, const janus_word*);
  static const Caller callers[] = {
      [](void* f, const janus_word* x) { janus_call(f, x, make_index_sequence<N>()); }...};
  callers[n](fn, a);
}

extern "C" int janus_host_launch(void* fn, int n, const janus_word* args, unsigned blocks,
                                 unsigned threads) {
  if (n < 0 || n > 48) return 1;
  gridDim.x = blocks;
  blockDim.x = threads;
  for (unsigned b = 0; b < blocks; ++b) {
    JanusBarrier barrier(threads);
    janus_barrier = &barrier;
    vector<thread> block;
    for (unsigned t = 0; t < threads; ++t) {
      block.emplace_back([=, &barrier] {
        blockIdx.x = b;
        threadIdx.x = t;
        janus_dispatch(fn, n, args, make_index_sequence<49>());
        barrier.leave();
      });
    }
    for (thread& th : block) th.join();
  }
  return 0;
}
"""


def _library(source: str, threads: bool = False):
    """The source compiled for the host: its kernels run as one thread, or,
    with `threads`, through janus_host_launch on blocks of threads."""
    if threads:
        source = HOST_THREADS + source
    os.makedirs(_CACHE, exist_ok=True)
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    path = os.path.join(_CACHE, f"{digest}.so")
    if not os.path.exists(path):
        src = os.path.join(_CACHE, f"{digest}.cpp")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run(
            ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-pthread", "-w", src, "-o",
             path + ".tmp"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        os.replace(path + ".tmp", path)
    return ctypes.CDLL(path)


def launch_on_threads(lib, kernel: str, args, blocks: int, threads: int) -> None:
    """Runs `kernel` of a `_library(..., threads=True)` on `blocks` blocks of
    `threads` threads; `args` are its pointers and integers."""
    words = (ctypes.c_ulonglong * max(1, len(args)))(*(int(a) for a in args))
    fn = ctypes.cast(getattr(lib, kernel), ctypes.c_void_p)
    if lib.janus_host_launch(fn, len(args), words, blocks, threads):
        raise ValueError(f"{kernel}: too many arguments ({len(args)})")


# What CudaProgram passes cupy's RawModule, plus the H100's architecture
# (cupy adds the GPU's own).
NVRTC_OPTIONS = ("--std=c++17", "--gpu-architecture=compute_90")


@functools.cache
def nvrtc():
    """NVRTC, the compiler cupy runs on a GPU machine (it needs no GPU):
    PyPI's nvidia-cuda-nvrtc (tools/setup_env.sh installs it) or the
    system's; None where neither is there."""
    candidates = []
    spec = importlib.util.find_spec("nvidia")
    for root in spec.submodule_search_locations if spec is not None else ():
        candidates += sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")))
    candidates = [c for c in candidates if "builtins" not in os.path.basename(c)]
    found = ctypes.util.find_library("nvrtc")
    for path in candidates + ([found] if found else []):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def have_cuda_compiler() -> bool:
    return nvrtc() is not None or shutil.which("nvcc") is not None


def _nvrtc_errors(lib, source: str) -> str:
    program = ctypes.c_void_p()
    status = lib.nvrtcCreateProgram(
        ctypes.byref(program), source.encode(), b"janus.cu", 0, None, None
    )
    if status:
        return f"nvrtcCreateProgram failed ({status})"
    try:
        options = (ctypes.c_char_p * len(NVRTC_OPTIONS))(*(o.encode() for o in NVRTC_OPTIONS))
        status = lib.nvrtcCompileProgram(program, len(NVRTC_OPTIONS), options)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(program, log)
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))
    if not status:
        return ""
    return log.value.decode(errors="replace") or f"NVRTC status {status}"


def compile_as_cuda(source: str) -> str:
    """Compiles a generated source as device code, as cupy does on a GPU
    machine: with NVRTC itself where it is installed, else nvcc to PTX
    (which also takes the prelude's CUDA branch, but includes CUDA's
    headers for it, as NVRTC does not). Returns the compiler's errors, or
    "" when it compiles. No GPU is needed."""
    lib = nvrtc()
    os.makedirs(_CACHE, exist_ok=True)
    compiler = "nvrtc" if lib is not None else "nvcc"
    digest = hashlib.sha256((compiler + source).encode()).hexdigest()[:24]
    done = os.path.join(_CACHE, f"{digest}.{compiler}-ok")
    if os.path.exists(done):
        return ""
    if lib is not None:
        errors = _nvrtc_errors(lib, source)
    else:
        src = os.path.join(_CACHE, f"{digest}.cu")
        with open(src, "w") as f:
            f.write(source)
        run = subprocess.run(
            ["nvcc", "--ptx", "-arch=sm_90", "-std=c++17", src, "-o", os.devnull],
            capture_output=True,
            text=True,
        )
        errors = run.stderr if run.returncode else ""
    if not errors:
        open(done, "w").close()
    return errors


def lowered(graph, passes=None):
    """`graph` after the passes (the default ones unless named), lowered."""
    graph = _copy(graph)
    for name in _C.ir.pass_names() if passes is None else passes:
        graph.run_pass(name)
    return graph, lower(graph)


def run_on_host(graph, *arrays, passes=None, rng_shift=0, threads=None):
    """(outputs, lowered, assert flag) of `graph` on `arrays`, through the
    generated kernels: each launch one thread, or with `threads=(blocks,
    threads per block)` that many, at once within a block."""
    graph, low = lowered(graph, passes)
    lib = _library(low.source, threads=threads is not None)
    buffers = {}
    for value, array in zip(graph.inputs(), arrays):
        buffers[value.name] = np.ascontiguousarray(array, dtype=_NUMPY[value.dtype])
    for name, (dtype, shape) in low.types.items():
        if name not in buffers and name not in low.views:
            buffers[name] = np.zeros(shape, dtype=_NUMPY[dtype])
    for name, source in low.views.items():  # (no kernel writes it: the plan's aliases)
        while source in low.views:
            source = low.views[source]
        dtype, shape = low.types[name]
        own = buffers[source].reshape(-1).view(np.uint8)
        size = int(np.prod(shape)) * np.dtype(_NUMPY[dtype]).itemsize
        buffers[name] = own[:size].view(_NUMPY[dtype]).reshape(shape)  # (readers read the source)
    flag = np.zeros(1, np.int32)
    slots = {("flag",): flag, ("rng",): np.array([rng_shift], np.int64)}

    def ptr(name):
        return (slots[name] if isinstance(name, tuple) else buffers[name]).ctypes.data

    for steps in low.steps:
        for step in steps:
            if hasattr(step, "kernel") and threads is not None:
                blocks = min(step.blocks, threads[0])
                launch_on_threads(lib, step.kernel, [ptr(a) for a in step.args], blocks, threads[1])
            elif hasattr(step, "kernel"):
                fn = getattr(lib, step.kernel)
                fn(*[ctypes.c_void_p(ptr(a)) for a in step.args])
            else:
                _gemm_on_host(step, *(buffers[n] for n in step.args))
    outs = [buffers[v.name].copy() for v in graph.outputs()]
    return outs, low, int(flag[0])


def _matrices(buffer, offset, stride, batch, rows, cols, transposed):
    """The `batch` row-major matrices a GEMM step reads from `buffer`."""
    flat = buffer.reshape(-1)
    shape = (cols, rows) if transposed else (rows, cols)
    out = [
        flat[offset + b * stride : offset + b * stride + rows * cols].reshape(shape)
        for b in range(batch)
    ]
    return [m.T if transposed else m for m in out]


def _gemm_on_host(step, a, b, c):
    m, n, k = step.m, step.n, step.k
    oa, ob, oc = step.offsets
    As = _matrices(a, oa, step.stride_a, step.batch, m, k, step.trans_a)
    Bs = _matrices(b, ob, step.stride_b, step.batch, k, n, step.trans_b)
    flat = c.reshape(-1)
    for at, (x, y) in enumerate(zip(As, Bs)):
        start = oc + at * step.stride_c
        view = flat[start : start + m * n]
        product = (x @ y).reshape(-1)
        view[...] = product + step.beta * view if step.beta else product  # beta 0: C unread
