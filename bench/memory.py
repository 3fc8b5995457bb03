"""Peak memory of a run. On the CPU: the process's peak resident set (each
mode runs in its own process, so this is that mode's footprint, framework
included). On CUDA: the peak of the framework's device allocator."""

from __future__ import annotations

import resource


def reset(package: str, device: str) -> None:
    if device == "cuda" and package == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_mb(package: str, device: str) -> float:
    if device != "cuda":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    if package == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    if package == "jax":
        import jax

        return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
    import cupy

    # The pool keeps freed blocks, so its size is the peak of what was in use.
    return cupy.get_default_memory_pool().total_bytes() / 2**20
