#!/usr/bin/env bash
# Prepares this checkout for development and testing, idempotently:
#   - Debian packages the C++ tests need (GoogleTest);
#   - one virtual environment per supported Python (.venv/py311, .venv/py312),
#     each with the build and test dependencies and janus installed editable;
#   - NVRTC from PyPI in each (the tests compile generated CUDA kernels with it);
#   - PyTorch CPU in the 3.11 environment, the oracle for the tests (optional:
#     a warning, not a failure, where it cannot be installed).
# Usage: bash tools/setup_env.sh [--no-oracle]
set -euo pipefail
cd "$(dirname "$0")/.."

oracle=1
[[ "${1:-}" == "--no-oracle" ]] && oracle=0

log() { printf '\n== %s\n' "$*"; }

missing=()
for package in libgtest-dev clang-format; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if (( ${#missing[@]} )); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A Python interpreter of version $1 (e.g. 3.12): pyenv's, else one on PATH,
# else pyenv installs it (where pyenv and its sources can be reached).
find_python() {
  local version=$1 root="${PYENV_ROOT:-$HOME/.pyenv}" candidate
  for candidate in "$root"/versions/"$version".*/bin/python"$version"; do
    [[ -x "$candidate" ]] && { echo "$candidate"; return; }
  done
  if command -v "python$version" >/dev/null 2>&1; then
    command -v "python$version"
    return
  fi
  if command -v pyenv >/dev/null 2>&1 && pyenv install -s "$version" >&2; then
    for candidate in "$root"/versions/"$version".*/bin/python"$version"; do
      [[ -x "$candidate" ]] && { echo "$candidate"; return; }
    done
  fi
  echo "error: Python $version not found (install it with pyenv: pyenv install $version)" >&2
  return 1
}

for version in 3.11 3.12; do
  venv=".venv/py${version/./}"
  if [[ ! -x "$venv/bin/python" ]]; then
    log "creating $venv"
    "$(find_python "$version")" -m venv "$venv"
  fi
  log "installing janus into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" numpy \
    "bytecode>=0.15" scipy-openblas64 pytest hypothesis ninja ruff
  "$venv/bin/python" -m pip install -q --no-build-isolation -e ".[test]"
  # NVRTC, cupy's compiler, needs no GPU: the tests compile every generated
  # kernel with it, as a GPU machine would (optional: nvcc stands in).
  "$venv/bin/python" -m pip install -q "nvidia-cuda-nvrtc>=13,<14" \
    || echo "warning: NVRTC could not be installed; kernels are checked with nvcc" >&2
done

if [[ $oracle == 1 ]] && ! .venv/py311/bin/python -c "import torch" 2>/dev/null; then
  log "installing PyTorch (CPU) into .venv/py311 as the test oracle"
  .venv/py311/bin/python -m pip install -q "torch==2.13.0" \
    || echo "warning: PyTorch could not be installed; oracle tests will be skipped" >&2
fi
