"""Shared test setup: makes `harness` importable from every test folder, and
runs the suite with the JIT's frame hook off.

Importing janus turns the hook on, as a user wants; a test suite does not:
with it on, every helper a test calls turns hot and is translated, which
makes tests depend on each other's order and the suite many times slower.
A test of the hook turns it on for itself (`hook_on`), or compiles through
`janus.jit(fn)`, which needs no hook.
"""

import os
import sys

import pytest

import janus
from janus import _C

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU, or its emulation (tests/cuda)")
    config.addinivalue_line("markers", "real_gpu: checks the GPU itself (never emulated)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    janus.jit.disable()


@pytest.fixture
def hook_on():
    """The frame hook on for the test (resume functions and inner frames
    compile through it)."""
    if not janus.jit.config.enabled:
        pytest.skip("the JIT is off (JANUS_JIT=0)")
    was_on = _C.capture.is_installed()
    janus.jit.enable()
    yield
    if not was_on:
        janus.jit.disable()
