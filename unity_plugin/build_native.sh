#!/usr/bin/env bash
# Builds libreverie (bridge/native) with CMake and copies the shared library to where Unity
# loads native plugins from, as a plain file (no versioned symlinks):
#   unity_plugin/build_native.sh [DEST]
# DEST defaults to unity_plugin/Plugins/x86_64 (for a package installed from a local path).
# For a package installed from a git URL (read-only in Library/PackageCache), pass the
# project's own folder instead, e.g. MyGame/Assets/Plugins/x86_64.
# REVERIE_BUILD_DIR picks the CMake build folder (default: build/unity-native in the repo); an
# already configured folder is built as it is. Needs cmake, pkg-config, libzmq3-dev, libmsgpack-dev.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
build="${REVERIE_BUILD_DIR:-$repo/build/unity-native}"
dest="${1:-$here/Plugins/x86_64}"

if [[ "$(uname -s)" != Linux ]]; then
    # The ring is a Linux memfd opened through /proc, the control plane ipc://: see docs/protocol.md.
    echo "build_native.sh: libreverie supports Linux only for now (found $(uname -s))" >&2
    exit 1
fi

if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$repo/bridge/native" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --target reverie -j "$(nproc)"

library="$(find "$build" -maxdepth 2 -name libreverie.so -print -quit)"
if [[ -z "$library" ]]; then
    echo "build_native.sh: no libreverie.so under $build" >&2
    exit 1
fi
mkdir -p "$dest"
cp -L "$library" "$dest/libreverie.so"   # -L: the real file, not the .so -> .so.1 link
echo "$dest/libreverie.so"
