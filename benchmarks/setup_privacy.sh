#!/usr/bin/env bash
# Set-up for benchmarks/scrub_voice.py (speaker linkability and WER before/after `phiwall scrub`).
#
# 1. A Python 3.11 venv (git-ignored) with resemblyzer, whose wheel ships its pretrained speaker
#    encoder, and torch (resemblyzer needs it; wheels for 3.11 exist, the agent venv is 3.12).
# 2. Real human speech from registry packages, unpacked (never installed) into a git-ignored
#    folder: Debian's Asterisk prompt packages (several professional speakers, hundreds of
#    prompts each; the English set comes with its transcripts) and the LibriVox test recordings
#    in the pocketsphinx sdist on PyPI (with transcripts).
# 3. The recogniser for the WER part: `pocketsphinx` (wheel, ships its English model; it pulls
#    `sounddevice`) in the agent venv, where scrub_voice.py runs, and in the bench venv together
#    with `pyworld` (WORLD vocoder, for pitch/formant experiments; its 0.3.5 still imports
#    pkg_resources, hence setuptools<81). These were once installed by hand: declared here now.
#
#   bash benchmarks/setup_privacy.sh            # then:
#   PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_voice.py
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-privacy"
data="$here/.data-privacy"
if [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv"
  torch_wheel=$(ls /opt/wheels/torch-*-cp311-*.whl 2>/dev/null | head -1 || true)
  # setuptools<81: webrtcvad (a resemblyzer dependency) still imports pkg_resources.
  "$venv/bin/pip" install ${torch_wheel:-torch} resemblyzer 'setuptools<81'
fi
bench_packages=(pocketsphinx==5.1.1 sounddevice pyworld)
# (pip, not an import check: importing sounddevice fails without the PortAudio library.)
"$venv/bin/pip" install -q "${bench_packages[@]}"
agent_python="$here/../.venv/bin/python"
if [ -x "$agent_python" ] && ! "$agent_python" -c "import pocketsphinx" 2>/dev/null; then
  "$agent_python" -m pip install pocketsphinx==5.1.1
fi
mkdir -p "$data/deb" "$data/sdist"
if [ ! -d "$data/root/usr/share/asterisk/sounds/en_US_f_Allison" ]; then
  (cd "$data/deb" && apt-get download asterisk-core-sounds-en asterisk-core-sounds-{en,es,fr,it,ru}-g722 \
    asterisk-prompt-fr-armelle asterisk-prompt-es-co asterisk-prompt-it-menardi-wav)
  for deb in "$data"/deb/*.deb; do dpkg-deb -x "$deb" "$data/root"; done
fi
if [ ! -d "$data/sdist/pocketsphinx-5.1.1/test/data/librivox" ]; then
  sdist="$data/sdist/pocketsphinx-5.1.1.tar.gz"
  [ -f "$sdist" ] || (cd "$data/sdist" && pip download --no-deps --no-binary pocketsphinx pocketsphinx==5.1.1 -d .)
  tar xzf "$sdist" -C "$data/sdist" pocketsphinx-5.1.1/test/data
fi
echo "ready: $venv, $data"
