#!/usr/bin/env bash
# Fails when an object file of the UI (ui/) or the GUI app (app/gui) includes a core/model header,
# directly or through other headers: editing the model must not recompile the UI. Reads what the
# compiler recorded in ninja's deps log of the built tree, so it sees transitive includes.
set -u
build="$1"
if [ ! -f "$build/build.ninja" ] || ! command -v ninja >/dev/null; then
    echo "model fan-out: skipped, $build is not a Ninja build (the check reads ninja's deps log)"
    exit 77
fi
deps=$(ninja -C "$build" -t deps 2>/dev/null) || { echo "model fan-out: ninja -t deps failed"; exit 1; }
hits=$(printf '%s\n' "$deps" | awk '
    /^[^ ]/ { obj = $1; sub(/:$/, "", obj); gui = (obj ~ /^ui\// || obj ~ /^app\/CMakeFiles\/towersearch\.dir\//); next }
    gui && /\/core\/model\/[^ ]*\.h$/ { gsub(/^ +/, ""); print obj " includes " $0 }')
if [ -n "$hits" ]; then
    echo "model fan-out: UI objects include core/model headers (use the light headers in core/common and core/search):"
    echo "$hits"
    exit 1
fi
echo "model fan-out: ok"
