#!/usr/bin/env bash
# The GPU checks of the CUDA runtime, in one command for a machine with an
# NVIDIA GPU, cupy, nvcc and PyTorch but no network (the device machine of a
# session that is lent one):
#
#   bash tools/gpu_check.sh [STAGE...]      (default: every stage, in order)
#
# Each stage runs under its own time limit (JANUS_GPU_CHECK_SCALE=2 doubles
# them all), and a stage that fails does not stop the next:
#   build      pip-installs the wheels in .whl/ and janus itself, with its
#              CUDA part (3 min at most). With no network there, download
#              the wheels the machine lacks beforehand, on one that has it:
#                pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                  --implementation cp --platform manylinux_2_28_x86_64 \
#                  --platform manylinux_2_17_x86_64 -d .whl bytecode scipy-openblas64
#   tests      tests/cuda on the GPU, the real device (4 min)
#   memcheck   compute-sanitizer's memcheck and racecheck over the training
#   racecheck  steps, streams and failed asserts of test_cuda_program.py
#              (1.5 min and 1 min)
#   step       bench/cuda_step.py: janus JIT against janus eager, PyTorch
#              eager and torch.compile(mode="reduce-overhead"), with one
#              replay's time over its kernels' sum (1 min)
#   streams    bench/cuda_streams.py --block inception: several streams
#              against one (30 s)
#   suite      python -m bench --device cuda over every workload, with
#              $JANUS_BENCH_ARGS (default: janus eager and JIT, PyTorch
#              eager, reduce-overhead; 40 s per run) (4 min)
# Within a 15-minute device lease: `build tests step streams` in one call,
# then `memcheck suite racecheck` while the machine is still warm (it keeps
# the build). Logs go to $OUT (or /tmp/gpu_check) as STAGE.log; the last
# lines printed are one per stage: its exit status and seconds.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
scale=${JANUS_GPU_CHECK_SCALE:-1}
python=${PYTHON:-python3}
bench_args=${JANUS_BENCH_ARGS:---mode janus-eager janus-jit torch-eager torch-compile-ro --time-limit 40}
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
stages=("$@")
[[ ${#stages[@]} -eq 0 ]] && stages=(build tests memcheck racecheck step streams suite)

stage_build() {
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \
      .whl/*.whl || return
  fi
  JANUS_CUDA=${JANUS_CUDA:-ON} "$python" -m pip install -q --no-build-isolation --no-deps \
    --no-index . || return
  (cd /tmp && "$python" -c "import janus, cupy; from janus import _C
assert _C.has_cuda, 'janus was built without its CUDA part'
print('janus', janus.__file__, 'cuda', _C.has_cuda, cupy.cuda.runtime.getDeviceProperties(0)['name'])")
}

stage_tests() {
  # (pytest-xdist, where installed, spreads the NVRTC compiles of a few
  # hundred programs over the cores; the processes share the GPU.)
  local workers=()
  "$python" -c "import xdist" 2>/dev/null && workers=(-n 8)
  "$python" -m pytest -q --maxfail=20 -p no:cacheprovider "${workers[@]}" tests/cuda \
    -W ignore::DeprecationWarning
}

sanitized() {  # compute-sanitizer tool $1 over a slice of the GPU suite
  compute-sanitizer --tool "$1" --error-exitcode 99 "$python" -m pytest -q -x -p no:cacheprovider \
    tests/cuda/test_cuda_program.py -k "trains or streams or assert"
}
stage_memcheck() { sanitized memcheck; }
stage_racecheck() { sanitized racecheck; }

stage_step() { "$python" bench/cuda_step.py --steps 20; }
stage_streams() { "$python" bench/cuda_streams.py --block inception; }
# shellcheck disable=SC2086  # (bench_args is a list of words)
stage_suite() { "$python" -m bench --device cuda --no-chart --out "$out/bench" $bench_args; }

limit() {  # seconds for a stage
  case $1 in
    build) echo 180 ;; tests) echo 240 ;; memcheck) echo 90 ;; racecheck) echo 60 ;;
    step) echo 60 ;; streams) echo 30 ;; suite) echo 240 ;; *) echo 60 ;;
  esac
}

export -f sanitized
export python out bench_args
summary=()
overall=0
for stage in "${stages[@]}"; do
  if ! declare -F "stage_$stage" >/dev/null; then
    echo "unknown stage: $stage" >&2
    exit 2
  fi
  seconds=$(($(limit "$stage") * scale))
  printf '\n== %s (at most %s s)\n' "$stage" "$seconds"
  start=$SECONDS
  export -f "stage_$stage"
  timeout --kill-after=10 "$seconds" bash -c "stage_$stage" 2>&1 | tee "$out/$stage.log" | tail -n 40
  status=${PIPESTATUS[0]}
  [[ $status -eq 124 || $status -eq 137 ]] && status="$status (time limit)"
  summary+=("$stage: exit $status in $((SECONDS - start)) s")
  [[ $status != 0 ]] && overall=1
done
printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
exit "$overall"
