#!/usr/bin/env python3
"""Real human voices under music and babble (issue 12 item 2), through the product path.

    bash benchmarks/setup_privacy.sh      # once: unpacks the recordings (Debian, PyPI)
    .venv/bin/python benchmarks/media_mixtures.py
    .venv/bin/python benchmarks/media_mixtures.py --per-speaker 4 --distractors 300   # quicker
    .venv/bin/python benchmarks/media_mixtures.py --json out.json
    .venv/bin/python benchmarks/media_mixtures.py --excerpts-only --log /tmp/mix.jsonl   # no whole dictations

Speech: the Asterisk prompt packages from Debian and the pocketsphinx 5.1.1 sdist's test
recordings, unpacked by `benchmarks/setup_privacy.sh` into `benchmarks/.data-privacy/` (never
installed). Nothing here is TTS. The audio decision's voice model is fitted on the "dev" split
(`MixSpec(split="dev")`: Menardi and Armelle enrolled, es-CO and pocketsphinx as babble and
distractors; benchmarks/media_calibrate.py --mixtures); the figures come from the default
"eval" split, whose enrolled voices the fit never sees.

Evaluation split by speaker (docs/detection.md "Real voices in mixtures"):
- enrolled: Allison (en-US), June (fr-CA), Carlo (it-IT, male), the ru-RU IVR voice. Each gives
  `--per-speaker` "dictations": 30-60 s of her/his prompts joined with short pauses.
- held out, never enrolled: Menardi (it-IT), Armelle (fr), the es-CO voice, the pocketsphinx
  recordings (LibriVox reader, AN4/cards/digits speakers). They make the distractors and
  every babble track.
- same speaker, other words: the enrolled speakers' prompts not in any dictation, and
  Allison's es-MX set (same person): hard negatives, reported apart.

Queries per dictation: the whole dictation, a 10 s and a 2 s excerpt, each under music
(synthesised here: chords, bass, melody, drums) or babble (3-6 held-out speakers summed) at
0, 2.5 and 5 dB SNR (active speech power over background power), plus clean 2 s and 10 s
excerpts; encoded as an upload would be (MP3 64k or AAC 64k). Distractors: held-out speech
cut to 2, 10 or 30 s, clean or with the same kinds of music and babble, plus music alone and
babble alone. Every query goes through `MediaService.match_path`; misses are diagnosed
against the index stages (landmark candidates, Chromaprint bit-error rate, calibrated score).
Generated media are cached under ~/.cache/phiwall-media-bench/mixtures-<tag>/ (or
$PHIWALL_MEDIA_BENCH_CACHE), never in the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import media_corpus  # noqa: E402
from media_corpus import Item, ff  # noqa: E402

RATE = 16_000
DATA = HERE / ".data-privacy"
SOUNDS = DATA / "root/usr/share/asterisk/sounds"
POCKETSPHINX = DATA / "sdist/pocketsphinx-5.1.1/test/data"
ENROLLED = {"en_US_f_Allison": "allison", "fr_CA_f_June": "june", "it_IT_m_Carlo": "carlo", "ru_RU_f_IvrvoiceRU": "ru"}
HELD_OUT = {"it_IT_f_Menardi": "menardi", "fr": "armelle", "es": "es-co"}
SAME_PERSON = {"es_MX_f_Allison": "allison"}  # Allison's Spanish set: an enrolled voice, other words
# The calibration's own split (benchmarks/media_calibrate.py --mixtures): two of the evaluation's
# held-out voices are enrolled, the other held-out voices make its babble and distractors. No
# voice enrolled for evaluation (nor its same-voice pool) is ever seen by the fit.
SPLITS = {
    "eval": (tuple(ENROLLED.values()), ("menardi", "armelle", "es-co", "pocketsphinx")),
    "dev": (("menardi", "armelle"), ("es-co", "pocketsphinx")),
}
SNRS = (0.0, 2.5, 5.0)
LENGTHS = {"full": None, "10s": 10.0, "2s": 2.0}
CODECS = [(".mp3", ["-b:a", "64k"]), (".m4a", ["-c:a", "aac", "-b:a", "64k"])]


def read16k(path: Path) -> np.ndarray:
    """Any of the packages' formats (G.722, GSM, WAV, headerless 16 kHz PCM) as float mono 16 kHz."""
    if path.suffix == ".raw":
        return np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
    import av

    fmt = {".g722": "g722", ".gsm": "gsm"}.get(path.suffix)
    with av.open(str(path), format=fmt) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [f.to_ndarray().ravel() for fr in container.decode(audio=0) for f in resampler.resample(fr)]
        chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _trim(audio: np.ndarray) -> np.ndarray:
    """Leading and trailing silence off (prompts carry up to a second of it)."""
    if audio.size == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > 0.02 * float(np.abs(audio).max()))
    return audio[max(0, loud[0] - 800) : loud[-1] + 800] if loud.size else audio[:0]


# Tones, hold music and the monkeys sound effect: the same sound in every voice's set.
NOT_SPEECH = {2: re.compile(r"beep|2tone|glorious"), 3: re.compile(r"beep|2tone|glorious|tt-monkeys")}


def family(name: str) -> str:
    """Prompts cut from one recording share their first two name parts (conf-adminmenu,
    conf-adminmenu-18, conf-adminmenu-162): a family goes wholly to one side of the split."""
    return "-".join(name.split("-")[:2])


def load_speakers(recipe: int = 3) -> dict[str, list[tuple[str, np.ndarray]]]:
    """speaker -> (prompt family, utterance), sorted by file name; speech only, 0.7 s or
    longer after trimming."""
    if not SOUNDS.is_dir():
        raise SystemExit("media_mixtures: run `bash benchmarks/setup_privacy.sh` first (unpacks the recordings)")
    out: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    tables = [(ENROLLED, ""), (HELD_OUT, ""), (SAME_PERSON, "-es")]
    for table, suffix in tables:
        for folder, speaker in table.items():
            for path in sorted((SOUNDS / folder).glob("*.*")):
                if path.suffix in {".g722", ".gsm", ".wav"} and not NOT_SPEECH[recipe].search(path.name):
                    audio = _trim(read16k(path))
                    if audio.size >= 0.7 * RATE:
                        out[speaker + suffix].append((family(path.stem), audio))
    for path in sorted(POCKETSPHINX.rglob("*")):
        if path.suffix in {".wav", ".raw"} and path.name not in {"null.wav", "bad.wav", "evil.wav", "awful.wav"}:
            try:
                audio = _trim(read16k(path))
            except Exception:  # a test file that is deliberately broken
                continue
            if audio.size >= 0.7 * RATE:
                out["pocketsphinx"].append((path.stem, audio))
    return dict(out)


def join(utterances: list[np.ndarray], rnd: random.Random) -> np.ndarray:
    """Utterances one after the other with 0.25-0.7 s pauses, as a dictation sounds."""
    parts: list[np.ndarray] = []
    for u in utterances:
        parts += [u, np.zeros(int(rnd.uniform(0.25, 0.7) * RATE), np.float32)]
    return np.concatenate(parts)


def speech_of(pool: list[np.ndarray], seconds: float, rnd: random.Random) -> np.ndarray:
    """`seconds` of one speaker: random utterances of `pool` joined, cut to length."""
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * RATE:
        u = rnd.choice(pool)
        parts += [u, np.zeros(int(rnd.uniform(0.2, 0.6) * RATE), np.float32)]
        total += u.size + parts[-1].size
    audio = np.concatenate(parts)
    start = rnd.randint(0, max(0, audio.size - int(seconds * RATE)))
    return audio[start : start + int(seconds * RATE)]


def active_power(audio: np.ndarray) -> float:
    """Mean power over the 20 ms frames within 30 dB of the loudest (speech, not pauses)."""
    n = audio.size // 320
    if n == 0:
        return float(np.mean(audio**2) + 1e-12)
    frames = (audio[: n * 320].reshape(n, 320) ** 2).mean(axis=1)
    return float(frames[frames > frames.max() * 1e-3].mean() + 1e-12)


def babble(pools: dict[str, list[np.ndarray]], seconds: float, rnd: random.Random) -> np.ndarray:
    """3-6 held-out speakers talking at once, each at the same level."""
    names = rnd.sample(sorted(pools), k=min(len(pools), rnd.randint(3, 6)))
    total = np.zeros(int(seconds * RATE), np.float32)
    for name in names:
        voice = speech_of(pools[name], seconds, rnd)
        total[: voice.size] += voice / np.sqrt(active_power(voice))
    return total


def music(seconds: float, rnd: random.Random) -> np.ndarray:
    """A piece of pop-like music: chord pads, bass, a plucked melody, kick and hi-hat."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.zeros(n, np.float32)
    beat = 60.0 / rnd.uniform(80, 140)
    root = rnd.randint(45, 57)  # MIDI
    scale = [0, 2, 4, 5, 7, 9, 11] if rnd.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    progression = rnd.choice([[0, 4, 5, 3], [0, 3, 4, 4], [5, 3, 0, 4], [0, 5, 3, 4]])

    def hz(midi: float) -> float:
        return float(440.0 * 2 ** ((midi - 69) / 12))

    def tone(f: float, start: float, dur: float, amp: float, decay: float, harmonics: int) -> None:
        a, b = int(start * RATE), min(n, int((start + dur) * RATE))
        if a >= b:
            return
        tt = t[a:b] - start
        env = np.exp(-tt / decay) * np.minimum(1.0, tt / 0.01)
        wave_ = sum(np.sin(2 * np.pi * f * k * tt) / k**1.3 for k in range(1, harmonics + 1))
        out[a:b] += (amp * env * wave_).astype(np.float32)

    bar = 4 * beat
    for i in range(int(seconds / bar) + 1):
        degree = progression[i % len(progression)]
        chord = [scale[(degree + s) % 7] + 12 * ((degree + s) // 7) for s in (0, 2, 4)]
        for note in chord:
            tone(hz(root + 12 + note), i * bar, bar, 0.18, 1.5, 4)
        for b_ in range(4):
            tone(hz(root - 12 + chord[0]), i * bar + b_ * beat, beat, 0.35, 0.3, 3)
            kick = int((i * bar + b_ * beat) * RATE)
            k_end = min(n, kick + int(0.15 * RATE))
            if kick < n:
                kt = t[kick:k_end] - t[kick]
                sweep = np.sin(2 * np.pi * (50 + 80 * np.exp(-kt / 0.02)) * kt)
                out[kick:k_end] += (0.6 * np.exp(-kt / 0.05) * sweep).astype(np.float32)
            for half in (0.5,):
                hat = int((i * bar + (b_ + half) * beat) * RATE)
                if hat < n:
                    h_end = min(n, hat + int(0.04 * RATE))
                    noise = np.random.default_rng(hat).standard_normal(h_end - hat)
                    out[hat:h_end] += (0.08 * noise * np.exp(-np.arange(h_end - hat) / 200)).astype(np.float32)
        step = beat / rnd.choice([1, 2])
        for k in range(int(bar / step)):
            if rnd.random() < 0.75:
                note = scale[rnd.randrange(7)] + 12 * rnd.randint(1, 2)
                tone(hz(root + 12 + note), i * bar + k * step, step, 0.22, 0.25, 5)
    return out


def mix(speech: np.ndarray, background: np.ndarray, snr_db: float) -> np.ndarray:
    """Speech over `background` scaled for `snr_db` (active speech power / background power)."""
    gain = np.sqrt(active_power(speech) / (float(np.mean(background**2)) + 1e-12) / 10 ** (snr_db / 10))
    total: np.ndarray = speech + gain * background[: speech.size]
    peak = max(1e-6, float(np.abs(total).max()))
    return np.asarray(total * (0.5 / peak), dtype=np.float32)


def made(out_stem: Path) -> Path | None:
    """The file an earlier (interrupted) run already encoded for `out_stem`, if any."""
    for suffix in (".mp3", ".m4a", ".flac"):
        if out_stem.with_suffix(suffix).exists():
            return out_stem.with_suffix(suffix)
    return None


def encode(audio: np.ndarray, out_stem: Path, rnd: random.Random, codecs: list[tuple[str, list[str]]] = CODECS) -> Path:
    suffix, codec = rnd.choice(codecs)
    if (earlier := made(out_stem)) is not None and earlier.suffix == suffix:
        return earlier
    level = 0.7 * 32767 / max(1e-6, float(np.abs(audio).max()))
    wav = media_corpus.write_wav_mono(out_stem.with_suffix(".tmp.wav"), audio * level, RATE)
    out = out_stem.with_suffix(suffix)
    ff("-i", str(wav), "-ac", "1", *codec, str(out))
    wav.unlink()
    return out


@dataclass(frozen=True)
class MixSpec:
    seed: int = 12
    version: int = 3  # of the recipe (2: no tones, hold music, prompt families kept apart; 3: no monkeys)
    per_speaker: int = 6  # dictations per enrolled speaker
    distractors: int = 1000  # held-out speech pieces (plus music alone and babble alone, 5 % each)
    split: str = "eval"  # which voices are enrolled (SPLITS): "eval" for figures, "dev" for the fit
    whole: bool = True  # also query whole dictations (False: excerpts only, a quarter of the build)

    def tag(self) -> str:
        """Names the folder; `whole` only adds queries to it (and names the manifest)."""
        fields = asdict(self)
        del fields["whole"]
        if fields["split"] == "eval":  # the evaluation corpus keeps the tag it had before splits
            del fields["split"]
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]

    def manifest(self) -> str:
        return "manifest.json" if self.whole else "manifest-excerpts.json"


def build(spec: MixSpec, log: Callable[[str], None], shard: tuple[int, int] = (0, 1)) -> tuple[Path, list[Item]]:
    """Make (or reuse) the corpus; returns its root and items (media_corpus.Item).

    `shard` (k, n): this process makes distractors k, k + n, ... first; shard 0 then collects
    all of them (waiting for the other shards' files) and writes the manifest, the others
    return no items. Running n processes spreads the build over the cores."""
    root = media_corpus.cache_root() / f"mixtures-{spec.tag()}"
    manifest = root / spec.manifest()
    if manifest.exists():
        return root, [Item(**d) for d in json.loads(manifest.read_text())]
    for sub in ("orig", "query", "neg"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rnd = random.Random(spec.seed)
    speakers = load_speakers(spec.version)
    log("media_mixtures: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(speakers.items())))
    enrolled_voices, held_voices = SPLITS[spec.split]
    held = {s: [a for _, a in speakers[s]] for s in held_voices if speakers.get(s)}
    same_pools: dict[str, list[np.ndarray]] = {}
    items: list[Item] = []
    dictations: list[tuple[str, np.ndarray]] = []
    enrol_codecs = [(".m4a", ["-c:a", "aac", "-b:a", "96k"]), (".mp3", ["-b:a", "128k"]), (".flac", [])]
    for speaker in enrolled_voices:
        pool = list(speakers[speaker])
        rnd.shuffle(pool)
        enrolled_families: set[str] = set()
        for d in range(spec.per_speaker):
            target, taken = rnd.uniform(30, 60) * RATE, list[np.ndarray]()
            while sum(u.size for u in taken) < target and pool:
                name, utterance = pool.pop()
                taken.append(utterance)
                enrolled_families.add(name)
            audio = join(taken, rnd)
            out = encode(audio, root / "orig" / f"{speaker}{d:02d}", rnd, enrol_codecs)
            items.append(Item(str(out.relative_to(root)), "original", "audio", note=speaker))
            dictations.append((str(out.relative_to(root)), audio))
        # Never enrolled: same voice, other words (no prompt cut from an enrolled recording).
        same_pools[speaker] = [a for name, a in pool if name not in enrolled_families]
        log(
            f"media_mixtures: {speaker}: {spec.per_speaker} dictations, "
            f"{len(same_pools[speaker])} prompts left as hard negatives"
        )
    if "allison" in same_pools:
        same_pools["allison"] += [a for _, a in speakers.get("allison-es", [])]

    for path, audio in dictations if shard[0] == 0 else []:
        stem = Path(path).stem
        for length, seconds in LENGTHS.items():
            if seconds is None and not spec.whole:
                continue
            for background in ("music", "babble"):
                for snr in SNRS:
                    name = f"{background}_{snr:g}db_{length}"
                    out_stem = root / "query" / f"{stem}__{name.replace('.', 'p')}"
                    if (earlier := made(out_stem)) is not None:
                        items.append(
                            Item(str(earlier.relative_to(root)), "query", "audio", source=path, transform=name)
                        )
                        continue
                    r = random.Random(f"{spec.seed}:{path}:{length}:{background}:{snr}")
                    piece = audio if seconds is None else _excerpt(audio, seconds, r)
                    bg = music(piece.size / RATE, r) if background == "music" else babble(held, piece.size / RATE, r)
                    out = encode(mix(piece, bg, snr), out_stem, r)
                    items.append(Item(str(out.relative_to(root)), "query", "audio", source=path, transform=name))
        for seconds in (2.0, 10.0):
            r = random.Random(f"{spec.seed}:{path}:clean{seconds}")
            name = f"clean_{seconds:g}s"
            out = encode(_excerpt(audio, seconds, r), root / "query" / f"{stem}__{name}", r)
            items.append(Item(str(out.relative_to(root)), "query", "audio", source=path, transform=name))
        log(f"media_mixtures: queries of {stem}")

    total = spec.distractors + spec.distractors // 10
    k, n = shard
    for i in range(k, total, n):  # this process's share first, then everyone's (waiting for the others)
        _distractor(spec, i, root, held, same_pools, log)
    if k != 0:
        return root, []
    items += [_distractor(spec, i, root, held, same_pools, log, wait_s=900.0 if n > 1 else 0.0) for i in range(total)]
    manifest.write_text(json.dumps([asdict(it) for it in items], indent=1))
    return root, items


def _distractor(
    spec: MixSpec,
    i: int,
    root: Path,
    held: dict[str, list[np.ndarray]],
    same_pools: dict[str, list[np.ndarray]],
    log: Callable[[str], None],
    wait_s: float = 0.0,
) -> Item:
    """Distractor `i` (made, or found made by another shard: a side file holds its class)."""
    r = random.Random(f"{spec.seed}:neg:{i}")
    seconds = r.choices([2.0, 10.0, 30.0], weights=[40, 45, 15])[0]
    stem = root / "neg" / f"neg{i:04d}_{int(seconds)}s"
    side = stem.with_suffix(".json")
    deadline = time.time() + wait_s
    while not side.exists() and time.time() < deadline:
        time.sleep(2.0)
    if side.exists() and (earlier := made(stem)) is not None:
        return Item(str(earlier.relative_to(root)), "negative", "audio", note=json.loads(side.read_text())["note"])
    if i >= spec.distractors:  # background alone
        kind = "music_alone" if i % 2 else "babble_alone"
        audio = music(seconds, r) if kind == "music_alone" else babble(held, seconds, r)
        note = kind
    else:
        if i < spec.distractors // 5:
            speaker = sorted(same_pools)[i % len(same_pools)]
            speech, note = speech_of(same_pools[speaker], seconds, r), "same_speaker"
        else:
            speaker = sorted(held)[i % len(held)]
            speech, note = speech_of(held[speaker], seconds, r), "held_out_speaker"
        background = r.choice(["clean", "music", "music", "babble", "babble"])
        if background == "clean":
            audio = speech
        else:
            bg = music(seconds, r) if background == "music" else babble(held, seconds, r)
            audio = mix(speech, bg, r.choice(SNRS))
        note += f":{background}"
    out = encode(audio, stem, r)
    side.write_text(json.dumps({"note": note}))
    if i % 100 == 0:
        log(f"media_mixtures: distractor {i}")
    return Item(str(out.relative_to(root)), "negative", "audio", note=note)


def _excerpt(audio: np.ndarray, seconds: float, rnd: random.Random) -> np.ndarray:
    n = int(seconds * RATE)
    start = rnd.randint(0, max(0, audio.size - n))
    return audio[start : start + n]


def diagnose(service: object, path: Path, source_id: str) -> str:
    """Why a query missed: was its source proposed by the landmark stage, and how did the
    Chromaprint check and the calibrated decision see it?"""
    from agent.media.decision import decide
    from agent.media.fingerprint import QUERY_FPS, fingerprint
    from agent.media.index import search_audio
    from agent.media.model import MediaLimits

    state = service.index.state  # type: ignore[attr-defined]
    prints = fingerprint(path, MediaLimits(), frame_fps=QUERY_FPS)
    if prints.audio is None or prints.audio.hashes.size < 8:
        return "too few landmarks"
    found = search_audio(state, prints.audio)
    for rank, c in enumerate(found):
        if c.asset_id == source_id:
            score, ok = decide("audio", c, service.calibration)  # type: ignore[attr-defined]
            return (
                f"rank {rank} votes {c.lm_votes}/{c.lm_total} cover {c.lm_coverage:.2f} "
                f"ber {c.cp_ber:.3f} ({c.cp_overlap}) score {score:.3f} {'accepted' if ok else 'rejected'}"
            )
    return f"not proposed ({len(found)} candidates, {prints.audio.hashes.size} landmarks)"


def summarise(records: list[dict[str, object]], enrolled_s: float, root: Path) -> dict[str, object]:
    """Print the per-case table, distractor classes, misses and latency; return the figures."""
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # hit, wrong, total
    negatives: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # false, total
    latency: dict[str, list[float]] = defaultdict(list)
    misses: dict[str, list[str]] = defaultdict(list)
    notes: list[str] = []
    for rec in records:
        case, found, ms = str(rec["case"]), rec["found"], float(rec["ms"])  # type: ignore[arg-type]
        latency[f"{rec['role']} {rec['length']}"].append(ms)
        if rec["role"] == "negative":
            negatives[case][1] += 1
            if found:
                negatives[case][0] += 1
                notes.append(f"FALSE {rec['path']} ({case}) -> {found} ({rec['score']})")
            continue
        row = rows[case]
        row[2] += 1
        if found == rec["source"]:
            row[0] += 1
            continue
        if found:
            row[1] += 1
            notes.append(f"WRONG {rec['path']} -> {found}")
        if rec.get("why"):
            misses[case].append(f"  {rec['path']}: {rec['why']}")
    print(f"enrolled: {enrolled_s:.0f} s of real speech ({root})")
    print(f"{'case':22} {'recall':>7} {'hits':>5} {'wrong':>5}  of")
    for name in sorted(rows, key=lambda k: (k.split("_")[-1], k)):
        hit, wrong, total = rows[name]
        print(f"{name:22} {hit / total:7.3f} {hit:5d} {wrong:5d}  {total}")
    print(f"\n{'distractor class':32} {'false':>5}  of")
    for name in sorted(negatives):
        false, total = negatives[name]
        print(f"{name:32} {false:5d}  {total}")
    for line in notes:
        print(line)
    for name, lines in sorted(misses.items()):
        print(f"misses {name}:")
        print("\n".join(lines))
    falses = sum(n[0] for n in negatives.values())
    n_neg = sum(n[1] for n in negatives.values())
    hits, wrong, total_q = (sum(r[i] for r in rows.values()) for i in range(3))
    print(f"\nrecall {hits / max(1, total_q):.3f} ({hits}/{total_q}), wrong-asset {wrong}, false {falses}/{n_neg}")
    for key, values in sorted(latency.items()):
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"match latency {key:>13}: p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms (n={len(values)})")
    return {
        "per_case": {k: {"recall": v[0] / v[2], "wrong": v[1], "n": v[2]} for k, v in rows.items()},
        "per_distractor_class": {k: {"false": v[0], "n": v[1]} for k, v in negatives.items()},
        "false_matches": falses,
        "distractors": n_neg,
        "wrong_asset": wrong,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--per-speaker", type=int, default=6)
    ap.add_argument("--distractors", type=int, default=1000)
    ap.add_argument("--recipe", type=int, default=3, choices=(2, 3), help="corpus recipe version (see MixSpec)")
    ap.add_argument("--excerpts-only", action="store_true", help="no whole-dictation queries (a quarter of the build)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--diagnose", action="store_true", help="add the index stages' view of every miss")
    ap.add_argument("--log", type=Path, help="append one JSON line per query as it is matched")
    ap.add_argument("--summarise", type=Path, help="only print the figures of a --log (a partial run too)")
    args = ap.parse_args(argv)
    if args.summarise:
        partial = [json.loads(line) for line in args.summarise.read_text().splitlines() if line.strip()]
        summarise(partial, 0.0, args.summarise)
        return 0
    from media_eval import asset_paths, enrolled

    spec = MixSpec(
        seed=args.seed,
        version=args.recipe,
        per_speaker=args.per_speaker,
        distractors=args.distractors,
        whole=not args.excerpts_only,
    )
    root, items = build(spec, log=lambda m: print(m, file=sys.stderr))
    log = args.log.open("a") if args.log else None
    records: list[dict[str, object]] = []
    with enrolled(root, items) as (service, _wall, media_s):
        names = asset_paths(service, root)
        ids = {v: k for k, v in names.items()}
        # Queries first, then distractors: a partial --log already has every case.
        for it in sorted((x for x in items if x.role != "original"), key=lambda x: x.role != "query"):
            outcome = service.match_path(root / it.path)
            found = names.get(outcome.match.asset_id) if outcome.match else None
            label = it.path.rsplit("_", 1)[-1].split(".")[0] if it.role == "negative" else it.transform
            rec: dict[str, object] = {
                "path": it.path,
                "role": it.role,
                "case": it.note if it.role == "negative" else it.transform,
                "length": label.rsplit("_", 1)[-1],
                "source": it.source,
                "found": found,
                "score": round(outcome.match.score, 3) if outcome.match else None,
                "ms": round(outcome.ms, 1),
            }
            if args.diagnose and it.role == "query" and found != it.source and it.source:
                rec["why"] = diagnose(service, root / it.path, ids[it.source])
            records.append(rec)
            if log:
                log.write(json.dumps(rec) + "\n")
                log.flush()
    figures = summarise(records, media_s, root)
    if args.json:
        args.json.write_text(json.dumps({"spec": asdict(spec), **figures}, indent=1))
    return 0


if __name__ == "__main__":
    started = time.time()
    code = main()
    print(f"({time.time() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
