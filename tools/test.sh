#!/usr/bin/env bash
# Installs what the tests need (tools/setup_env.sh) and runs every test:
# pytest on Python 3.11 and 3.12, the C++ tests under ctest, and, where nvcc is
# installed, a build of the CUDA sources (no GPU is needed to compile them).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup_env.sh

status=0
printf '\n== lint (ruff, clang-format)\n'
.venv/py311/bin/ruff check src tests bench examples || status=1
.venv/py311/bin/ruff format --check -q src tests bench examples || status=1
clang-format --dry-run -Werror csrc/*.cpp csrc/ir/*.{h,cpp} csrc/passes/*.{h,cpp} csrc/capture/*.{h,cpp} \
  csrc/runtime/*/*.{h,cpp} kernels/*.{cu,h} tests/csrc/*.cpp || status=1

printf '\n== C++ tests (ctest)\n'
cmake -S . -B build/ctest -G Ninja -DJANUS_BUILD_TESTS=ON -DJANUS_BUILD_PYTHON=OFF \
  -DJANUS_CUDA=OFF -DPython_EXECUTABLE="$PWD/.venv/py311/bin/python" >/dev/null
cmake --build build/ctest
ctest --test-dir build/ctest --output-on-failure || status=1

if command -v nvcc >/dev/null 2>&1; then
  printf '\n== CUDA build check (compile only)\n'
  deps=build/cuda-deps
  if [[ ! -f $deps/nvidia/cu13/include/cublas_v2.h || ! -f $deps/nvidia/cu13/include/nvrtc.h ]]; then
    # Headers only, from PyPI's wheels (the toolkit here lacks cuBLAS and NVRTC).
    .venv/py311/bin/python -m pip download -q --no-deps -d "$deps/wheels" nvidia-cublas \
      nvidia-cuda-nvrtc
    .venv/py311/bin/python - "$deps" <<'PY'
import pathlib, sys, zipfile
deps = pathlib.Path(sys.argv[1])
for wheel in (deps / "wheels").glob("*.whl"):
    with zipfile.ZipFile(wheel) as archive:
        headers = [n for n in archive.namelist() if "/include/" in n and n.startswith("nvidia/")]
        archive.extractall(deps, members=headers)
PY
    rm -rf "$deps/wheels"
  fi
  cmake -S . -B build/cuda-check -G Ninja -DJANUS_CUDA=ON -DJANUS_NVIDIA_ROOT="$PWD/$deps/nvidia" \
    -DPython_EXECUTABLE="$PWD/.venv/py311/bin/python" \
    -Dpybind11_DIR="$(.venv/py311/bin/python -m pybind11 --cmakedir)" >/dev/null
  cmake --build build/cuda-check || status=1
fi

# Python last, 3.11 (which has the PyTorch oracle) at the very end, so that the
# run closes with its summary.
for venv in .venv/py312 .venv/py311; do
  printf '\n== pytest on %s\n' "$("$venv/bin/python" --version)"
  "$venv/bin/python" -m pytest -q --doctest-modules tests src/janus "$@" || status=1
done

exit $status
