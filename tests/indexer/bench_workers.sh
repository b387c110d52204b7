#!/bin/bash
# Benchmark (not a test): photos/s of K indexing workers (worker mode) on one SQLite catalog over
# N generated photos, the fake embedder sleeping DELAY_MS per batch of BATCH (a fixed model cost).
# The K processes start together on a library whose folder is added beforehand; the time is from
# their start to the last one's exit (process start-up included: a few seconds on a loaded machine).
#   tests/indexer/bench_workers.sh BUILD_DIR [N=300] [DELAY_MS=200] [BATCH=8] [K...=1 2 4]
set -euo pipefail
build=$1; n=${2:-300}; delay=${3:-200}; batch=${4:-8}; shift $(( $# < 4 ? $# : 4 ))
counts=${*:-1 2 4}
child=$build/tests/indexer/tst_workers_child
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$child" --generate "$tmp/photos" "$n"
for k in $counts; do
    db=$tmp/lib-$k/library.sqlite
    "$child" "$db" "$tmp/setup-$k.txt" 0 "$batch" 60 setup --only-add-folder "$tmp/photos"
    start=$(date +%s.%N)
    pids=()
    for ((i = 0; i < k; i++)); do
        "$child" "$db" "$tmp/log-$k-$i.txt" "$delay" "$batch" 60 "w$i" > "$tmp/out-$k-$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    end=$(date +%s.%N)
    embedded=$(cat "$tmp"/log-$k-*.txt | wc -l)
    echo "$k workers: $n photos in $(echo "$end - $start" | bc) s," \
        "$(echo "scale=1; $n / ($end - $start)" | bc) photos/s ($embedded embedded)"
    for f in "$tmp"/out-$k-*; do echo "  $(basename "$f"): $(tail -1 "$f")"; done
done
