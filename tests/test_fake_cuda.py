"""The emulated CUDA device (tests/fake_cuda.py) refuses what a GPU would
refuse or run differently, so the GPU suite run on it catches such bugs in
the CUDA runtime: work on streams a capture does not span, waits on events
from outside it, forked streams not joined back, and a missing event wait
between streams (which the adversarial order makes read stale data)."""

import pytest

import fake_cuda

pytestmark = pytest.mark.skipif(fake_cuda.REAL_GPU, reason="checks the emulation, not a GPU")


@pytest.fixture
def cp(monkeypatch):
    return fake_cuda.installed(monkeypatch)


def _fill(cp, memory, value, stream):
    cp.cuda.runtime.memsetAsync(memory.ptr, value, 4, stream.ptr)


def _read(memory) -> int:
    return int(fake_cuda._at(memory.ptr, 1)[0])


def _forked(cp, main, side, join=True):
    """Captures main -> side -> main (fork, work on side, join) and returns
    the graph."""
    memory = cp.cuda.alloc(4)
    fork, joined = cp.cuda.Event(), cp.cuda.Event()
    main.begin_capture()
    try:
        fork.record(main)
        side.wait_event(fork)
        _fill(cp, memory, 7, side)
        if join:
            joined.record(side)
            main.wait_event(joined)
    finally:
        graph = main.end_capture()
    return graph, memory


def test_a_fork_joined_back_captures_and_replays(cp):
    main, side = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    graph, memory = _forked(cp, main, side)
    assert _read(memory) == 0  # (captured, not run)
    graph.launch(main)
    main.synchronize()
    assert _read(memory) == 7


def test_a_fork_not_joined_back_fails_the_capture(cp):
    main, side = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    with pytest.raises(RuntimeError, match="not joined back"):
        _forked(cp, main, side, join=False)


def test_a_stream_that_only_waited_must_join_back_too(cp):
    main, side = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    fork = cp.cuda.Event()
    main.begin_capture()
    fork.record(main)
    side.wait_event(fork)
    with pytest.raises(RuntimeError, match="not joined back"):
        main.end_capture()


def test_work_on_a_stream_outside_the_capture_is_refused(cp):
    main, other = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    memory = cp.cuda.alloc(4)
    main.begin_capture()
    try:
        with pytest.raises(RuntimeError, match="outside the capture"):
            _fill(cp, memory, 1, other)
    finally:
        main.end_capture()


def test_a_wait_on_an_event_recorded_before_the_capture_is_refused(cp):
    main, side = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    before = cp.cuda.Event()
    before.record(side)
    main.begin_capture()
    try:
        with pytest.raises(RuntimeError, match="recorded outside it"):
            main.wait_event(before)
    finally:
        main.end_capture()


def test_work_missing_an_event_wait_between_streams_reads_stale_data(cp):
    """A copy on `side` that should wait for `main`'s fill runs first in one
    of the two orders the emulation alternates between."""
    main, side = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    seen = set()
    for _ in range(2):
        source, target = cp.cuda.alloc(4), cp.cuda.alloc(4)
        _fill(cp, source, 5, main)
        cp.cuda.runtime.memcpyAsync(target.ptr, source.ptr, 4, 3, side.ptr)  # (no wait)
        main.synchronize()
        seen.add(_read(target))
    assert seen == {0, 5}
