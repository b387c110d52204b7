#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang, ASan + UBSan, build-fuzz/) and runs each
# for N seconds over its committed corpus (tests/fuzz/corpus/<target>/). New inputs go to a scratch
# folder (build-fuzz/fuzz-scratch/<target>/), never into the committed corpus; crash inputs to
# build-fuzz/fuzz-artifacts/<target>/. Fails (exit 1) if any target crashes, leaks, runs out of
# memory or times out.
#
#   tests/fuzz/run-fuzzers.sh [--seconds N] [--jobs J] [--no-build] [TARGET...]
#
#   --seconds N   time per target (default 20)
#   --jobs J      targets run at once (default 1); each is one process, niced
#   --no-build    use the existing build-fuzz/
#   TARGET        e.g. safetensors image_decoder (default: all of them)
# Extra libFuzzer flags can be given in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-only_ascii=1").
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

all_targets=(safetensors torch_checkpoint image_decoder exif tokenizer_files tokenizer_text config vector_index query_parser)
seconds=20
jobs=1
build=1
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "run-fuzzers: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "run-fuzzers: unknown target $t (${all_targets[*]})" >&2; exit 2; }
done

# Largest input per target (the readers must refuse larger files themselves; these only keep runs
# fast) and any target-specific flags.
max_len() {
    case "$1" in
    tokenizer_text | query_parser) echo 4096 ;;
    exif | config | vector_index) echo 16384 ;;
    *) echo 65536 ;;
    esac
}

if [ "$build" = 1 ]; then
    cmake --preset fuzz >/dev/null
    nice cmake --build --preset fuzz -j "$(nproc)"
fi

bin=$root/build-fuzz/tests/fuzz
logs=$root/build-fuzz/fuzz-logs
mkdir -p "$logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_odr_violation=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/sanitizer/lsan.supp:print_suppressions=0}
export QT_QPA_PLATFORM=offscreen
# One thread each: FAISS and LibTorch would otherwise start (and spin) an OpenMP team per target.
export OMP_NUM_THREADS=1

run_one() {
    local t=$1
    local scratch=$root/build-fuzz/fuzz-scratch/$t artifacts=$root/build-fuzz/fuzz-artifacts/$t
    mkdir -p "$scratch" "$artifacts"
    local rc=0 dict=()
    case "$t" in
    safetensors | config | tokenizer_files) dict=(-dict="$root/tests/fuzz/dicts/json.dict") ;;
    torch_checkpoint) dict=(-dict="$root/tests/fuzz/dicts/torch_checkpoint.dict") ;;
    esac
    # shellcheck disable=SC2086
    nice -n 5 "$bin/fuzz_$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "${dict[@]}" ${FUZZ_FLAGS:-} "$scratch" "$root/tests/fuzz/corpus/$t" \
        >"$logs/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$logs/$t.rc"
}

status=0
running=0
for t in "${targets[@]}"; do
    rm -f "$logs/$t.rc"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
printf '%-18s %8s %12s %8s %8s %8s\n' target result executions exec/s cov ft
for t in "${targets[@]}"; do
    if [ "$(cat "$logs/$t.rc" 2>/dev/null)" = 0 ]; then result=ok; else result=FAILED; status=1; fi
    log=$logs/$t.log
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-18s %8s %12s %8s %8s %8s\n' "$t" "$result" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}"
    if [ "$result" = FAILED ]; then
        echo "---- $log (tail) ----"
        tail -40 "$log"
        echo "---- crash inputs: $root/build-fuzz/fuzz-artifacts/$t/"
    fi
done
exit $status
