#!/usr/bin/env bash
# Installs every Debian 12 package TowerSearch needs to build, test and run.
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

packages=(
    # build
    build-essential cmake ninja-build ccache pkg-config git
    # source checks of .ci/run: formatting (Debian's clang-format 14), function length (ctags)
    clang-format universal-ctags python3
    # fuzzing (tests/fuzz: clang's libFuzzer and sanitizer runtimes, its OpenMP for FAISS)
    clang libclang-rt-dev libomp-dev
    # Qt 6 (Widgets, Sql, Concurrent, Test, Network) and image format plugins
    qt6-base-dev qt6-base-dev-tools libqt6sql6-sqlite qt6-image-formats-plugins libgl-dev
    # model, vector index, catalog, config parsing
    libtorch-dev libfaiss-dev libsqlite3-dev nlohmann-json3-dev
    # a shared catalog on PostgreSQL (libpq), and the server the tests start in a temporary folder
    postgresql libpq-dev
    # the BLAS LibTorch must use (the pthread variant fights LibTorch's OpenMP threads)
    libopenblas0-openmp
    # HEIC/HEIF decoding
    libheif-dev
    # headless GUI tests and screenshots, package validation
    xvfb xauth desktop-file-utils appstream
    # Debian package (cpack -G DEB): dpkg-shlibdeps computes Depends, `file` finds the ELF files,
    # rsvg-convert renders the PNG icon sizes; the GUI's run-time plugins (platforms, SVG icons)
    dpkg-dev file librsvg2-bin qt6-qpa-plugins libqt6svg6
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
