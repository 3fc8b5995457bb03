"""Clear errors for PyTorch names janus does not have yet (never a silent wrong answer)."""

from __future__ import annotations


def missing(namespace: str, name: str) -> AttributeError:
    """The error for `namespace.name` where PyTorch has the name and janus does not."""
    if name.startswith("__") and name.endswith("__"):
        return AttributeError(f"module '{namespace}' has no attribute '{name}'")
    return AttributeError(
        f"{namespace}.{name} is not implemented in janus yet (janus covers the common part of "
        "PyTorch's API; see the README for what exists)"
    )
