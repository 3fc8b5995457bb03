"""A description of the machine and software a run measured, for the report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return None


def _gpu() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe() -> dict:
    memory = _memory_gib()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1) if memory else None,
        "gpu": _gpu(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("janus", "numpy", "torch", "jax", "cupy-cuda13x")},
    }


def summary(info: dict) -> str:
    """One line, e.g. for the README."""
    parts = [f"{info['cpu']}, {info['cores']} logical cores"]
    if info["memory_gib"]:
        parts[0] += f", {info['memory_gib']:.0f} GiB"
    if info["gpu"]:
        parts.append(info["gpu"])
    parts.append(f"Python {info['python']}")
    parts += [f"{p} {v}" for p, v in info["versions"].items() if v]
    return "; ".join(parts)
