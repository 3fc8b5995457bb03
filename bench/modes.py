"""The modes a workload runs in, and the one place that decides how each mode
compiles a workload's step functions.

A mode that cannot run on this machine (a peer not installed, no GPU) raises
`Unavailable` and is skipped and named in the report; a mode that cannot run a
given workload correctly raises `Unsupported`: it is reported as such, never
run eagerly under a compiled label.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

MODES = (
    "janus-eager",
    "janus-jit",
    "torch-eager",
    "torch-compile",
    "torch-compile-ro",
    "jax-jit",
)
REFERENCE = "torch-eager"  # the mode every other one is compared with
FALLBACK_REFERENCE = "janus-eager"  # when PyTorch is not installed


class Unavailable(Exception):
    """The mode cannot run on this machine."""


class Unsupported(Exception):
    """The mode cannot run this workload correctly."""


def package(mode: str) -> str:
    return mode.split("-")[0]


def check(mode: str, device: str) -> None:
    """Raises `Unavailable` (with the reason) unless `mode` can run on `device`.
    Cheap: looks packages up without importing them."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    name = package(mode)
    if importlib.util.find_spec(name) is None:
        raise Unavailable(f"{name} is not installed")
    if mode == "torch-compile-ro" and device != "cuda":
        raise Unavailable("reduce-overhead (CUDA graphs) needs device cuda")
    if device == "cuda" and name == "janus" and importlib.util.find_spec("cupy") is None:
        raise Unavailable("janus on cuda needs cupy (the cuda extra)")


def check_device(mode: str, device: str) -> None:
    """The part of `check` that needs the package imported: is `device` there?"""
    if device != "cuda":
        return
    name = package(mode)
    if name == "torch" and not importlib.import_module("torch").cuda.is_available():
        raise Unavailable("this PyTorch build has no CUDA device")
    if name == "jax" and importlib.import_module("jax").default_backend() != "gpu":
        raise Unavailable("this JAX install has no GPU backend")
    if name == "janus":
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise Unavailable("no CUDA device")


def framework(mode: str):
    """The module a PyTorch-style workload is built with (janus or torch)."""
    module = importlib.import_module(package(mode))
    if mode == "janus-eager":
        module.jit.disable()  # the JIT is on at import: eager means without it
    return module


def _identity(fn, trace_unsafe=None):
    return fn


# The functions janus-jit compiled in this process (for `fallback_ops`).
janus_compiled: list = []


def _janus_jit(fn, trace_unsafe=None):
    """The transparent JIT when janus has it (`janus.jit.jit`); until then
    `janus.jit.trace`, which records one call and replays it, so it is used
    only where the workload says a recording stays valid."""
    import janus

    if hasattr(janus.jit, "jit"):
        compiled = janus.jit.jit(fn)
    elif trace_unsafe:
        raise Unsupported(f"janus.jit.trace cannot compile this step: {trace_unsafe}")
    else:
        compiled = janus.jit.trace(fn, warmup=1)
    janus_compiled.append(compiled)
    return compiled


def fallback_ops() -> list | None:
    """The ops janus-jit's compiled graphs ran through eager kernels (no
    native kernel yet), where the compiled functions can say (traces can)."""
    found = [f for f in janus_compiled if hasattr(f, "fallback_ops")]
    if not found:
        return None
    names = set()
    for f in found:
        for per_graph in f.fallback_ops():
            names.update([per_graph] if isinstance(per_graph, str) else per_graph)
    return sorted(names)


def jit_summary() -> dict | None:
    """What `janus.jit` did with the step functions of this run: translations,
    how many produced a graph, and the first reason one did not (a graph break
    or a skip). None for traces (which always compile)."""
    reports = [f.report for f in janus_compiled if hasattr(f, "report")]
    if not reports:
        return None
    import janus

    # Frames the import-time hook compiled on its own (hot code around the
    # step functions, e.g. a per-environment-step helper).
    hooked = getattr(janus.jit, "frontend", None)
    hooked = getattr(hooked, "reports", {})
    translations = [t for r in reports for t in r.compiles]
    reasons = [r.skipped for r in reports if r.skipped]
    reasons += [str(b) for t in translations for b in t.breaks]
    return {
        "functions": len(reports),
        "translations": len(translations),
        "graphs": sum(t.entry is not None for t in translations),
        "functions_without_graph": sum(
            not any(t.entry is not None for t in r.compiles) for r in reports
        ),
        "first_reason": _relative(reasons[0]) if reasons else None,
        "hook_graphs": sorted(
            _relative(r.name) for r in list(hooked.values()) if any(t.entry for t in r.compiles)
        ),
    }


def _relative(text: str) -> str:
    """`text` with this checkout's path left out of file names."""
    return text.replace(os.getcwd() + os.sep, "")


def _torch_compile(mode):
    def compile(fn, trace_unsafe=None):
        import torch

        return torch.compile(fn, mode=mode)

    return compile


def compiler(mode: str):
    """`compile(fn, trace_unsafe=None)` for `mode` (see bench/workloads)."""
    return {
        "janus-eager": _identity,
        "torch-eager": _identity,
        "janus-jit": _janus_jit,
        "torch-compile": _torch_compile(None),
        "torch-compile-ro": _torch_compile("reduce-overhead"),
    }[mode]
