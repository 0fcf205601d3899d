#!/usr/bin/env bash
# Cross-build libchromaprint for Windows x64 from Debian's source package, with Debian's mingw-w64:
#   installer/windows/build-chromaprint.sh OUT_DIR     -> OUT_DIR/chromaprint.dll
# Why: no win_amd64 wheel on PyPI ships libchromaprint (pyacoustid loads it with ctypes), so the
# MSI carries one built here, never committed. The fingerprint calculator needs no FFmpeg (the
# agent decodes with PyAV): chromaprint's bundled kissfft does the FFT. The DLL links libgcc and
# libstdc++ statically, so it needs only Windows' own DLLs (KERNEL32, msvcrt); build.sh checks that.
# Sources: chromaprint 1.5.1-7 (Debian trixie; upstream 1.5.1 as in bookworm), .orig and .debian tarballs pinned by SHA-256,
# Debian's patches applied in series order. Downloads are cached in $PHIWALL_WIN_CACHE.
# Needs: x86_64-w64-mingw32-gcc/g++ (gcc-mingw-w64-x86-64, g++-mingw-w64-x86-64), cmake, make, curl.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
cache=${PHIWALL_WIN_CACHE:-$root/.cache/windows}/chromaprint
pool=${PHIWALL_DEBIAN_POOL:-http://deb.debian.org/debian/pool/main}/c/chromaprint
say() { echo "build-chromaprint: $*" >&2; }
die() { echo "build-chromaprint: error: $*" >&2; exit 1; }
for tool in x86_64-w64-mingw32-gcc x86_64-w64-mingw32-g++ x86_64-w64-mingw32-objdump cmake make curl patch; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 cmake make curl patch)"
done

# From chromaprint_1.5.1-7.dsc (Checksums-Sha256; the archive no longer serves bookworm's -2 tarball).
declare -A sources=(
  [chromaprint_1.5.1.orig.tar.gz]=a1aad8fa3b8b18b78d3755b3767faff9abb67242e01b478ec9a64e190f335e1c
  [chromaprint_1.5.1-7.debian.tar.xz]=7b6e814b4ebaed891d70a070eb4cc3558e5e914a0ecb04ae9ef14f8d2b2fd652
)
mkdir -p "$cache"
for file in "${!sources[@]}"; do
  if ! echo "${sources[$file]}  $cache/$file" | sha256sum -c --quiet - 2>/dev/null; then
    say "downloading $file from the Debian archive"
    curl -fsS --retry 3 -o "$cache/$file.part" "$pool/$file"
    mv "$cache/$file.part" "$cache/$file"
    echo "${sources[$file]}  $cache/$file" | sha256sum -c --quiet - || die "$file does not match its pinned hash"
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$cache/chromaprint_1.5.1.orig.tar.gz" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -1)
tar -xJf "$cache/chromaprint_1.5.1-7.debian.tar.xz" -C "$src"
if [[ -f $src/debian/patches/series ]]; then
  while read -r p _; do
    [[ -z $p || $p == \#* ]] && continue
    patch -s -p1 -d "$src" <"$src/debian/patches/$p"
  done <"$src/debian/patches/series"
fi

# SOURCE_DATE_EPOCH and no build paths in the objects: the same sources give the same DLL.
export SOURCE_DATE_EPOCH=1646097530
flags="-O2 -ffile-prefix-map=$work=. -fno-ident"
say "cross-building with $(x86_64-w64-mingw32-g++ --version | head -1)"
cmake -S "$src" -B "$work/build" -G "Unix Makefiles" -Wno-dev \
  -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=x86_64 \
  -DCMAKE_C_COMPILER=x86_64-w64-mingw32-gcc -DCMAKE_CXX_COMPILER=x86_64-w64-mingw32-g++ \
  -DCMAKE_RC_COMPILER=x86_64-w64-mingw32-windres \
  -DCMAKE_FIND_ROOT_PATH=/usr/x86_64-w64-mingw32 -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY \
  -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="$flags" -DCMAKE_CXX_FLAGS_RELEASE="$flags" \
  -DCMAKE_SHARED_LINKER_FLAGS="-static-libgcc -static-libstdc++ -Wl,--no-insert-timestamp" \
  -DBUILD_SHARED_LIBS=ON -DBUILD_TOOLS=OFF -DBUILD_TESTS=OFF \
  -DFFT_LIB=kissfft -DKISSFFT_SOURCE_DIR="$src/src/3rdparty/kissfft" >"$work/cmake.log" 2>&1 ||
  { tail -30 "$work/cmake.log" >&2; die "cmake failed"; }
make -C "$work/build" -j"$(nproc)" chromaprint >"$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; die "make failed"; }
dll=$(find "$work/build" -name 'libchromaprint*.dll' | head -1)
[[ -n $dll ]] || die "no DLL built"
x86_64-w64-mingw32-strip --strip-unneeded "$dll"
# Only Windows' own DLLs may be imported: a mingw runtime DLL would not be on the workstation.
headers=$(x86_64-w64-mingw32-objdump -p "$dll")
imports=$(awk '/DLL Name:/{print tolower($3)}' <<<"$headers" | sort -u | tr '\n' ' ')
for name in $imports; do
  case $name in kernel32.dll | msvcrt.dll | user32.dll | advapi32.dll | api-ms-win-*) ;; *) die "$dll imports $name" ;; esac
done
grep -q chromaprint_get_raw_fingerprint <<<"$headers" || die "$dll lacks the raw-fingerprint export"
cp "$dll" "$out/chromaprint.dll"
say "built $out/chromaprint.dll ($(du -h "$out/chromaprint.dll" | cut -f1); imports: $imports; sha256 $(sha256sum "$out/chromaprint.dll" | cut -c1-16)...)"
