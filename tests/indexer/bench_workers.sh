#!/bin/bash
# Benchmark (not a test): photos/s of K indexing workers (worker mode) on one SQLite catalog over
# N generated photos, the fake embedder sleeping DELAY_MS per batch of BATCH (a fixed model cost).
#   tests/indexer/bench_workers.sh BUILD_DIR [N=300] [DELAY_MS=200] [BATCH=8] [K...=1 2 4]
set -euo pipefail
build=$1; n=${2:-300}; delay=${3:-200}; batch=${4:-8}; shift $(( $# < 4 ? $# : 4 ))
counts=${*:-1 2 4}
child=$build/tests/indexer/tst_workers_child
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$child" --generate "$tmp/photos" "$n"
for k in $counts; do
    db=$tmp/lib-$k/library.sqlite
    start=$(date +%s.%N)
    # The first worker adds the folder, then the others join (the discovery is one worker's).
    "$child" "$db" "$tmp/log-$k-0" "$delay" "$batch" 60 w0 --add-folder "$tmp/photos" > "$tmp/out-$k-0" &
    pids=($!)
    until grep -q "worker started" "$tmp/out-$k-0" 2>/dev/null; do sleep 0.05; done
    for ((i = 1; i < k; i++)); do
        "$child" "$db" "$tmp/log-$k-$i" "$delay" "$batch" 60 "w$i" > "$tmp/out-$k-$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    end=$(date +%s.%N)
    embedded=$(cat "$tmp"/log-$k-* | wc -l)
    echo "$k workers: $n photos in $(echo "$end - $start" | bc) s," \
        "$(echo "scale=1; $n / ($end - $start)" | bc) photos/s ($embedded embedded)"
done
