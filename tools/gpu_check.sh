#!/usr/bin/env bash
# The GPU checks of the CUDA runtime, in one command for a machine with an
# NVIDIA GPU, cupy, nvcc and PyTorch but no network (the device machine of a
# session that is lent one):
#
#   bash tools/gpu_check.sh [STAGE...]      (default: every stage, in order)
#
# Stages, each under its own time limit so that the whole run ends in about
# seven minutes (JANUS_GPU_CHECK_SCALE=2 doubles every limit):
#   build      pip-installs the wheels in .whl/ and janus itself, with its
#              CUDA part. With no network there, download the wheels the
#              machine lacks beforehand, on one that has it:
#                pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                  --implementation cp --platform manylinux_2_28_x86_64 \
#                  --platform manylinux_2_17_x86_64 -d .whl bytecode scipy-openblas64
#   tests      tests/cuda on the GPU (the real device, not the emulation)
#   sanitizer  compute-sanitizer memcheck and racecheck over the training
#              steps, streams and failed asserts of test_cuda_program.py
#   step       bench/cuda_step.py: janus JIT against janus eager, PyTorch
#              eager and torch.compile(mode="reduce-overhead"), with replay
#              over kernel sum
#   streams    bench/cuda_streams.py --block inception: several streams
#              against one
#   suite      python -m bench --device cuda (every workload and mode)
# Logs go to $OUT (or /tmp/gpu_check) as STAGE.log; the last lines printed
# are one line per stage: its exit status and seconds.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
scale=${JANUS_GPU_CHECK_SCALE:-1}
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
stages=("$@")
[[ ${#stages[@]} -eq 0 ]] && stages=(build tests sanitizer step streams suite)

stage_build() {
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || return
  fi
  JANUS_CUDA=${JANUS_CUDA:-ON} "$python" -m pip install -q --no-build-isolation --no-deps --no-index . || return
  (cd /tmp && "$python" -c "import janus, cupy; from janus import _C
assert _C.has_cuda, 'janus was built without its CUDA part'
print('janus', janus.__file__, 'cuda', _C.has_cuda, cupy.cuda.runtime.getDeviceProperties(0)['name'])")
}

stage_tests() {
  "$python" -m pytest -q -x -p no:cacheprovider tests/cuda -W ignore::DeprecationWarning
}

stage_sanitizer() {
  local status=0 tool
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 99 "$python" -m pytest -q -x \
      -p no:cacheprovider tests/cuda/test_cuda_program.py -k "trains or streams or assert" || status=$?
  done
  return "$status"
}

stage_step() { "$python" bench/cuda_step.py --steps 20; }
stage_streams() { "$python" bench/cuda_streams.py --block inception; }
stage_suite() { "$python" -m bench --device cuda --no-chart --out "$out/bench"; }

limit() {  # seconds for a stage
  case $1 in
    build) echo 150 ;; tests) echo 150 ;; sanitizer) echo 90 ;;
    step) echo 60 ;; streams) echo 30 ;; suite) echo 120 ;; *) echo 60 ;;
  esac
}

export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
summary=()
overall=0
for stage in "${stages[@]}"; do
  if ! declare -F "stage_$stage" >/dev/null; then
    echo "unknown stage: $stage" >&2
    exit 2
  fi
  seconds=$(($(limit "$stage") * scale))
  printf '\n== %s (at most %ss)\n' "$stage" "$seconds"
  start=$SECONDS
  export -f "stage_$stage"
  export python out
  timeout --kill-after=10 "$seconds" bash -c "stage_$stage" 2>&1 | tee "$out/$stage.log" | tail -n 40
  status=${PIPESTATUS[0]}
  [[ $status -eq 124 || $status -eq 137 ]] && status="$status (time limit)"
  summary+=("$stage: exit $status in $((SECONDS - start)) s")
  [[ $status != 0 ]] && overall=1
done
printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
exit "$overall"
