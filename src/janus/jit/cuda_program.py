"""Compiled graphs on an NVIDIA GPU: generated kernels and cuBLAS, captured
once into a CUDA graph over several streams and replayed (Nimble's
ahead-of-time scheduling).

`CudaProgram(graph)` runs the default passes, generates one kernel per node
(cuda_codegen.py; compiled with NVRTC by cupy, which caches the binary on
disk by source hash), plans one arena for every intermediate result
(`plan_memory` with the streams' concurrency taken into account; the arena
comes from cupy's memory pool, so eager tensors and programs share one
cache), and assigns nodes to streams (`assign_streams`: chains of the
transitive reduction, synchronized by events only across chains).

A call records nothing new when it can replay:
- the first call captures every step into a CUDA graph, reading each input
  and writing each in-place target (`into`) at the address it has in that
  call, then launches it;
- later calls launch the same graph. An input that came at another address
  than at capture is from then on copied into a slot of the program's own
  (staged) and the graph is captured again, once per such input: in a
  training loop the parameters stay where they are (read in place, never
  copied) and only the batch is copied in;
- inputs that come as host (numpy) arrays, numbers each call makes from
  its entry state, are packed into one host buffer and copied into a
  device area of the program's own before the replay (one copy per call);
- results go to new cupy arrays, copied from the program's output area
  after the replay; in-place targets are written by the graph's last
  kernels, which read each target's address from a slot of that device
  area: a target at another address than the last call's (a buffer the
  caller made anew) patches its slot, with no capture.

Speculation asserts set a flag in device memory. The commit kernels read it
and write nothing when it is set, so a failed run changes no caller buffer;
the host reads the flag once after the replay (only graphs with asserts
synchronize) and raises `AssertionFailed`.
"""

from __future__ import annotations

import os
import threading
import weakref

import numpy as np

from .. import _C, backend
from .cuda_codegen import NoKernel, lower
from .cuda_steps import BLOCK, COUNT_ASSERT, INDEX_ASSERT, Gemm
from .program import _NUMPY, AssertionFailed, InputsOverlap, ShapeSpeculationError, _copy

_ALIGN = 256
_WORKSPACE = 8 << 20  # cuBLAS scratch: graph capture needs one given up front

# Copies a staged output to the caller's buffer, whose address it reads from
# device memory (`to[0]`, patched per call), unless an assert failed.
_COMMIT = r"""
JANUS_KERNEL void janus_commit4(const unsigned* a0, unsigned* const* to, i64 n,
                               const int* flag) {
  if (flag[0] != 0) return;
  unsigned* r0 = to[0];
  JANUS_FOR(i, n) r0[i] = a0[i];
}
JANUS_KERNEL void janus_commit1(const unsigned char* a0, unsigned char* const* to, i64 n,
                               const int* flag) {
  if (flag[0] != 0) return;
  unsigned char* r0 = to[0];
  JANUS_FOR(i, n) r0[i] = a0[i];
}
"""


def _align(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _ptr(array) -> int:
    return array.data.ptr


def _as_input(a, dtype, shape):
    """`a` as the graph reads an input: C-contiguous, of the input's dtype
    and shape. What already is (a training loop's parameters and batches)
    is passed as it is: a copy or a reshape is a cupy call each, a few
    microseconds of host time per input per call."""
    if a.dtype == dtype and a.shape == shape and a.flags.c_contiguous:
        return a
    xp = np if type(a) is np.ndarray else backend.cupy()
    return xp.ascontiguousarray(a, dtype=dtype).reshape(shape)


def _byte_extent(a) -> tuple:
    """The device bytes array `a` spans, [first, last), whatever its
    strides; empty if it has no elements."""
    start = _ptr(a)
    if a.flags.c_contiguous:  # (the common case: parameters, batches)
        return start, start + a.nbytes
    if a.size == 0:
        return start, start
    low = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
    high = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0)
    return start + low, start + high + a.itemsize


def _check_apart(inputs, written) -> None:
    """For a call that writes buffers in place: raises InputsOverlap where two
    of its device inputs, or the buffers it only writes (`x.copy_(y)`),
    share memory (`f(a, a)`, overlapping views), which the graph, traced
    with them apart, does not follow (as the CPU runtime checks)."""
    device_array = backend.cupy().ndarray  # (host inputs are the call's own copies)
    arrays = [a for a in inputs if isinstance(a, device_array)]
    seen = {id(a) for a in arrays}
    arrays += [b for b in written if id(b) not in seen]
    extents = sorted(e for e in map(_byte_extent, arrays) if e[0] != e[1])
    for before, after in zip(extents, extents[1:]):
        if after[0] < before[1]:
            raise InputsOverlap("two inputs of the call share memory")


class _SideStreams(threading.local):
    """The streams captures fork onto, shared by the programs of a thread. A
    captured graph keeps the dependencies its streams and events made, not
    the streams: it replays on its program's own stream, and the others
    are used only while capturing, which a thread does one program at a
    time. (An LSTM step's program has 111 chains; a stream each, per
    program, would hold thousands for a TreeLSTM's programs.)"""

    def __init__(self):
        self.cupy, self.streams = None, []

    def take(self, n: int) -> list:
        cp = backend.cupy()
        if self.cupy is not cp:  # (another cupy: the test suite's emulation and back)
            self.cupy, self.streams = cp, []
        while len(self.streams) < n:
            self.streams.append(cp.cuda.Stream(non_blocking=True))
        return self.streams[:n]


_SIDE_STREAMS = _SideStreams()


class CudaProgram:
    """A graph compiled for the GPU. `call(arrays, rng_shift=0, into=None)`
    takes one cupy array per graph input and returns one per output; `into`
    maps output indices to caller arrays updated in place (after the last
    step, and only when no assert failed). Raises `NoKernel` at
    construction when a node has no CUDA kernel yet."""

    def __init__(self, graph, passes=None, staged_outputs=(), streams: bool | None = None):
        cp = backend.cupy()
        if streams is None:  # JANUS_CUDA_STREAMS=0: one stream (for comparisons)
            streams = os.environ.get("JANUS_CUDA_STREAMS", "1") != "0"
        graph = _copy(graph)
        for name in _C.ir.pass_names() if passes is None else passes:
            graph.run_pass(name)
        if not getattr(_C, "has_cuda", False):
            raise NoKernel("janus was built without its CUDA part (cuBLAS)")
        self.graph = graph
        self.lowered = low = lower(graph)
        self.staged_outputs = set(staged_outputs)
        self.inputs = [(v.name, _NUMPY[v.dtype], tuple(v.shape)) for v in graph.inputs()]
        self.outputs = [v.name for v in graph.outputs()]
        self.input_index = {name: k for k, (name, _, _) in enumerate(self.inputs)}
        input_names = set(self.input_index)

        # Streams: node -> stream, and the events that order chains.
        n_nodes = len(low.steps)
        if streams:
            assignment = graph.assign_streams()
            self.node_stream = list(assignment["stream"])
            self.n_streams = max(1, assignment["streams"])
            self.syncs = [tuple(s) for s in assignment["syncs"]]
        else:
            self.node_stream, self.n_streams, self.syncs = [0] * n_nodes, 1, []
        self.waits: dict = {}
        for u, v in self.syncs:
            self.waits.setdefault(v, []).append(u)
        self.signals = {u for u, _ in self.syncs}

        # Memory: planned intermediates, then the outputs, scratch values,
        # the assert flag and cuBLAS's workspace, each aligned.
        # A reshape of a planned result is that result's bytes: it shares
        # its block and launches nothing. (Of an input or into an output,
        # buffers the caller owns, it stays a copy.) A split's results that
        # their readers read in place in its source (low.views) share the
        # source's block too, which so lives while they are read.
        nodes = graph.node_list()
        reshapes = {
            outs[0][0]: (at, operands[0])
            for at, (op, operands, _, outs, _) in enumerate(nodes)
            if op == "reshape" and isinstance(operands[0], str)
        }
        aliases = [(src, out) for out, (_, src) in reshapes.items()]
        aliases += [(src, out) for out, src in low.views.items()]
        plan = graph.plan_memory(streams=streams, aliases=aliases)
        for out in plan["aliased"]:
            if out in reshapes:
                low.steps[reshapes[out][0]] = []
        for out, src in low.views.items():
            # A view of a planned value must share its block: kernels that
            # do not read it in place (a GEMM) read it at its own address.
            if src in plan["offsets"] and out not in plan["aliased"]:
                raise NoKernel(f"%{out} could not share %{src}'s memory")
        self.arena_bytes_planned = plan["arena_bytes"]
        self.unshared_bytes = plan["unshared_bytes"]
        offsets = dict(plan["offsets"])
        top = _align(plan["arena_bytes"])
        for name in list(dict.fromkeys(self.outputs)) + low.scratch:
            if name in input_names or name in offsets:
                continue
            offsets[name] = top
            top = _align(top + self._nbytes(name))
        self.flag_offset = top
        self.rng_offset = top = _align(top + 4)  # the call's random-stream shift (int64)
        # cuBLAS workspaces: GEMMs that may run at once need one each (they
        # corrupt a shared one); ordered GEMMs share. (One per stream took
        # 888 MiB for an LSTM step's 111 streams; it needs 4.)
        self.workspace_offset = top = _align(top + 8)
        gemms = [i for i, steps in enumerate(low.steps) if any(isinstance(s, Gemm) for s in steps)]
        slots = graph.exclusive_slots(gemms, streams=streams)
        self.workspace_slot = dict(zip(gemms, slots))  # node index -> workspace
        self.arena_bytes = top + _WORKSPACE * (max(slots, default=0) + 1)
        self.offsets = offsets
        self.arena = cp.cuda.alloc(self.arena_bytes)
        self.base = self.arena.ptr

        self.module = cp.RawModule(code=low.source + _COMMIT, options=("--std=c++17",))
        self.functions = {name: self.module.get_function(name) for name in low.kernels}
        self.commit4 = self.module.get_function("janus_commit4")
        self.commit1 = self.module.get_function("janus_commit1")
        self.streams = [cp.cuda.Stream(non_blocking=True)] + _SIDE_STREAMS.take(self.n_streams - 1)
        _C.cuda_gemm(False, False, 1, 1, 1, 1, 0, 0, 0, 0.0, 0.0, "float32",  # creates the handle
                     self.base, self.base, self.base, self.streams[0].ptr,
                     self.base + self.workspace_offset, _WORKSPACE)  # fmt: skip

        # Events are made here: creating them while capturing is not allowed.
        self.start_event = cp.cuda.Event(disable_timing=True)
        self.node_events = {u: cp.cuda.Event(disable_timing=True) for u in self.signals}
        self.join_events = [cp.cuda.Event(disable_timing=True) for _ in self.streams[1:]]
        self.ready_event = cp.cuda.Event(disable_timing=True)  # caller's stream -> replay
        self.done_event = cp.cuda.Event(disable_timing=True)  # replay -> caller's stream
        self.cuda_graph = None
        self.direct: dict = {}  # input index -> array read in place by the captured graph
        self.staged_inputs: dict = {}  # input index -> the program's own copy
        # Inputs that come as host (numpy) arrays: numbers the call makes
        # from its entry state (a changing lr, a slice's positions). They
        # are packed into one host buffer and copied into a device area of
        # their own with one copy per call, before the replay, so the
        # captured graph reads them at fixed addresses. The same area holds
        # the in-place targets' addresses, which the commit kernels read.
        self.host_inputs: dict = {}  # input index -> byte offset in the area
        self.target_slots: dict = {}  # output index -> byte offset of its address
        self.host_area = None
        self.host_stage = np.zeros(0, np.uint8)
        self.area_addresses = None  # the target addresses the area holds now
        self.captures = 0
        self.replays = 0
        self.addresses: dict = {}  # graph input name -> address read at the last capture
        self.uses_rng = low.uses_rng  # (a scan of the steps: once, not per call)
        self.rng_shift = np.zeros(1, np.int64)  # the shift in the ("rng",) slot
        cp.cuda.runtime.memset(self.base + self.rng_offset, 0, 8)
        PROGRAMS.add(self)

    # ----- layout -----

    def _nbytes(self, name: str) -> int:
        dtype, shape = self.lowered.types[name]
        return int(np.prod(shape, dtype=np.int64)) * np.dtype(_NUMPY[dtype]).itemsize

    def _workspace(self, node: int) -> int:
        """The cuBLAS workspace of `node` (one with GEMM steps)."""
        return self.base + self.workspace_offset + self.workspace_slot[node] * _WORKSPACE

    def _address(self, name, inputs) -> int:
        if name == ("flag",):
            return self.base + self.flag_offset
        if name == ("rng",):
            return self.base + self.rng_offset
        if name in self.offsets:
            return self.base + self.offsets[name]
        return inputs[name]

    # ----- capture -----

    def _launch_steps(self, inputs: dict) -> None:
        """Enqueues every step on its stream (captured or not): forks from
        stream 0, waits on the events of cross-chain edges, joins back, then
        commits the in-place targets on stream 0."""
        cp = backend.cupy()
        main = self.streams[0]
        cp.cuda.runtime.memsetAsync(self.base + self.flag_offset, 0, 4, main.ptr)
        self.start_event.record(main)
        for s in self.streams[1:]:
            s.wait_event(self.start_event)
        events = self.node_events
        for index in range(len(self.lowered.steps)):
            stream = self.streams[self.node_stream[index]]
            for u in self.waits.get(index, ()):
                stream.wait_event(events[u])
            self._launch_node(index, inputs, stream)
            if index in self.signals:
                events[index].record(stream)
        for s, done in zip(self.streams[1:], self.join_events):
            done.record(s)
            main.wait_event(done)
        flag = np.uint64(self.base + self.flag_offset)
        for at, slot in self.target_slots.items():
            src = self._address(self.outputs[at], inputs)
            nbytes = self._nbytes(self.outputs[at])
            kernel, n = (self.commit4, nbytes // 4) if nbytes % 4 == 0 else (self.commit1, nbytes)
            blocks = max(1, min(4096, -(-n // BLOCK)))
            with main:
                kernel(
                    (blocks,),
                    (BLOCK,),
                    (np.uint64(src), np.uint64(self.host_area.ptr + slot), np.int64(n), flag),
                )

    def _launch_node(self, index: int, inputs: dict, stream) -> None:
        """Enqueues node `index`'s steps on `stream`."""
        for step in self.lowered.steps[index]:
            ptrs = [self._address(a, inputs) for a in step.args]
            if hasattr(step, "kernel"):
                args = tuple(np.uint64(p) for p in ptrs)
                with stream:
                    self.functions[step.kernel]((step.blocks,), (BLOCK,), args)
            else:
                item = 4 if step.dtype == "float32" else 8
                ptrs = [p + off * item for p, off in zip(ptrs, step.offsets)]
                _C.cuda_gemm(
                    step.trans_a, step.trans_b, step.m, step.n, step.k, step.batch,
                    step.stride_a, step.stride_b, step.stride_c, 1.0, step.beta, step.dtype,
                    *ptrs, stream.ptr, self._workspace(index), _WORKSPACE,
                )  # fmt: skip

    def _capture(self, inputs: dict) -> None:
        main = self.streams[0]
        main.synchronize()
        main.begin_capture()
        try:
            self._launch_steps(inputs)
        finally:
            graph = main.end_capture()
        self.cuda_graph = graph
        self.captures += 1

    # ----- calls -----

    def call(self, arrays, rng_shift: int = 0, into=None) -> list:
        cp = backend.cupy()
        if len(arrays) != len(self.inputs):
            raise TypeError(f"the graph takes {len(self.inputs)} inputs, got {len(arrays)}")
        into = dict(into or {})
        if into:
            _check_apart(arrays, into.values())
        current = cp.cuda.get_current_stream()
        host = [k for k, a in enumerate(arrays) if type(a) is np.ndarray]
        arrays = [_as_input(a, dtype, shape) for a, (_, dtype, shape) in zip(arrays, self.inputs)]
        recapture = self.cuda_graph is None
        if host != list(self.host_inputs) or set(into) != set(self.target_slots):
            self._place_host_area(host, sorted(into), arrays)
            recapture = True
        if self.cuda_graph is not None:
            for k, a in enumerate(arrays):
                if k in self.direct and _ptr(self.direct[k]) != _ptr(a):
                    # Moved since the capture: read through a slot of our own.
                    del self.direct[k]
                    self.staged_inputs[k] = cp.empty_like(a)
                    recapture = True
        if recapture:
            for k, a in enumerate(arrays):
                if k not in self.staged_inputs and k not in self.host_inputs:
                    self.direct[k] = a
            addresses = {}
            for k, (name, _, _) in enumerate(self.inputs):
                if k in self.host_inputs:
                    addresses[name] = self.host_area.ptr + self.host_inputs[k]
                    continue
                held = self.staged_inputs.get(k, self.direct.get(k))
                addresses[name] = _ptr(held)
            self.addresses = addresses
            self._capture(addresses)
        # The replay reads what the caller's stream wrote, and vice versa.
        main = self.streams[0]
        self.ready_event.record(current)
        main.wait_event(self.ready_event)
        if self.uses_rng and rng_shift != self.rng_shift[0]:
            # Random ops read the shift from device memory, so the captured
            # graph stays valid; the copy is ordered before the replay.
            self.rng_shift[0] = rng_shift
            cp.cuda.runtime.memcpyAsync(
                self.base + self.rng_offset, self.rng_shift.ctypes.data, 8, 1, main.ptr
            )
        for k, slot in self.staged_inputs.items():
            cp.cuda.runtime.memcpyAsync(_ptr(slot), _ptr(arrays[k]), slot.nbytes, 3, main.ptr)
        targets = [_ptr(into[at]) for at in self.target_slots]
        if self.host_inputs or (targets and targets != self.area_addresses):
            stage = self.host_stage
            for k, at in self.host_inputs.items():
                data = arrays[k].reshape(-1).view(np.uint8)
                stage[at : at + data.size] = data
            for at, address in zip(self.target_slots.values(), targets):
                stage[at : at + 8] = np.array([address], np.uint64).view(np.uint8)
            # (From pageable memory: the copy has read the buffer when the
            # call returns, so the next call may refill it.)
            cp.cuda.runtime.memcpyAsync(
                self.host_area.ptr, stage.ctypes.data, stage.size, 1, main.ptr
            )
            self.area_addresses = targets
        # Outputs that are inputs are copied before the replay, whose last
        # kernels may write the same buffer in place (`a = x * 1` folded to
        # x, then `x.add_(1)`): the output is the value on entry.
        outs = [into.get(at) for at in range(len(self.outputs))]
        for at, name in enumerate(self.outputs):
            if outs[at] is None and name in self.input_index:
                outs[at] = self._copied_out(name, self.addresses[name], main)
        self.cuda_graph.launch(main)
        self.replays += 1
        for at, name in enumerate(self.outputs):
            if outs[at] is None:
                outs[at] = self._copied_out(name, self.base + self.offsets[name], main)
        self.done_event.record(main)
        current.wait_event(self.done_event)
        if self.lowered.asserts:
            flag = np.empty(1, np.int32)
            cp.cuda.runtime.memcpyAsync(
                flag.ctypes.data, self.base + self.flag_offset, 4, 2, main.ptr
            )
            main.synchronize()
            if flag[0]:
                ident = int(flag[0])
                raise AssertionFailed(ident, self.lowered.asserts.get(ident, ""))
        return outs

    def _copied_out(self, name: str, src: int, stream):
        """A new cupy array for output `name`, copied on `stream` from `src`."""
        cp = backend.cupy()
        dtype, shape = self.lowered.types[name]
        out = cp.empty(shape, dtype=_NUMPY[dtype])
        if out.nbytes:
            cp.cuda.runtime.memcpyAsync(_ptr(out), src, out.nbytes, 3, stream.ptr)
        return out

    def _place_host_area(self, host: list, targets: list, arrays: list) -> None:
        """Lays out, in a device area of their own, the host inputs `host`
        (input indices), each aligned, and the addresses of the in-place
        targets `targets` (output indices); and the host buffer they are
        packed in."""
        cp = backend.cupy()
        layout, top = {}, 0
        for k in host:
            layout[k] = top
            top = _align(top + arrays[k].nbytes)
        for k in host:  # (an input read in place before is now copied in)
            self.direct.pop(k, None)
            self.staged_inputs.pop(k, None)
        self.host_inputs = layout
        self.target_slots = {at: top + 8 * n for n, at in enumerate(targets)}
        top += 8 * len(targets)
        self.host_area = cp.cuda.alloc(_align(top)) if top else None
        self.host_stage = np.zeros(top, np.uint8)
        self.area_addresses = None

    def __call__(self, *arrays) -> list:
        return self.call(list(arrays))

    # ----- profiling (bench/cuda_step.py, bench/cuda_streams.py) -----

    def replay_ms(self, repeat: int = 50) -> float:
        """GPU time of one replay of the captured graph, from events around
        `repeat` back-to-back replays (after a call has captured it)."""
        return self._timed(lambda stream: self.cuda_graph.launch(stream), repeat)

    def kernel_ms(self, repeat: int = 20) -> list:
        """Per node: the GPU time of its steps alone. Each node's steps are
        captured `repeat` times over into a CUDA graph of their own, on one
        stream, and one launch of it is timed, so neither host launches nor
        other nodes are counted (the gaps between kernels inside a graph
        are). Their sum is what a replay would take if the program's
        scheduling cost nothing and no two nodes overlapped. Steps write
        only the arena, never a caller's buffer."""
        main, times = self.streams[0], []
        for at in range(len(self.lowered.steps)):
            if not self.lowered.steps[at]:  # (an alias: nothing to run)
                times.append(0.0)
                continue
            main.begin_capture()
            try:
                for _ in range(repeat):
                    self._launch_node(at, self.addresses, main)
            finally:
                graph = main.end_capture()
            times.append(self._timed(graph.launch, 3) / repeat)
        return times

    def _timed(self, enqueue, repeat: int) -> float:
        cp = backend.cupy()
        main = self.streams[0]
        enqueue(main)  # warm
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record(main)
        for _ in range(repeat):
            enqueue(main)
        stop.record(main)
        stop.synchronize()
        return cp.cuda.get_elapsed_time(start, stop) / repeat


# Live programs, for benchmarks and diagnostics that look into what the JIT built.
PROGRAMS: weakref.WeakSet[CudaProgram] = weakref.WeakSet()


class CudaCompiledGraph:
    """`compile_graph(..., device="cuda")`: the CudaProgram as `program` and
    the optimized graph, called like the CPU's CompiledGraph."""

    def __init__(self, graph, passes=None, staged_outputs=()):
        self.program = CudaProgram(graph, passes, staged_outputs)
        self.graph = self.program.graph

    def __call__(self, *arrays, rng_shift: int = 0) -> list:
        """As the CPU program's call: an index out of range raises IndexError,
        a data-dependent shape other than the graph's ShapeSpeculationError
        (the kernels flag them; nothing was committed)."""
        try:
            return self.program.call(list(arrays), rng_shift)
        except AssertionFailed as failed:
            if failed.assert_id == INDEX_ASSERT:
                raise IndexError(f"index out of range ({failed.message})") from None
            if failed.assert_id == COUNT_ASSERT:
                raise ShapeSpeculationError(failed.message) from None
            raise

    def fallback_ops(self) -> list:
        return []
