#!/usr/bin/env bash
# Takes the README's screenshots of the desktop app: empty library, indexing, results, fill-mask,
# the library by month, filter chips with Describe.
#
# Runs `towersearch --screenshot-demo` (a scripted tour with a throw-away library) under a virtual
# X server, over the tiny fixture model and its 4 photos, and writes PNGs next to this script.
#
#   resources/screenshots/take-screenshots.sh [BUILD_DIR] [MODEL_DIR] [PHOTOS_DIR]
#
# Defaults: BUILD_DIR=build, MODEL_DIR=tests/data/e2e/tiny-e2e, PHOTOS_DIR=<MODEL_DIR>/images.
# Needs xvfb-run (apt-get install xvfb xauth); falls back to Qt's offscreen platform without it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
model="${2:-$root/tests/data/e2e/tiny-e2e}"
photos="${3:-$model/images}"
app="$build/app/towersearch"
[ -x "$app" ] || { echo "no $app: build it first (cmake --build $build --target towersearch)" >&2; exit 1; }

# A private settings folder, so the tour never touches (or is changed by) the user's settings.
export XDG_CONFIG_HOME="$(mktemp -d)"
export XDG_DATA_HOME="$XDG_CONFIG_HOME/data"
export XDG_CACHE_HOME="$XDG_CONFIG_HOME/cache"
trap 'rm -rf "$XDG_CONFIG_HOME"' EXIT

# A copy of the photos with file times over a few months (photos without EXIF dates are listed
# by file time), so the library view shows month headers.
shots="$XDG_CONFIG_HOME/photos"
mkdir -p "$shots"
i=0
for f in "$photos"/*; do
    [ -f "$f" ] || continue
    cp -p "$f" "$shots/"
    touch -d "$(date -d "2026-10-15 12:00 $((i * 40)) days ago" '+%Y-%m-%d %H:%M')" "$shots/$(basename "$f")"
    i=$((i + 1))
done
args=(--screenshot-demo "$shots" --model "$model" --screenshot-out "$here")
if command -v xvfb-run >/dev/null; then
    xvfb-run -a -s "-screen 0 1400x900x24 -dpi 96" "$app" "${args[@]}"
else
    QT_QPA_PLATFORM=offscreen "$app" "${args[@]}"
fi
ls -l "$here"/*.png
