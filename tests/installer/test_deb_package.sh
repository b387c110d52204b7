#!/usr/bin/env bash
# The Debian package end to end: build it with CPack, install it into this system with apt-get,
# check the installed files, then purge it and check that nothing is left behind.
#
#   test_deb_package.sh BUILD_DIR CPACK_COMMAND
#
# Exit codes: 0 passed, 1 failed, 77 skipped (not root, or not a Debian system).
# It needs the binaries built (ctest runs after `cmake --build`; cpack would build them otherwise).
# What the package must contain comes from BUILD_DIR/packaging/expected-contents.txt, written by
# cmake/Packaging.cmake: one "KIND PATH" per line, paths relative to /usr.
set -euo pipefail

build_dir=${1:?usage: test_deb_package.sh BUILD_DIR CPACK_COMMAND}
cpack=${2:?usage: test_deb_package.sh BUILD_DIR CPACK_COMMAND}
pkg=towersearch
prefix=/usr

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $* ($(date +%T))"; }

# --- preconditions -------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] ||
    skip "installing a package into the system needs root (CI runs as root): run this test as root"
for tool in apt-get dpkg dpkg-deb dpkg-query; do
    command -v "$tool" >/dev/null || skip "$tool not found: not a Debian system"
done
command -v dpkg-shlibdeps >/dev/null ||
    fail "dpkg-shlibdeps not found: CPack needs it to compute Depends (installer/install-deps.sh installs dpkg-dev)"
command -v readelf >/dev/null || fail "readelf not found (binutils)"

manifest=$build_dir/packaging/expected-contents.txt
[ -f "$manifest" ] || fail "$manifest is missing: configure $build_dir with cmake first"

status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != "not-installed" ]; then
    fail "a '$pkg' package is already on this system (dpkg status: $status). This test installs and" \
         "purges its own build and will not replace it: remove it first (apt-get purge $pkg)"
fi

work=$(mktemp -d /tmp/towersearch-deb.XXXXXX)
chmod 755 "$work" # apt reads the local .deb as the unprivileged _apt user
installed=0
cleanup() {
    if [ "$installed" -eq 1 ]; then
        echo "cleanup: purging the test installation"
        apt-get remove -y -q --purge -o DPkg::Lock::Timeout=300 "$pkg" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- build the package -----------------------------------------------------------------------
step "cpack -G DEB"
if ! "$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1; then
    cat "$work/cpack.log" >&2
    fail "cpack could not build the package (log above)"
fi
debs=("$work/${pkg}"_*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    fail "expected one ${pkg}_*.deb in $work, found: ${debs[*]}"
fi
deb=${debs[0]}
chmod 644 "$deb"
echo "package: $(basename "$deb"), $(du -h "$deb" | cut -f1)"

version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"

# Runtime dependencies only: no -dev (build-only) packages, and what dpkg-shlibdeps cannot see.
for dep in ${depends//,/ }; do
    case "$dep" in
    *-dev | *-dev:*) fail "Depends names the build-only package '$dep': $depends" ;;
    esac
done
expect_depends=(libopenblas0-openmp qt6-image-formats-plugins)
if grep -q "^binary bin/towersearch$" "$manifest"; then expect_depends+=(qt6-qpa-plugins libqt6svg6); fi
if grep -q "^rpath " "$manifest"; then expect_depends+=(libtorch1.13); fi
for dep in "${expect_depends[@]}"; do
    grep -Eq "(^|[ ,|])${dep//./\\.}([ ,(|]|$)" <<<"$depends" || fail "Depends lacks $dep: $depends"
done

# Every file in the package, recorded with whether it existed before, to check the purge.
dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's#^\./#/#' -e 's#/$##' | grep -v '^/\?$' >"$work/contents"
: >"$work/preexisting"
while read -r path; do
    if [ -e "$path" ] || [ -L "$path" ]; then echo "$path" >>"$work/preexisting"; fi
done <"$work/contents"
while read -r path; do
    if [ ! -d "$path" ]; then fail "$path exists before installing the package (not from dpkg?)"; fi
done <"$work/preexisting"

# --- install -------------------------------------------------------------------------------
step "apt-get install $(basename "$deb")"
# The Depends must be satisfied by packages already installed (installer/install-deps.sh): the
# test needs no network, and the purge at the end can restore the system exactly.
if ! apt-get install -s -q --no-install-recommends "$deb" >"$work/apt-simulate.log" 2>&1; then
    cat "$work/apt-simulate.log" >&2
    fail "apt-get cannot resolve the package's Depends (log above)"
fi
extra=$(awk '$1 == "Inst" && $2 != "'"$pkg"'" { print $2 }' "$work/apt-simulate.log" | tr '\n' ' ')
[ -z "$extra" ] ||
    fail "installing the package would also install: ${extra}- run installer/install-deps.sh first"
installed=1
if ! apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
        "$deb" >"$work/apt-install.log" 2>&1; then
    cat "$work/apt-install.log" >&2
    fail "apt-get could not install the package (log above); its Depends must already be installed:" \
         "run installer/install-deps.sh"
fi
[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg")" = installed ] || fail "dpkg does not list $pkg as installed"
dpkg -L "$pkg" >"$work/listed"

step "checking the installed files"
listed() { grep -qxF "$1" "$work/listed" || fail "dpkg -L $pkg does not list $1"; }
appid=""
desktop=""
metainfo=""
rpath_dir=""
binaries=()
while read -r kind rel; do
    case "$kind" in
    appid) appid=$rel; continue ;;
    rpath) rpath_dir=$rel; continue ;;
    esac
    path=$prefix/$rel
    listed "$path"
    [ -f "$path" ] || fail "$path is not installed"
    case "$kind" in
    binary) binaries+=("$path") ;;
    desktop) desktop=$path ;;
    metainfo) metainfo=$path ;;
    esac
done <"$manifest"
[ -n "$appid" ] || fail "$manifest names no application id"

for bin in "${binaries[@]}"; do
    [ -x "$bin" ] || fail "$bin is not executable"
    ldd_out=$(ldd "$bin")
    if [[ "$ldd_out" == *"not found"* ]]; then
        fail "$bin has unresolved libraries (a Depends is missing):"$'\n'"$(grep 'not found' <<<"$ldd_out")"
    fi
    if [ -n "$rpath_dir" ]; then
        dyn=$(readelf -d "$bin")
        [[ "$dyn" == *"(RPATH)"*"$rpath_dir"* ]] ||
            fail "$bin lost its RPATH to $rpath_dir on install:"$'\n'"$(grep -E 'RPATH|RUNPATH' <<<"$dyn" || true)"
        blas=$(grep -E '^\s*libblas\.so\.3 ' <<<"$ldd_out" || true)
        [ -z "$blas" ] || [[ "$blas" == *"$rpath_dir/libblas.so.3"* ]] ||
            fail "$bin loads $blas instead of $rpath_dir/libblas.so.3"
    fi
    echo "ok: $bin (${rpath_dir:+RPATH $rpath_dir, }all libraries resolve)"
done

cli_path=$(command -v towersearch-cli || true)
[ "$cli_path" = "$prefix/bin/towersearch-cli" ] || fail "towersearch-cli on PATH is '$cli_path', not $prefix/bin/towersearch-cli"
cli_version=$(towersearch-cli --version) || fail "towersearch-cli --version failed: $cli_version"
[ "$cli_version" = "towersearch-cli $version" ] ||
    fail "towersearch-cli --version printed '$cli_version', expected 'towersearch-cli $version'"
echo "ok: $cli_version"
if [ -x "$prefix/bin/towersearch" ]; then
    # The GUI starts (its libraries and a platform plugin load) and answers --version.
    gui_version=$(QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=$work timeout 60 towersearch --version 2>/dev/null) ||
        fail "towersearch --version failed (QT_QPA_PLATFORM=offscreen): '$gui_version'"
    [[ "$gui_version" == *" $version" ]] ||
        fail "towersearch --version printed '$gui_version', expected it to end in ' $version'"
    echo "ok: $gui_version"
fi

if [ -n "$desktop" ]; then
    if command -v desktop-file-validate >/dev/null; then
        desktop-file-validate "$desktop" || fail "desktop-file-validate rejects $desktop"
        echo "ok: desktop-file-validate $desktop"
    else
        echo "note: desktop-file-validate not found (desktop-file-utils), not validating $desktop"
    fi
    grep -Eq '^Exec=towersearch( .*)? %[FfUu]( |$)' "$desktop" ||
        fail "$desktop: Exec must pass the opened files to towersearch (Exec=towersearch %F): $(grep '^Exec=' "$desktop")"
    grep -Eq '^MimeType=.*image/jpeg;' "$desktop" ||
        fail "$desktop: MimeType must list the image types (image/jpeg;...) for 'Open with TowerSearch'"
    icon=$(sed -n 's/^Icon=//p' "$desktop" | head -n1)
    grep -Eq "^$prefix/share/icons/hicolor/[^/]+/apps/$icon\.(svg|png)$" "$work/listed" ||
        fail "$desktop asks for Icon=$icon, which the package does not install under hicolor"
    if command -v update-desktop-database >/dev/null; then
        # desktop-file-utils' dpkg trigger refreshes the MIME cache: "Open with" now finds us.
        grep -q "image/jpeg=.*$appid.desktop" "$prefix/share/applications/mimeinfo.cache" ||
            fail "$prefix/share/applications/mimeinfo.cache does not offer $appid.desktop for image/jpeg"
        echo "ok: $appid.desktop is registered for image/jpeg"
    fi
else
    echo "note: no .desktop file in resources/ yet: the package has no menu entry"
fi

if [ -n "$metainfo" ]; then
    if command -v appstreamcli >/dev/null; then
        appstreamcli validate --no-net "$metainfo" || fail "appstreamcli rejects $metainfo"
        echo "ok: appstreamcli validate --no-net $metainfo"
    else
        echo "note: appstreamcli not found (appstream), not validating $metainfo"
    fi
    if [ -n "$desktop" ]; then
        grep -q "<launchable type=\"desktop-id\">$appid.desktop</launchable>" "$metainfo" ||
            fail "$metainfo does not launch $appid.desktop"
    fi
fi

# --- remove --------------------------------------------------------------------------------
step "apt-get remove --purge $pkg"
if ! apt-get remove -y -q --purge -o DPkg::Lock::Timeout=300 "$pkg" >"$work/apt-remove.log" 2>&1; then
    cat "$work/apt-remove.log" >&2
    fail "apt-get could not remove the package (log above)"
fi
installed=0
if dpkg -L "$pkg" >/dev/null 2>&1; then fail "dpkg -L $pkg still lists files after the purge"; fi
status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "dpkg status of $pkg after the purge: $status"
left=()
while read -r path; do
    if { [ -e "$path" ] || [ -L "$path" ]; } && ! grep -qxF "$path" "$work/preexisting"; then
        left+=("$path")
    fi
done <"$work/contents"
[ ${#left[@]} -eq 0 ] || fail "left behind after the purge: ${left[*]}"
if [ -f "$prefix/share/applications/mimeinfo.cache" ] &&
        grep -q "$appid.desktop" "$prefix/share/applications/mimeinfo.cache"; then
    fail "$prefix/share/applications/mimeinfo.cache still names $appid.desktop after the purge"
fi
echo "ok: purged, nothing left behind"
echo "PASS: $(basename "$deb") builds, installs, works and uninstalls cleanly"
