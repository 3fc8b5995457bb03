"""The GPU suite runs on a real GPU when one is usable (cupy), and otherwise
on the host emulation of tests/fake_cuda.py, which checks janus's side of
every test (the CUDA runtime's Python, the JIT's device paths, the eager
"cuda" device) on any machine with g++. Tests marked `real_gpu` measure or
check the GPU itself and run on a real one only."""

import pytest

import fake_cuda
import janus
from fake_cuda import REAL_GPU


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="checks the GPU itself: needs a real one")
    for item in items:
        if "real_gpu" in item.keywords and not REAL_GPU:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def cuda_device(monkeypatch):
    """ "real" or "emulated": the device the test runs on."""
    if REAL_GPU:
        yield "real"
        return
    fake_cuda.installed(monkeypatch)
    janus.jit.reset()  # (no compiled frame outlives the emulation)
    yield "emulated"
    janus.jit.reset()
    rejected, fake_cuda.REJECTED[:] = list(fake_cuda.REJECTED), []
    assert not rejected, f"NVRTC rejected a generated source:\n{rejected[0]}"


@pytest.fixture
def made_programs(monkeypatch) -> list:
    """The CudaPrograms made from now on in the test, in order."""
    from janus.jit import cuda_program

    made = []
    original = cuda_program.CudaProgram.__init__

    def spy(self, *a, **k):
        original(self, *a, **k)
        made.append(self)

    monkeypatch.setattr(cuda_program.CudaProgram, "__init__", spy)
    return made
