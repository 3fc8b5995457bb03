"""The janus benchmark suite: `python -m bench` (see `bench/__main__.py`).

Standalone micro-benchmarks live beside it as scripts (`eager_overhead.py`,
`capture_overhead.py`, `gemm.py`, `memory_plan.py`)."""
