#!/usr/bin/env bash
# The first run on a GPU, prepared so that it fits in a few minutes of device time:
#   1. the whole test suite with MINIGRAD_DEVICE=cuda, 8 workers (pytest-xdist), stopping
#      after 50 failures; tests that need the notebook tools (nbgrader, jupytext, nbconvert,
#      nbclient) are skipped by their marker, and counted;
#   2. the fused-kernel test (tests/test_cuda_kernels.py), which compiles the LSTM and GRU
#      kernels: it is skipped everywhere else, so the summary says whether it ran;
#   3. the recurrent layers against cuDNN and against a per-step LSTMCell loop;
#   4. the host<->device copies and waits of a training step and of the decoders.
# Each part has its own time limit (180 + 45 + 45 + 20 s): the whole stays under 5 minutes.
# CuPy compiles each kernel at its first use (cached in ~/.cupy/kernel_cache): a first run on
# a fresh machine may reach the tests' limit; the summary says so, and a second run is faster.
#
#   benchmarks/gpu_check.sh [LOG_DIR]            on a GPU machine, from the repository
#   benchmarks/gpu_check.sh --strict [LOG_DIR]   a dry run on the CPU: the strict stand-in
#                                                device instead of the GPU (see the README)
# Needs no network: run it from the repository (PYTHONPATH is set to it, nothing installs).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
if [ "${1:-}" = "--strict" ]; then DEVICE=strict; shift; fi
LOG=${1:-gpu-check-logs}
mkdir -p "$LOG"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}" CI=true
PY=${PYTHON:-python3}
SUMMARY="$LOG/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

say "gpu_check.sh on '$DEVICE', $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
{ nvidia-smi 2>&1 || echo "nvidia-smi: not found"; echo; $PY -m minigrad 2>&1; } > "$LOG/machine.txt"
say "GPU usable: $($PY -c 'import minigrad as mg; print(mg.cuda.is_available())' 2>&1 | tail -1)"

# -- 1. the test suite ---------------------------------------------------------------------
if [ "$DEVICE" = cuda ]; then
    FILES=(tests)
    WORKERS=(-n 8)
    LIMIT=180
else
    # the dry run: the files of the CI's strict pass, on the CPU's two workers
    read -r -a FILES < <(tr '\n' ' ' < tests/strict_pass.txt)
    FILES+=(tests/test_cuda_kernels.py tests/test_strict.py)
    WORKERS=(-n 2)
    LIMIT=240
fi
if ! $PY -c "import xdist" 2>/dev/null; then WORKERS=(); say "pytest-xdist missing: one worker"; fi
DESELECT=()
if ! $PY -c "import safetensors" 2>/dev/null; then
    DESELECT=(-k "not safetensors"); say "safetensors missing: its tests deselected"
fi
start=$(date +%s)
MINIGRAD_DEVICE=$DEVICE timeout -k 10 "$LIMIT" $PY -m pytest -q -rs --maxfail=50 "${WORKERS[@]}" \
    -p no:cacheprovider "${DESELECT[@]}" "${FILES[@]}" > "$LOG/pytest.txt" 2>&1
rc=$?
say "1. tests: exit $rc in $(( $(date +%s) - start )) s$([ $rc = 124 ] && echo ' (stopped at the time limit)'): $(grep -E '(passed|failed|error)' "$LOG/pytest.txt" | tail -1)"
TOOLS="notebook tools|could not import '(nbgrader|jupytext|nbconvert|nbclient)'"
# skips in pytest -rs's lines "SKIPPED [n] file:line: reason", summed; grep's options first
count() { grep -E "^SKIPPED \[[0-9]+\]" "$LOG/pytest.txt" | grep "$@" | awk -F'[][]' '{s += $2} END {print s + 0}'; }
say "   skipped for the notebook tools: $(count -E "$TOOLS")"
say "   skipped for want of a GPU: $(count -E 'CUDA GPU')"
say "   skipped otherwise: $(count -vE "$TOOLS|CUDA GPU")"
grep -E "^(FAILED|ERROR)" "$LOG/pytest.txt" | head -50 > "$LOG/failures.txt"

# -- 2. the fused kernels ------------------------------------------------------------------
timeout 45 $PY -m pytest -v -rs -p no:cacheprovider tests/test_cuda_kernels.py > "$LOG/kernels.txt" 2>&1
compiled=$(grep -c "test_the_compiled_kernels_on_the_gpu.*PASSED" "$LOG/kernels.txt")
failed=$(grep -c "test_the_compiled_kernels_on_the_gpu.*FAILED" "$LOG/kernels.txt")
if [ "$compiled" -gt 0 ] && [ "$failed" = 0 ]; then
    say "2. fused kernels: compiled by CuPy and equal to the composed step on the CPU ($compiled cases)"
elif [ "$failed" -gt 0 ]; then
    say "2. fused kernels: FAILED on the GPU ($failed cases; see kernels.txt)"
else
    say "2. fused kernels: NOT compiled here (no GPU); only their NumPy translation was checked"
fi

# -- 3. the recurrent layers against cuDNN and a per-step loop ---------------------------
if [ "$DEVICE" = cuda ]; then BENCH=(--configs g1 g2 --repeats 10); else BENCH=(--configs s1 --repeats 2 --warmup 1); fi
timeout 45 $PY benchmarks/gpu_recurrent.py --device "$DEVICE" "${BENCH[@]}" > "$LOG/recurrent.txt" 2>&1
say "3. recurrent layers (exit $?; recurrent.txt):"
sed -n '/^case/,$p' "$LOG/recurrent.txt" | tee -a "$SUMMARY"

# -- 4. copies and waits ------------------------------------------------------------------
timeout 20 $PY benchmarks/gpu_transfers.py --device "$DEVICE" > "$LOG/transfers.txt" 2>&1
say "4. host<->device copies and waits (exit $?; transfers.txt):"
tail -n +2 "$LOG/transfers.txt" | tee -a "$SUMMARY"
say "logs in $LOG/"
