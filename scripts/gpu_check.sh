#!/usr/bin/env bash
# The GPU checks, in one call on a machine with an NVIDIA GPU and CuPy (`make gpu-check`):
#
#   1. bench: bench/bench_gpu.py, minitl's MLP and CNN training steps against a lean
#      hand-written CuPy step (and PyTorch CUDA if installed); writes bench/results.json
#      and the README's performance section, with the GPU named;
#   2. tests: `make test-gpu`, the whole suite with the CuPy backend forced;
#   3. demo:  the whole `make demo` with DEMO_ARGS="--device cuda", then on the CPU, and
#      their verdicts compared (scripts/compare_verdicts.py).
#
# Usage: scripts/gpu_check.sh [OUT [STAGE...]]   (OUT default out/gpu_check; stages default
# "bench tests demo", cheapest first, so a run cut short still leaves the first ones).
# The GPU machine has no package index: PY (default python3) is its own Python, with CuPy,
# NumPy, pytest, hypothesis, matplotlib, tqdm and safetensors. DEMO_ARGS adds options to
# both demo runs (e.g. "--quick" when time is short). Everything printed goes to
# OUT/gpu_check.log too, each stage's output to OUT/<stage>.log; bench/results.json and the
# README are copied to OUT at the end (commit them from there). Exit status: the number of
# stages that failed.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-out/gpu_check}
shift || true
STAGES=${*:-bench tests demo}
PY=${PY:-python3}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1

echo "gpu_check $(date '+%F %T'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
$PY - <<'PY' || { echo "no usable CuPy: stopping"; exit 99; }
import cupy, numpy
props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
print(f"GPU {props['name'].decode()}, CuPy {cupy.__version__}, NumPy {numpy.__version__}")
PY

failed=0
stage() {  # stage NAME COMMAND...: run it, log it, time it
    local name=$1 start=$SECONDS
    shift
    echo; echo "== $name: $*"
    if "$@" > "$OUT/$name.log" 2>&1; then
        echo "== $name: ok in $((SECONDS - start)) s"
    else
        echo "== $name: FAILED (status $?) in $((SECONDS - start)) s; tail of $OUT/$name.log:"
        failed=$((failed + 1))
    fi
    tail -n 25 "$OUT/$name.log"
}

for s in $STAGES; do
    case $s in
        bench) stage bench sh -c "$PY bench/bench_gpu.py && $PY bench/readme_section.py" ;;
        tests) stage tests make test-gpu ;;
        demo)
            # `make -o` keeps make from building .venv (no package index here): PY is used.
            stage demo_gpu make -o .venv/.installed-stamp demo PY="$PY" OUT="$OUT/gpu" \
                DEMO_ARGS="--device cuda ${DEMO_ARGS:-}"
            stage demo_cpu make -o .venv/.installed-stamp demo PY="$PY" OUT="$OUT/cpu" \
                DEMO_ARGS="${DEMO_ARGS:-}"
            stage verdicts $PY scripts/compare_verdicts.py "$OUT/cpu" "$OUT/gpu" ;;
        *) echo "unknown stage $s (bench, tests, demo)"; failed=$((failed + 1)) ;;
    esac
done

cp bench/results.json README.md "$OUT/" 2>/dev/null
echo; echo "gpu_check done: $failed stage(s) failed; logs and copies in $OUT"
exit "$failed"
