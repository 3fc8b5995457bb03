"""Fixtures of the JIT tests."""

import pytest

import janus
from janus import _C


@pytest.fixture
def hook_on():
    """Resume functions compile through the frame hook: on for the test."""
    if not janus.jit.config.enabled:
        pytest.skip("the JIT is off (JANUS_JIT=0)")
    was_on = _C.capture.is_installed()
    janus.jit.enable()
    yield
    if not was_on:
        janus.jit.disable()
