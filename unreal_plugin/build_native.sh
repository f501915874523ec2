#!/usr/bin/env bash
# Build libreverie (bridge/native) with CMake and vendor it into the Unreal plugin:
#
#   <plugin>/Source/ThirdParty/ReverieLibrary/include/  reverie.h, reverie.hpp
#   <plugin>/Source/ThirdParty/ReverieLibrary/Linux/    libreverie.so (linked against) and
#                                                       libreverie.so.<major> (its soname,
#                                                       what the loader looks for at run time)
#
# Usage: unreal_plugin/build_native.sh [--plugin DIR] [--build-dir DIR]
#   --plugin DIR     the Reverie plugin folder to fill; default: unreal_plugin/Reverie next to
#                    this script. Pass YourProject/Plugins/Reverie after copying the plugin.
#   --build-dir DIR  CMake's build folder; default: build/unreal-native in the repository.
#
# Needs cmake, a C compiler, pkg-config, libzmq and msgpack-c (Debian: libzmq3-dev,
# libmsgpack-dev). Nothing it produces is committed (unreal_plugin/.gitignore).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
plugin="$here/Reverie"
build="$repo/build/unreal-native"

while [ $# -gt 0 ]; do
    case "$1" in
        --plugin) plugin="$2"; shift 2 ;;
        --build-dir) build="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "build_native.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

case "$(uname -s)" in
    Linux) ;;
    *)
        echo "build_native.sh: libreverie builds on Linux only for now (protocol 2.0 rings are Linux" >&2
        echo "memfds, the control plane ipc:// sockets). For Win64, put reverie.dll and reverie.lib (and their DLL" >&2
        echo "dependencies) into $plugin/Source/ThirdParty/ReverieLibrary/Win64/ yourself." >&2
        exit 1 ;;
esac

if [ ! -f "$plugin/Reverie.uplugin" ]; then
    echo "build_native.sh: $plugin is not the Reverie plugin (no Reverie.uplugin there)" >&2
    exit 2
fi
for tool in cmake readelf; do
    command -v "$tool" >/dev/null || { echo "build_native.sh: $tool is not installed" >&2; exit 1; }
done

jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$repo/bridge/native" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target reverie --parallel "$jobs" >/dev/null

library="$(readlink -f "$build/libreverie.so")"
soname="$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
if [ -z "$soname" ]; then
    echo "build_native.sh: $library has no SONAME" >&2
    exit 1
fi

third_party="$plugin/Source/ThirdParty/ReverieLibrary"
rm -rf "$third_party/include" "$third_party/Linux"
mkdir -p "$third_party/include" "$third_party/Linux"
cp "$repo/bridge/native/include/reverie.h" "$repo/bridge/native/include/reverie.hpp" "$third_party/include/"
# Plain copies, not links: Unreal's staging and packaging copy files, not symlinks.
cp "$library" "$third_party/Linux/libreverie.so"
cp "$library" "$third_party/Linux/$soname"

echo "libreverie $(basename "$library") -> $third_party/Linux/{libreverie.so,$soname}"
echo "headers -> $third_party/include/"
echo "It needs libzmq and msgpack-c at run time: $(readelf -d "$library" | sed -n 's/.*(NEEDED).*\[\(lib\(zmq\|msgpack\)[^]]*\)\].*/\1/p' | tr '\n' ' ')"
