"""PhiWall's own detection corpus: generated speech and video, the transformations uploads go
through (docs/detection.md), and hard negatives. Used by `media_calibrate.py` (to fit the decision)
and `media_quality.py` (to report recall per transformation).

Nothing is downloaded: speech comes from espeak-ng, pictures from ffmpeg's lavfi sources,
degradations from ffmpeg/sox/numpy. A corpus is deterministic for its seed and cached under
~/.cache/phiwall-media-bench/<tag>/ (or $PHIWALL_MEDIA_BENCH_CACHE).

Hard negatives on purpose: never-enrolled clinical dictations spoken by the same voices
(same espeak voice, speed and pitch family), and videos made from the same lavfi pattern as
an enrolled one (testsrc2 is identical up to hue) with another sound track or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import wave
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SENTENCES = [
    "Admission note for a {age} year old {sex} with {complaint} for the past {n} days.",
    "Past medical history includes {condition} and {condition2}, both managed by the family physician.",
    "She takes {drug} {dose} milligrams {freq} and reports good adherence.",
    "He takes {drug} {dose} milligrams {freq} and stopped {drug2} last month because of dizziness.",
    "Vital signs: blood pressure {sbp} over {dbp}, pulse {hr}, respiratory rate {rr}, saturation {spo2} percent.",
    "On auscultation there are {finding} over the {side} lower zone.",
    "The abdomen is soft with mild tenderness in the {quadrant} quadrant and no guarding.",
    "Laboratory results show sodium {na}, potassium {k} point {k2}, and a C reactive protein of {crp}.",
    "Imaging of the {organ} demonstrates {imaging}.",
    "Assessment: probable {diagnosis}. Differential includes {diagnosis2}.",
    "Plan: start {drug} and recheck renal function in {n} days, with a telephone review on {day}.",
    "Patient identifier {mrn}, date of birth the {dobday} of {month} {year}.",
    "Wound on the {side} shin measures {n} by {n2} centimetres with healthy granulation tissue.",
    "The family was updated at the bedside and agrees with the plan of care.",
]
VOCAB = {
    "sex": ["man", "woman"],
    "complaint": ["shortness of breath", "productive cough", "abdominal pain", "dizzy spells", "swollen ankles"],
    "condition": ["atrial fibrillation", "asthma", "chronic kidney disease", "hypothyroidism", "osteoarthritis"],
    "condition2": ["gout", "depression", "heart failure", "obesity", "glaucoma"],
    "drug": ["apixaban", "furosemide", "levothyroxine", "amlodipine", "sertraline", "prednisolone"],
    "drug2": ["ramipril", "tamsulosin", "gabapentin", "simvastatin"],
    "freq": ["once daily", "twice daily", "at night", "every morning"],
    "finding": ["coarse crackles", "reduced breath sounds", "a pleural rub", "expiratory wheeze"],
    "side": ["left", "right"],
    "quadrant": ["right upper", "left lower", "right lower", "epigastric"],
    "organ": ["chest", "abdomen", "left knee", "lumbar spine"],
    "imaging": ["a small effusion", "no acute abnormality", "degenerative change", "a hiatus hernia"],
    "diagnosis": ["pneumonia", "cholecystitis", "cellulitis", "a urinary tract infection"],
    "diagnosis2": ["pulmonary embolism", "pancreatitis", "deep vein thrombosis", "diverticulitis"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "month": ["February", "April", "July", "September", "December"],
}
OTHER_SENTENCES = [
    "The parking garage on Elm Street will be closed for resurfacing until {day}.",
    "Our book club is reading a novel about lighthouse keepers this month.",
    "Please restart your laptop after the security update finishes installing.",
    "The bakery sells out of sourdough by nine, so come early on {day}.",
    "Train services to the airport run every {n} minutes on weekends.",
    "The gym has new opening hours starting next week.",
    "Bring a warm jacket, the evening will be cold and windy.",
    "The kids' science fair projects are due before the spring break.",
]
VOICES = [
    "en-us",
    "en-gb",
    "en-us+f2",
    "en-us+m4",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-029",
    "en-us-nyc",
    "en-gb+f3",
    "en-gb-x-gbclan",
]
VIDEO_PATTERNS = [
    "testsrc2=s={w}x{h}:rate={fps}",
    "mandelbrot=s={w}x{h}:rate={fps}:start_scale={scale:.2f}",
    "life=s={w}x{h}:rate={fps}:ratio={ratio:.2f}:seed={seed}:mold=8:life_color=#{color}",
    "cellauto=s={w}x{h}:rate={fps}:rule={rule}:seed={seed}",
    "sierpinski=s={w}x{h}:rate={fps}:seed={seed}:jump={jump}",
    "gradients=s={w}x{h}:rate={fps}:seed={seed}:speed=0.0{speed}{colours}",
]

AUDIO_TRANSFORMS: dict[str, Callable[[Path, Path, random.Random, Path], Path]] = {}
VIDEO_TRANSFORMS: dict[str, Callable[[Path, Path, random.Random, Path], Path]] = {}


def gradient_colours(seed: int, count: int) -> str:
    """`gradients` options naming `count` colours drawn from `seed`: FFmpeg 5.1 picks its
    colours at random whatever the seed, so the corpus would differ from run to run."""
    rnd = random.Random(f"gradients:{seed}")
    return "".join(f":c{i}=0x{rnd.randint(0, 0xFFFFFF):06X}" for i in range(count))


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)


def ff(*args: str) -> None:
    _run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args])


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip() or 0)


def _fill(template: str, rnd: random.Random, vocab: dict[str, list[str]]) -> str:
    values: dict[str, object] = {k: rnd.choice(v) for k, v in vocab.items()}
    values.update(
        age=rnd.randint(19, 96),
        n=rnd.randint(2, 14),
        n2=rnd.randint(2, 9),
        dose=rnd.choice([2, 5, 10, 40, 75, 100, 250]),
        sbp=rnd.randint(95, 190),
        dbp=rnd.randint(50, 115),
        hr=rnd.randint(45, 140),
        rr=rnd.randint(10, 32),
        spo2=rnd.randint(84, 100),
        na=rnd.randint(126, 148),
        k=rnd.randint(3, 5),
        k2=rnd.randint(0, 9),
        crp=rnd.randint(1, 300),
        mrn=" ".join(str(rnd.randint(0, 9)) for _ in range(7)),
        dobday=rnd.randint(1, 28),
        year=rnd.randint(1929, 2008),
    )
    return template.format(**values)


def speech_text(rnd: random.Random, seconds: float, clinical: bool) -> str:
    words: list[str] = []
    while len(words) < seconds * 2.5:
        if clinical:
            words += _fill(rnd.choice(SENTENCES), rnd, VOCAB).split()
        else:
            words += _fill(rnd.choice(OTHER_SENTENCES), rnd, {"day": VOCAB["day"]}).split()
    return " ".join(words)


def espeak(text: str, voice: str, speed: int, pitch: int, out: Path) -> Path:
    _run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text])
    return out


def read_wav_mono(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        channels = handle.getnchannels()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32)
    return data.reshape(-1, channels).mean(axis=1), rate


def write_wav_mono(path: Path, samples: np.ndarray, rate: int) -> Path:
    clipped = np.clip(samples, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(clipped.tobytes())
    return path


# --- audio transformations: (source, output stem, rng, scratch dir) -> file ---------------------


def audio_transform(name: str) -> Callable[[Callable[..., Path]], Callable[..., Path]]:
    def register(fn: Callable[..., Path]) -> Callable[..., Path]:
        AUDIO_TRANSFORMS[name] = fn
        return fn

    return register


def video_transform(name: str) -> Callable[[Callable[..., Path]], Callable[..., Path]]:
    def register(fn: Callable[..., Path]) -> Callable[..., Path]:
        VIDEO_TRANSFORMS[name] = fn
        return fn

    return register


def _excerpt_start(src: Path, seconds: float, rnd: random.Random) -> float:
    return rnd.uniform(0.0, max(0.0, probe_duration(src) - seconds))


def _mixed_with_noise(src: Path, stem: Path, rnd: random.Random, snr_db: float, colour: str) -> Path:
    wav = stem.with_suffix(".clean.wav")
    ff("-i", str(src), "-vn", "-ac", "1", "-ar", "16000", str(wav))
    clean, rate = read_wav_mono(wav)
    wav.unlink()
    gen = np.random.default_rng(rnd.randint(0, 2**31))
    noise = gen.standard_normal(clean.size).astype(np.float32)
    if colour == "pink":
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
        noise = np.fft.irfft(spectrum, n=clean.size).astype(np.float32)
    speech_power = float(np.mean(clean[np.abs(clean) > 0.02 * np.abs(clean).max()] ** 2))
    noise *= np.sqrt(speech_power / (10 ** (snr_db / 10)) / float(np.mean(noise**2)))
    mixed = write_wav_mono(stem.with_suffix(".mix.wav"), clean + noise, rate)
    out = stem.with_suffix(".m4a")
    ff("-i", str(mixed), "-c:a", "aac", "-b:a", "64k", str(out))
    mixed.unlink()
    return out


@audio_transform("mp3_24k")
def _mp3_24k(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".mp3")
    ff("-i", str(src), "-vn", "-ac", "1", "-b:a", "24k", str(out))
    return out


@audio_transform("opus_12k")
def _opus_12k(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".webm")
    ff("-i", str(src), "-vn", "-c:a", "libopus", "-b:a", "12k", str(out))
    return out


@audio_transform("flac_8k")
def _flac_8k(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".flac")
    ff("-i", str(src), "-vn", "-ac", "1", "-ar", "8000", str(out))
    return out


@audio_transform("quiet_minus15db")
def _quiet(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".ogg")
    ff("-i", str(src), "-vn", "-af", "volume=-15dB", "-c:a", "libvorbis", "-q:a", "2", str(out))
    return out


@audio_transform("telephone")
def _telephone(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".wav")
    ff(
        "-i",
        str(src),
        "-vn",
        "-af",
        "highpass=f=300,lowpass=f=3400",
        "-ar",
        "8000",
        "-ac",
        "1",
        "-c:a",
        "pcm_mulaw",
        str(out),
    )
    return out


@audio_transform("noise_white_10db")
def _white10(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    return _mixed_with_noise(src, stem, rnd, 10.0, "white")


@audio_transform("noise_pink_10db")
def _pink10(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    return _mixed_with_noise(src, stem, rnd, 10.0, "pink")


@audio_transform("tempo_plus4")
def _tempo_up(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".mp3")
    ff("-i", str(src), "-vn", "-af", "atempo=1.04", "-b:a", "64k", str(out))
    return out


@audio_transform("tempo_minus4")
def _tempo_down(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".mp3")
    ff("-i", str(src), "-vn", "-af", "atempo=0.96", "-b:a", "64k", str(out))
    return out


@audio_transform("reverb")
def _reverb(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    wav = stem.with_suffix(".dry.wav")
    ff("-i", str(src), "-vn", "-ac", "1", "-ar", "22050", str(wav))
    wet = stem.with_suffix(".wet.wav")
    _run(["sox", str(wav), str(wet), "reverb", "60", "50", "80", "100", "20"])
    out = stem.with_suffix(".m4a")
    ff("-i", str(wet), "-c:a", "aac", "-b:a", "64k", str(out))
    wav.unlink()
    wet.unlink()
    return out


def _excerpt(seconds: float, suffix: str, codec: list[str], extra_filter: str = "") -> Callable[..., Path]:
    def transform(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
        start = _excerpt_start(src, seconds, rnd)
        out = stem.with_suffix(suffix)
        filters = ["-af", extra_filter] if extra_filter else []
        ff("-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-i", str(src), "-vn", *filters, *codec, str(out))
        return out

    return transform


AUDIO_TRANSFORMS["excerpt3_mp3"] = _excerpt(3.0, ".mp3", ["-b:a", "48k"])
AUDIO_TRANSFORMS["excerpt5_opus"] = _excerpt(5.0, ".ogg", ["-c:a", "libopus", "-b:a", "16k"])
AUDIO_TRANSFORMS["excerpt8_phone"] = _excerpt(
    8.0, ".wav", ["-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw"], "highpass=f=300,lowpass=f=3400"
)
AUDIO_TRANSFORMS["excerpt10_tempo"] = _excerpt(10.0, ".m4a", ["-c:a", "aac", "-b:a", "48k"], "atempo=1.03")


@audio_transform("excerpt6_noise15")
def _excerpt_noisy(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    cut = _excerpt(6.0, ".wav", ["-ac", "1", "-ar", "16000"])(src, stem.with_name(stem.name + "_cut"), rnd, tmp)
    out = _mixed_with_noise(cut, stem, rnd, 15.0, "pink")
    cut.unlink()
    return out


@audio_transform("splice10_in_other")
def _splice(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    """A 10 s excerpt between two stretches of unrelated speech (a clip pasted into a longer file)."""
    cut = _excerpt(10.0, ".wav", ["-ac", "1", "-ar", "22050"])(src, stem.with_name(stem.name + "_cut"), rnd, tmp)
    before = espeak(speech_text(rnd, 12, False), rnd.choice(VOICES), 160, 50, stem.with_suffix(".a.wav"))
    after = espeak(speech_text(rnd, 12, False), rnd.choice(VOICES), 160, 50, stem.with_suffix(".b.wav"))
    out = stem.with_suffix(".mp3")
    ff(
        "-i",
        str(before),
        "-i",
        str(cut),
        "-i",
        str(after),
        "-filter_complex",
        "[0:a]aresample=22050[a];[1:a]aresample=22050[b];[2:a]aresample=22050[c];[a][b][c]concat=n=3:v=0:a=1",
        "-ac",
        "1",
        "-b:a",
        "64k",
        str(out),
    )
    for leftover in (cut, before, after):
        leftover.unlink()
    return out


# --- video transformations --------------------------------------------------------------------


def _video(fn: Callable[[Path, Path, random.Random], list[str]], suffix: str) -> Callable[..., Path]:
    def transform(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
        out = stem.with_suffix(suffix)
        ff(*fn(src, out, rnd), str(out))
        return out

    return transform


X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
VIDEO_TRANSFORMS["vp9_240p"] = _video(
    lambda s, o, r: [
        "-i",
        str(s),
        "-vf",
        "scale=-2:240",
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "200k",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-c:a",
        "libopus",
        "-b:a",
        "24k",
    ],
    ".webm",
)
VIDEO_TRANSFORMS["h264_crf38_15fps"] = _video(
    lambda s, o, r: ["-i", str(s), "-r", "15", *X264, "-crf", "38", "-c:a", "aac", "-b:a", "32k"], ".mp4"
)
VIDEO_TRANSFORMS["crop10_silent"] = _video(
    lambda s, o, r: ["-i", str(s), "-an", "-vf", "crop=iw*0.9:ih*0.9,scale=-2:300", *X264, "-crf", "28"], ".mp4"
)
VIDEO_TRANSFORMS["crop10_corner_silent"] = _video(
    lambda s, o, r: ["-i", str(s), "-an", "-vf", "crop=iw*0.9:ih*0.9:0:0", *X264, "-crf", "28"], ".mkv"
)
VIDEO_TRANSFORMS["letterbox_silent"] = _video(
    lambda s, o, r: ["-i", str(s), "-an", "-vf", "scale=480:270,pad=640:360:80:45:black", *X264, "-crf", "28"], ".mov"
)
VIDEO_TRANSFORMS["brightness_silent"] = _video(
    lambda s, o, r: ["-i", str(s), "-an", "-vf", "eq=brightness=0.12:contrast=1.1", *X264, "-crf", "28"], ".mp4"
)
VIDEO_TRANSFORMS["mpeg4_avi_silent"] = _video(
    lambda s, o, r: ["-i", str(s), "-an", "-c:v", "mpeg4", "-q:v", "8", "-r", "12"], ".avi"
)


@video_transform("excerpt6_silent")
def _video_excerpt(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    start = _excerpt_start(src, 6.0, rnd)
    out = stem.with_suffix(".mp4")
    ff("-ss", f"{start:.3f}", "-t", "6", "-i", str(src), "-an", *X264, "-crf", "30", str(out))
    return out


@video_transform("frame_png")
def _frame_png(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    start = _excerpt_start(src, 1.0, rnd)
    out = stem.with_suffix(".png")
    ff("-ss", f"{start:.3f}", "-i", str(src), "-frames:v", "1", str(out))
    return out


@video_transform("frame_crop_webp")
def _frame_crop(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    start = _excerpt_start(src, 1.0, rnd)
    out = stem.with_suffix(".webp")
    ff("-ss", f"{start:.3f}", "-i", str(src), "-frames:v", "1", "-vf", "crop=iw*0.9:ih*0.9,scale=320:-2", str(out))
    return out


@video_transform("sound_track_opus")
def _sound_track(src: Path, stem: Path, rnd: random.Random, tmp: Path) -> Path:
    out = stem.with_suffix(".ogg")
    ff("-i", str(src), "-vn", "-c:a", "libopus", "-b:a", "20k", str(out))
    return out


# --- the corpus ---------------------------------------------------------------------------------


@dataclass
class Item:
    path: str  # relative to the corpus root
    role: str  # "original" | "query" | "negative"
    kind: str  # "audio" | "video" | "image"
    source: str | None = None  # original the query was made from
    transform: str = ""
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CorpusSpec:
    seed: int = 11
    audio: int = 24
    video: int = 8
    negative_audio: int = 24
    negative_video: int = 16
    extra_negative_video: int = 40  # silent clips of other picture sources (and a frame of each)
    audio_transforms: tuple[str, ...] = tuple(AUDIO_TRANSFORMS)
    video_transforms: tuple[str, ...] = tuple(VIDEO_TRANSFORMS)

    def tag(self) -> str:
        """Names the originals and negatives; transformations and extra negatives are derived
        into the same folder."""
        base = {k: v for k, v in asdict(self).items() if not k.endswith("transforms") and not k.startswith("extra")}
        return hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()[:12]

    def manifest_name(self) -> str:
        return (
            "manifest-" + hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12] + ".json"
        )


def cache_root() -> Path:
    return Path(os.environ.get("PHIWALL_MEDIA_BENCH_CACHE", Path.home() / ".cache" / "phiwall-media-bench"))


def build(spec: CorpusSpec, root: Path | None = None, log: Callable[[str], None] = print) -> tuple[Path, list[Item]]:
    """Build (or reuse) the corpus for `spec`; returns its root and items."""
    root = (root or cache_root()) / spec.tag()
    manifest = root / spec.manifest_name()
    if manifest.exists():
        return root, [Item(**d) for d in json.loads(manifest.read_text())]
    base_manifest = root / "base.json"
    if base_manifest.exists():
        based = [Item(**d) for d in json.loads(base_manifest.read_text())]
        based += _extra_negatives(spec, root)
        return root, _derive(spec, root, based, log, manifest)
    for tool in ("espeak-ng", "ffmpeg", "ffprobe", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"media_corpus: {tool} is not installed (scripts/setup.sh --dev)")
    rnd = random.Random(spec.seed)
    for sub in ("orig", "query", "neg", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    tmp = root / "tmp"
    voices_used: list[tuple[str, int, int]] = []

    def speak(stem: str, clinical: bool, seconds: float, voice: tuple[str, int, int] | None = None) -> Path:
        voice = voice or (rnd.choice(VOICES), rnd.randint(135, 180), rnd.randint(30, 70))
        voices_used.append(voice)
        return espeak(speech_text(rnd, seconds, clinical), *voice, tmp / f"{stem}.wav")

    formats = [
        (".m4a", ["-c:a", "aac", "-b:a", "96k"]),
        (".mp3", ["-b:a", "128k"]),
        (".wav", []),
        (".ogg", ["-c:a", "libopus", "-b:a", "48k"]),
        (".flac", []),
    ]
    for i in range(spec.audio):
        wav = speak(f"dict{i:03d}", True, rnd.uniform(30, 120))
        suffix, codec = rnd.choice(formats)
        out = root / "orig" / f"dict{i:03d}{suffix}"
        ff("-i", str(wav), *codec, str(out))
        items.append(Item(str(out.relative_to(root)), "original", "audio"))
        log(f"media_corpus: {out.name}")

    def make_video(name: str, pattern: str, seconds: float, speech: Path | None, hue: int) -> Path:
        out = root / name
        args = ["-f", "lavfi", "-i", pattern]
        if speech is not None:
            args += ["-i", str(speech), "-shortest", "-c:a", "aac", "-b:a", "96k"]
        ff(*args, "-vf", f"hue=h={hue},format=yuv420p", "-t", f"{seconds:.2f}", *X264, "-crf", "22", str(out))
        return out

    def pattern_for(index: int) -> str:
        template = VIDEO_PATTERNS[index % len(VIDEO_PATTERNS)]
        seed = rnd.randint(1, 10**6)
        return template.format(
            w=480,
            h=360,
            fps=25,
            seed=seed,
            colours=gradient_colours(seed, 2),
            ratio=rnd.uniform(0.1, 0.5),
            color=f"{rnd.randint(0, 0xFFFFFF):06X}",
            rule=rnd.choice([30, 90, 110, 150]),
            jump=rnd.randint(1, 20),
            scale=rnd.uniform(2.0, 3.0),
            speed=rnd.randint(1, 9),
        )

    video_patterns: list[str] = []
    for i in range(spec.video):
        pattern = pattern_for(i)
        video_patterns.append(pattern)
        seconds = rnd.uniform(20, 50)
        out = make_video(
            f"orig/visit{i:03d}.mp4", pattern, seconds, speak(f"visit{i:03d}", True, seconds), rnd.randint(0, 359)
        )
        items.append(Item(str(out.relative_to(root)), "original", "video", note=pattern.split("=")[0]))
        log(f"media_corpus: {out.name}")

    # Negatives: same voices as enrolled dictations (clinical text never enrolled), other speech,
    # tones; videos of the same patterns (and the very same testsrc2) with other audio or none.
    for i in range(spec.negative_audio):
        stem = f"other{i:03d}"
        kind = i % 4
        if kind == 0:
            # The same speaker on another day: an enrolled dictation's voice, a little faster or
            # slower and higher or lower, saying other sentences from the same clinical templates.
            name, speed, pitch = voices_used[i % max(1, spec.audio)]
            speed += rnd.choice([-1, 1]) * rnd.randint(6, 15)
            pitch += rnd.choice([-1, 1]) * rnd.randint(3, 8)
            wav = speak(stem, True, rnd.uniform(4, 40), voice=(name, speed, pitch))
        elif kind == 1:
            wav = speak(stem, True, rnd.uniform(4, 40))
        elif kind == 2:
            wav = speak(stem, False, rnd.uniform(4, 40))
        else:
            wav = tmp / f"{stem}.wav"
            _run(
                [
                    "sox",
                    "-n",
                    "-r",
                    "22050",
                    str(wav),
                    "synth",
                    str(rnd.randint(4, 30)),
                    "sine",
                    str(rnd.randint(200, 900)),
                    "sine",
                    str(rnd.randint(200, 900)),
                    "tremolo",
                    "4",
                ]
            )
        out = root / "neg" / f"{stem}.mp3"
        ff("-i", str(wav), "-b:a", "64k", str(out))
        items.append(
            Item(
                str(out.relative_to(root)), "negative", "audio", note=["same_voice", "clinical", "other", "tones"][kind]
            )
        )
    for i in range(spec.negative_video):
        pattern = video_patterns[i % max(1, len(video_patterns))] if i % 2 == 0 else pattern_for(rnd.randint(0, 50))
        seconds = rnd.uniform(8, 25)
        speech = speak(f"clip{i:03d}", i % 3 == 0, seconds) if i % 4 != 3 else None
        out = make_video(f"neg/clip{i:03d}.mp4", pattern, seconds, speech, rnd.randint(0, 359))
        # Even clips reuse an enrolled video's exact picture source (seed included), with
        # another hue and sound: the same pictures, a different recording.
        same: dict[str, object] = (
            {"same_source_as": f"orig/visit{i % spec.video:03d}.mp4"} if i % 2 == 0 and spec.video else {}
        )
        items.append(Item(str(out.relative_to(root)), "negative", "video", note=pattern.split("=")[0], extra=same))
        for j in range(2):
            frame = root / "neg" / f"clip{i:03d}_frame{j}.jpg"
            ff("-ss", f"{rnd.uniform(0.5, seconds - 1):.2f}", "-i", str(out), "-frames:v", "1", "-q:v", "4", str(frame))
            items.append(
                Item(str(frame.relative_to(root)), "negative", "image", note=pattern.split("=")[0], extra=same)
            )

    base_manifest.write_text(json.dumps([asdict(it) for it in items], indent=1))
    items += _extra_negatives(spec, root)
    return root, _derive(spec, root, items, log, manifest)


EXTRA_SOURCES = [
    "life=s={w}x{h}:rate=25:ratio={ratio:.2f}:seed={seed}:mold={mold}:life_color=#{color}",
    "cellauto=s={w}x{h}:rate=25:rule={rule}:seed={seed}",
    "gradients=s={w}x{h}:rate=25:seed={seed}:speed=0.0{speed}:n={n}{colours}",
    "mandelbrot=s={w}x{h}:rate=25:start_x=-{ku}e-3:start_y={kv}e-3:start_scale=0.{kt}:end_scale=0.001",
    "testsrc=s={w}x{h}:rate=25",
    "smptehdbars=s={w}x{h}:rate=25",
]


def _extra_negatives(spec: CorpusSpec, root: Path) -> list[Item]:
    """Silent clips of picture sources never enrolled (other seeds and rules, other test
    cards), and one frame of each: negatives for the picture decision."""
    rnd = random.Random(f"{spec.seed}:extra")
    (root / "neg").mkdir(parents=True, exist_ok=True)
    out: list[Item] = []
    for i in range(spec.extra_negative_video):
        template = EXTRA_SOURCES[i % len(EXTRA_SOURCES)]
        w, h = rnd.choice([(480, 360), (640, 360), (320, 240)])
        ratio, seed = rnd.uniform(0.05, 0.6), rnd.randint(1, 10**6)
        mold, color = rnd.randint(0, 20), f"{rnd.randint(0, 0xFFFFFF):06X}"
        rule, speed, n = rnd.choice([18, 30, 45, 60, 90, 105, 110, 150]), rnd.randint(1, 9), rnd.randint(2, 8)
        source = template.format(
            w=w,
            h=h,
            ratio=ratio,
            seed=seed,
            mold=mold,
            color=color,
            rule=rule,
            speed=speed,
            n=n,
            colours=gradient_colours(seed, n),
            ku=rnd.randint(5, 200),
            kv=rnd.randint(5, 200),
            kt=rnd.randint(1, 10),
        )
        seconds, hue, at = rnd.uniform(5, 10), rnd.randint(0, 359), rnd.uniform(0.5, 4.5)
        video = root / "neg" / f"extra{i:03d}.mp4"
        frame = root / "neg" / f"extra{i:03d}_frame.jpg"
        if not video.exists():
            ff(
                "-f",
                "lavfi",
                "-i",
                source,
                "-t",
                f"{seconds:.2f}",
                "-vf",
                f"hue=h={hue},format=yuv420p",
                *X264,
                "-crf",
                "24",
                str(video),
            )
        if not frame.exists():
            ff("-ss", f"{at:.2f}", "-i", str(video), "-frames:v", "1", "-q:v", "4", str(frame))
        note = "extra_" + source.split("=")[0]
        out.append(Item(str(video.relative_to(root)), "negative", "video", note=note))
        out.append(Item(str(frame.relative_to(root)), "negative", "image", note=note))
    return out


def _derive(spec: CorpusSpec, root: Path, items: list[Item], log: Callable[[str], None], manifest: Path) -> list[Item]:
    """Add every transformation of every original (reusing files made before)."""
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    done_file = root / "derived.json"
    done: dict[str, str] = json.loads(done_file.read_text()) if done_file.exists() else {}
    jobs = []
    for it in [x for x in items if x.role == "original"]:
        names = spec.audio_transforms if it.kind == "audio" else spec.video_transforms
        table = AUDIO_TRANSFORMS if it.kind == "audio" else VIDEO_TRANSFORMS
        jobs += [(it, name, table[name]) for name in names]

    def derive(job: tuple[Item, str, Callable[..., Path]]) -> Item:
        it, name, fn = job
        stem = root / "query" / f"{Path(it.path).stem}__{name}"
        key = f"{it.path}|{name}"
        if key in done and (root / done[key]).exists():
            out = root / done[key]
        else:
            out = fn(root / it.path, stem, random.Random(f"{spec.seed}:{it.path}:{name}"), tmp)
        kind = (
            "image"
            if out.suffix in (".png", ".jpg", ".webp")
            else (
                "video"
                if "silent" in name or out.suffix in (".avi",) or (it.kind == "video" and not name.startswith("sound"))
                else "audio"
            )
        )
        return Item(str(out.relative_to(root)), "query", kind, source=it.path, transform=name)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        derived = list(pool.map(derive, jobs))
    done.update({f"{d.source}|{d.transform}": d.path for d in derived})
    done_file.write_text(json.dumps(done, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)
    items = items + derived
    manifest.write_text(json.dumps([asdict(it) for it in items], indent=1))
    log(f"media_corpus: {len(items)} files in {root}")
    return items


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=CorpusSpec.seed)
    args = parser.parse_args()
    build(CorpusSpec(seed=args.seed))
