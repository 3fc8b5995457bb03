"""Every capture test ends with the hook uninstalled, whatever it did."""

import pytest

from janus import _C

capture = _C.capture


@pytest.fixture(autouse=True)
def _uninstall_after_test():
    yield
    capture.uninstall()
    assert not capture.is_installed()
