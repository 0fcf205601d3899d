"""Long uploads: a dictation anywhere inside minutes of other speech is recognised, and once the
sound decoded so far proves a match, the rest of the file is not decoded."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from agent.media.decode import duration_s
from agent.media.fingerprint import AudioPrint, fingerprint
from agent.media.index import search_audio
from agent.media.model import MediaLimits
from agent.media.split import OVERLAP_S, TAIL_S, Proof, SecondHalf, reading_plan
from tests.support.media import OTHER_SPEECH

from .conftest import Clinic, make

FILLER_S = 150.0


def filler(clinic: Clinic) -> Path:
    """Never-enrolled speech, looped to FILLER_S seconds (22.05 kHz WAV)."""
    speech = clinic.factory.speech(" ".join(OTHER_SPEECH), voice="en-us")
    return make(clinic.factory, "long_filler.wav", "-stream_loop", "-1", "-t", str(FILLER_S), "-i", str(speech))


def joined(clinic: Clinic, name: str, *parts: Path) -> Path:
    """`parts` one after the other, as a 128 kbit/s stereo MP3."""
    inputs = [arg for part in parts for arg in ("-i", str(part))]
    chain = "".join(f"[{i}:a]aresample=44100[a{i}];" for i in range(len(parts)))
    concat = "".join(f"[a{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[out]"
    return make(
        clinic.factory, name, *inputs, "-filter_complex", chain + concat, "-map", "[out]", "-ac", "2", "-b:a", "128k"
    )


def test_dictation_after_minutes_of_other_speech_is_recognised(clinic: Clinic) -> None:
    upload = joined(clinic, "long_late.mp3", filler(clinic), clinic.dictation_wavs[1])
    outcome = clinic.service.match_path(upload)
    assert outcome.error is None
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])
    assert outcome.match.kind == "audio"


def test_dictation_at_the_start_of_a_long_upload_is_recognised(clinic: Clinic) -> None:
    upload = joined(clinic, "long_early.mp3", clinic.dictation_wavs[0], filler(clinic))
    outcome = clinic.service.match_path(upload)
    assert outcome.error is None
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[0])
    assert outcome.match.offset_s < 0.5


def test_long_upload_of_other_speech_is_not_matched(clinic: Clinic) -> None:
    outcome = clinic.service.match_path(filler(clinic))
    assert outcome.error is None
    assert outcome.match is None


def test_a_satisfied_probe_stops_decoding(clinic: Clinic) -> None:
    upload = joined(clinic, "long_early.mp3", clinic.dictation_wavs[0], filler(clinic))
    seen: list[float] = []

    def proven(prefix: AudioPrint) -> bool:
        seen.append(prefix.seconds)
        return True

    prints = fingerprint(upload, MediaLimits(), probe=proven)
    assert prints.report.satisfied
    assert len(seen) == 1
    assert 30.0 <= seen[0] < 60.0
    assert prints.report.audio_s < 70.0  # of ~175 s


def test_probes_see_prefixes_of_the_final_print_at_doubling_lengths(clinic: Clinic) -> None:
    upload = filler(clinic)
    prefixes: list[AudioPrint] = []

    def unproven(prefix: AudioPrint) -> bool:
        prefixes.append(prefix)
        return False

    prints = fingerprint(upload, MediaLimits(), probe=unproven)
    assert not prints.report.satisfied
    assert prints.report.audio_s > FILLER_S - 1
    assert prints.audio is not None
    assert [round(p.seconds / prefixes[0].seconds) for p in prefixes] == [1, 2]  # ~47 s and ~95 s of 150 s
    final = set(zip(prints.audio.hashes.tolist(), prints.audio.times.tolist(), strict=True))
    for prefix in prefixes:
        assert prefix.hashes.size > 1000
        pairs = set(zip(prefix.hashes.tolist(), prefix.times.tolist(), strict=True))
        assert pairs <= final  # the prefix never holds a hash the whole file does not
        assert int(np.max(prefix.times)) < prefix.seconds / 0.02321


def test_the_second_reader_proves_a_dictation_at_the_end_from_the_middle(clinic: Clinic) -> None:
    upload = joined(clinic, "long_late.mp3", filler(clinic), clinic.dictation_wavs[1])
    reader, offered, proven = _run_reader(clinic, upload, clinic.dictations[1])
    assert any(proven)
    total = duration_s(upload)
    assert abs(reader.start_s - total / 2) < 0.01
    assert all(start == reader.start_s for _, start in offered)
    assert offered[-1][0] < total / 2 + 5  # it read from the middle, not the whole


def _reader_proof(clinic: Clinic, asset: Path) -> tuple[list[tuple[float, float]], list[bool], Proof]:
    offered: list[tuple[float, float]] = []
    proven: list[bool] = []

    def proof(sound: AudioPrint, start_s: float) -> bool:
        offered.append((sound.seconds, start_s))
        state = clinic.service.index.state
        found = clinic.service._audio_matches(state, search_audio(state, sound))
        proven.append(any(m.asset_id == clinic.asset_of(asset) for m in found))
        return proven[-1]

    return offered, proven, proof


def _run_reader(clinic: Clinic, upload: Path, asset: Path) -> tuple[SecondHalf, list[tuple[float, float]], list[bool]]:
    """A second reader over `upload`, told to go and run to its end (or its proof of `asset`)."""
    offered, proven, proof = _reader_proof(clinic, asset)
    reader = SecondHalf.start(upload, MediaLimits(), proof, lambda: any(proven))
    assert reader is not None
    reader.go()
    reader._thread.join(120)
    reader.stop()
    return reader, offered, proven


def long_filler(clinic: Clinic) -> Path:
    """Never-enrolled speech looped to 330 s: long enough for the second reader's tail pass."""
    speech = clinic.factory.speech(" ".join(OTHER_SPEECH), voice="en-us")
    return make(clinic.factory, "long_filler_330.wav", "-stream_loop", "-1", "-t", "330", "-i", str(speech))


def test_the_second_reader_reads_the_tail_of_a_long_upload_first(clinic: Clinic) -> None:
    upload = joined(clinic, "longer_late.mp3", long_filler(clinic), clinic.dictation_wavs[1])
    reader, offered, proven = _run_reader(clinic, upload, clinic.dictations[1])
    assert any(proven)
    total = duration_s(upload)
    assert abs(reader.start_s - (total - TAIL_S)) < 0.01
    assert all(start == reader.start_s for _, start in offered)
    assert offered[-1][0] < TAIL_S + 1  # the tail alone was decoded, not the second half


def test_the_second_reader_reads_the_rest_of_the_second_half_after_the_tail(clinic: Clinic) -> None:
    upload = joined(clinic, "longer_mid.mp3", long_filler(clinic), clinic.dictation_wavs[1], filler(clinic))
    _, offered, proven = _run_reader(clinic, upload, clinic.dictations[1])
    assert any(proven)
    total = duration_s(upload)
    starts = list(dict.fromkeys(start for _, start in offered))
    assert [round(start, 2) for start in starts] == [round(total - TAIL_S, 2), round(total / 2, 2)]
    assert max(seconds for seconds, start in offered if start == starts[1]) <= total / 2 - TAIL_S + OVERLAP_S + 1


def test_reading_plan() -> None:
    assert reading_plan(180.0) == [(90.0, None)]  # too short for a tail pass: the second half
    assert reading_plan(600.0) == [(510.0, None), (300.0, 210.0 + OVERLAP_S)]


def test_the_second_reader_waits_for_the_first_miss_and_stops_when_told(clinic: Clinic) -> None:
    offered: list[float] = []

    def proof(sound: AudioPrint, start_s: float) -> bool:
        offered.append(sound.seconds)
        return False

    reader = SecondHalf.start(filler(clinic), MediaLimits(), proof, lambda: False)
    assert reader is not None
    time.sleep(0.5)
    reader.stop()  # never told to go: nothing decoded, nothing offered
    assert offered == []
    assert not reader._thread.is_alive()


def test_no_second_reader_for_small_uploads(clinic: Clinic) -> None:
    small = clinic.dictation_wavs[0].read_bytes()[:100_000]
    assert SecondHalf.start(small, MediaLimits(), lambda sound, start: True, bool) is None


def test_a_match_proven_from_the_middle_names_where_the_upload_starts_in_the_asset(clinic: Clinic) -> None:
    upload = joined(clinic, "long_late.mp3", filler(clinic), clinic.dictation_wavs[1])
    outcome = clinic.service.match_bytes(upload.read_bytes())
    assert outcome.error is None
    assert outcome.match is not None
    assert outcome.match.asset_id == clinic.asset_of(clinic.dictations[1])
    assert outcome.match.offset_s == 0.0  # the dictation begins after the upload's start
