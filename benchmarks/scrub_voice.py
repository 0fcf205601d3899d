"""`phiwall scrub --voice anonymise`: speaker linkability (EER) and word error rate, before/after.

Real human speech from registry packages (run `bash benchmarks/setup_privacy.sh` once):
Debian's Asterisk prompt packages (speakers Allison en-US, June fr-CA, Carlo it-IT, Menardi
it-IT, the ru-RU IVR voice, Armelle fr, the es-CO voice; prompts of 1.5-8 s) and the five
LibriVox sentences in the pocketsphinx sdist. Allison's Spanish prompts (es-MX) are the same
person as her English ones and count as the same speaker.

Linkability: resemblyzer d-vectors (its wheel ships the encoder; computed in the Python 3.11
venv by benchmarks/privacy_embed.py), cosine score of every pair of utterances, equal error
rate of same-speaker against other-speaker trials. Three attacks: "before" (original vs
original), "ignorant" (original enrolment vs scrubbed trial) and "lazy-informed" (scrubbed vs
scrubbed, each file with its own random alpha). Utterances are split by name into a dev half
(used to choose the alpha range) and a held-out half (the reported figures).

Utility: pocketsphinx's bundled en-US model (default decoder) on Allison's English prompts
(transcripts from asterisk-core-sounds-en's core-sounds-en.txt) and the LibriVox sentences;
WER before/after.

`--psola FLO-FHI:PLO-PHI` measures the PSOLA transform of `phiwall scrub --voice-method psola`
(agent.scrub.psola, Praat's "Change gender" through parselmouth): per utterance a formant ratio
and a pitch ratio (new median F0 over the original's) drawn from the ranges, both inverted
(moved up) for a random half.

`--world F0LO-F0HI:WLO-WHI` also measures a WORLD-vocoder transform (benchmarks/privacy_world.py,
in the bench venv): per utterance an F0 scale and a formant (spectral-envelope) warp drawn from
the ranges, inverted (upwards) for a random half of the utterances.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_voice.py
    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_voice.py --per-speaker 12 --alphas 0.75-0.9 \
        --world 0.8-0.9:0.88-0.94 0.7-0.8:0.82-0.88
    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_voice.py --alphas 0.75-0.9 0.6-0.75 0.5-0.65
    PYTHONPATH=$PWD .venv/bin/python benchmarks/scrub_voice.py --per-speaker 12 --alphas 0.75-0.9 \
        --psola 0.80-0.85:0.60-0.70 0.86-0.90:0.72-0.80 0.74-0.78:0.52-0.58
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import random
import re
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.scrub.psola import VoiceShift, psola_shift
from agent.scrub.target import Target, random_draw, to_target
from agent.scrub.voice import mcadams

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data-privacy"
SOUNDS = DATA / "root/usr/share/asterisk/sounds"
LIBRIVOX = DATA / "sdist/pocketsphinx-5.1.1/test/data/librivox"
VENV_PYTHON = HERE / ".venv-privacy/bin/python"
RATE = 16_000
SPEAKERS = {  # folder -> speaker (Allison recorded both the en-US and es-MX sets)
    "en_US_f_Allison": "allison",
    "es_MX_f_Allison": "allison",
    "fr_CA_f_June": "june",
    "it_IT_m_Carlo": "carlo",
    "it_IT_f_Menardi": "menardi",
    "ru_RU_f_IvrvoiceRU": "ru-ivr",
    "fr": "armelle",
    "es": "es-co",
}


@dataclass
class Utterance:
    speaker: str
    path: Path
    audio: np.ndarray
    text: str | None = None


def read16k(path: Path) -> np.ndarray:
    import av

    fmt = {".g722": "g722", ".gsm": "gsm"}.get(path.suffix)
    with av.open(str(path), format=fmt) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [f.to_ndarray().ravel() for fr in container.decode(audio=0) for f in resampler.resample(fr)]
        chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def english_transcripts() -> dict[str, str]:
    doc = DATA / "root/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    out = {}
    with gzip.open(doc, "rt", errors="replace") as lines:
        text_lines = list(lines)
    for line in text_lines:
        name, sep, text = line.partition(":")
        if sep and not line.startswith(";") and "[" not in text and "/" not in name:
            out[name.strip()] = text.strip()
    return out


def normalise(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def corpus(per_speaker: int) -> list[Utterance]:
    """Up to `per_speaker` utterances of 1.5-8 s per speaker (top-level prompts, sorted by name)."""
    texts = english_transcripts()
    found: dict[str, list[Utterance]] = {}
    for folder, speaker in SPEAKERS.items():
        for path in sorted((SOUNDS / folder).glob("*.*")):
            if len(found.get(speaker, [])) >= per_speaker:
                break
            if path.suffix not in {".g722", ".gsm", ".wav"}:
                continue
            audio = read16k(path)
            if not 1.5 * RATE <= audio.size <= 8 * RATE:
                continue
            text = texts.get(path.stem) if folder == "en_US_f_Allison" else None
            found.setdefault(speaker, []).append(Utterance(speaker, path, audio, text))
    for wav in sorted(LIBRIVOX.glob("*.wav")):
        text = wav.with_suffix(".txt").read_text().strip()
        found.setdefault("librivox", []).append(Utterance("librivox", wav, read16k(wav), text))
    return [u for items in found.values() for u in items]


def held_out(utterance: Utterance) -> bool:
    return hashlib.sha256(utterance.path.name.encode()).digest()[0] % 2 == 1


def write_wav(path: Path, audio: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def embed(paths: list[Path], tmp: Path) -> np.ndarray:
    listing = tmp / "paths.txt"
    listing.write_text("\n".join(str(p) for p in paths))
    target = tmp / "embeddings.npy"
    subprocess.run([str(VENV_PYTHON), str(HERE / "privacy_embed.py"), str(listing), str(target)], check=True)
    return np.load(target)


def world(utterances: list[Utterance], spec: str, rng: random.Random, tmp: Path) -> list[np.ndarray]:
    """Each utterance through benchmarks/privacy_world.py (pyworld lives in the bench venv)."""
    (f0_low, f0_high), (w_low, w_high) = ([float(v) for v in part.split("-")] for part in spec.split(":"))
    jobs = []
    for k, u in enumerate(utterances):
        f0_scale, factor = rng.uniform(f0_low, f0_high), rng.uniform(w_low, w_high)
        if rng.random() < 0.5:
            f0_scale, factor = 1 / f0_scale, 1 / factor
        jobs.append(f"{write_wav(tmp / f'w{k}.wav', u.audio)}\t{tmp / f'wo{k}.wav'}\t{f0_scale}\t{factor}")
    listing = tmp / "world.txt"
    listing.write_text("\n".join(jobs))
    subprocess.run([str(VENV_PYTHON), str(HERE / "privacy_world.py"), str(listing)], check=True)
    return [read16k(tmp / f"wo{k}.wav") for k in range(len(utterances))]


def draw_shift(spec: str, rng: random.Random) -> VoiceShift:
    """Formant and pitch ratios from FLO-FHI:PLO-PHI, both inverted for a random half (as shipped)."""
    (f_low, f_high), (p_low, p_high) = ([float(v) for v in part.split("-")] for part in spec.split(":"))
    formant, pitch = rng.uniform(f_low, f_high), rng.uniform(p_low, p_high)
    if rng.random() < 0.5:
        formant, pitch = 1 / formant, 1 / pitch
    return VoiceShift(formant, pitch)


def parse_target(spec: str) -> tuple[Target, tuple[float, float] | None]:
    """`default` or comma-separated KEY=VALUE: f0, spread, formant, eq (0/1), jitter, max, mcadams=LO-HI."""
    fields: dict[str, float | bool] = {}
    extra = None
    names = {"f0": "median_f0", "spread": "f0_spread", "formant": "formant_scale", "jitter": "jitter"}
    for item in filter(None, spec.split(",")):
        if item == "default":
            continue
        key, _, value = item.partition("=")
        if key == "mcadams":
            low, high = (float(v) for v in value.split("-"))
            extra = (low, high)
        elif key == "eq":
            fields["equalise"] = value == "1"
        elif key == "max":
            fields["max_formant_ratio"] = float(value)
        else:
            fields[names[key]] = float(value)
    return Target(**fields), extra  # type: ignore[arg-type]


def target_voice(audio: np.ndarray, spec: str, rng: random.Random) -> np.ndarray:
    """agent.scrub.target (`--voice-method target`), optionally followed by McAdams with alpha from a range."""
    target, extra = parse_target(spec)
    out = to_target(audio, rate=RATE, target=target, draw=random_draw(target, rng))
    return mcadams(out, rng.uniform(*extra)) if extra else out


def eer(enrol: np.ndarray, trial: np.ndarray, speakers: list[str]) -> float:
    """Equal error rate over all pairs i < j (enrolment i against trial j)."""
    scores = enrol @ trial.T
    i, j = np.triu_indices(len(speakers), k=1)
    same = np.array([speakers[a] == speakers[b] for a, b in zip(i, j, strict=True)])
    target, nontarget = scores[i, j][same], scores[i, j][~same]
    thresholds = np.sort(np.concatenate([target, nontarget]))
    miss = np.array([(target < t).mean() for t in thresholds])
    false_alarm = np.array([(nontarget >= t).mean() for t in thresholds])
    k = int(np.argmin(np.abs(miss - false_alarm)))
    return float((miss[k] + false_alarm[k]) / 2)


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance in words."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1]


def recognise(audio: np.ndarray, decoder: object) -> list[str]:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    decoder.start_utt()  # type: ignore[attr-defined]
    decoder.process_raw(pcm, full_utt=True)  # type: ignore[attr-defined]
    decoder.end_utt()  # type: ignore[attr-defined]
    hyp = decoder.hyp()  # type: ignore[attr-defined]
    return normalise(hyp.hypstr) if hyp is not None else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-speaker", type=int, default=24)
    parser.add_argument("--alphas", nargs="*", default=["0.75-0.9"], help="alpha ranges low-high to compare")
    parser.add_argument(
        "--world",
        nargs="*",
        default=[],
        help="WORLD transforms F0LO-F0HI:WLO-WHI to compare: F0 scale and envelope warp drawn per "
        "utterance from the ranges (< 1), then inverted (moved up instead of down) for half of them",
    )
    parser.add_argument(
        "--psola",
        nargs="*",
        default=[],
        help="PSOLA transforms FLO-FHI:PLO-PHI to compare (agent.scrub.psola, shipped as --voice-method "
        "psola with 0.86-0.90:0.72-0.80): formant ratio and pitch ratio drawn per utterance, both "
        "inverted (moved up) for half of them",
    )
    parser.add_argument(
        "--target",
        nargs="*",
        default=[],
        help="target-voice transforms to compare (agent.scrub.target, shipped as --voice-method target): "
        "`default` or KEY=VALUE,... with f0 (Hz), spread (std of ln F0), formant (scale), eq (0/1), "
        "jitter, max (formant ratio limit), mcadams=LO-HI (McAdams afterwards)",
    )
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--no-wer", action="store_true")
    args = parser.parse_args()
    if not VENV_PYTHON.exists() or not SOUNDS.exists():
        sys.exit("run `bash benchmarks/setup_privacy.sh` first")
    utterances = corpus(args.per_speaker)
    speakers = sorted({u.speaker for u in utterances})
    print(
        f"{len(utterances)} utterances, {len(speakers)} speakers: "
        + ", ".join(f"{s} {sum(u.speaker == s for u in utterances)}" for s in speakers)
    )
    held = [held_out(u) for u in utterances]
    print(f"held out (reported): {sum(held)} utterances; dev (alpha choice): {len(held) - sum(held)}")
    decoder = None
    if not args.no_wer:
        from pocketsphinx import Decoder

        decoder = Decoder(loglevel="FATAL")
    english = [u for u in utterances if u.text]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        originals = [write_wav(tmp / f"o{k}.wav", u.audio) for k, u in enumerate(utterances)]
        before = embed(originals, tmp)
        for split, mask in (("dev", [not h for h in held]), ("held-out", held)):
            idx = [k for k, m in enumerate(mask) if m]
            rate = eer(before[idx], before[idx], [utterances[k].speaker for k in idx])
            print(f"[{split}] EER before (original vs original): {100 * rate:5.1f} %")
        if decoder is not None:
            errors = sum(word_errors(normalise(u.text or ""), recognise(u.audio, decoder)) for u in english)
            words = sum(len(normalise(u.text or "")) for u in english)
            print(f"WER before: {100 * errors / words:5.1f} % ({len(english)} English utterances, {words} words)")
        specs = [("mcadams", spec) for spec in args.alphas] + [("world", spec) for spec in args.world]
        specs += [("psola", spec) for spec in args.psola] + [("target", spec) for spec in args.target]
        for method, spec in specs:
            start = time.perf_counter()
            if method == "mcadams":
                low, high = (float(v) for v in spec.split("-"))
                scrubbed = [mcadams(u.audio, rng.uniform(low, high)) for u in utterances]
                label = f"alpha {low:.2f}-{high:.2f}"
            elif method == "psola":
                scrubbed = [psola_shift(u.audio, draw_shift(spec, rng), rate=RATE) for u in utterances]
                label = f"psola {spec}"
            elif method == "target":
                scrubbed = [target_voice(u.audio, spec, rng) for u in utterances]
                label = f"target {spec}"
            else:
                scrubbed = world(utterances, spec, rng, tmp)
                label = f"world {spec}"
            seconds = sum(u.audio.size for u in utterances) / RATE
            speed = seconds / (time.perf_counter() - start)
            after = embed([write_wav(tmp / f"s{k}.wav", a) for k, a in enumerate(scrubbed)], tmp)
            line = f"{label} ({speed:4.0f}x real time):"
            for split, mask in (("dev", [not h for h in held]), ("held-out", held)):
                idx = [k for k, m in enumerate(mask) if m]
                names = [utterances[k].speaker for k in idx]
                line += (
                    f"  [{split}] EER ignorant {100 * eer(before[idx], after[idx], names):5.1f} %"
                    f" lazy-informed {100 * eer(after[idx], after[idx], names):5.1f} %"
                )
            if decoder is not None:
                eng = [k for k, u in enumerate(utterances) if u.text]
                errors = sum(
                    word_errors(normalise(utterances[k].text or ""), recognise(scrubbed[k], decoder)) for k in eng
                )
                line += f"  WER {100 * errors / words:5.1f} %"
            print(line, flush=True)


if __name__ == "__main__":
    main()
