"""Fast tests of the home-video benchmark's scorer and soundtrack builder (no engine, no model).

    ~/.local/share/arcwhisper/venv/bin/python -m pytest tools/bench/test_homevideo.py
"""

import json
import math
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hv_runners as runners  # noqa: E402
import hv_score as S  # noqa: E402
import hv_tracks as T  # noqa: E402

SPEECH = [(10.0, 14.0), (40.0, 43.5), (50.0, 52.0)]
TEXTS = ["the cat sat on the mat", "ten of clubs", "ask not what your country can do"]
REF = " ".join(TEXTS)


def srt(cues):
    return runners.to_srt(cues)


def perfect():
    return [(a, b, t) for (a, b), t in zip(SPEECH, TEXTS)]


# ---- SRT parsing ------------------------------------------------------------------------------

def test_parse_srt_keeps_times_lines_and_accepts_dot_milliseconds():
    text = "1\n00:00:01,500 --> 00:00:03,250\nfirst line\nsecond line\n\n2\n00:01:02.005 --> 01:00:00,000\nx\n"
    cues = S.parse_srt(text)
    assert [(c.start, c.end) for c in cues] == [(1.5, 3.25), (62.005, 3600.0)]
    assert cues[0].text == "first line\nsecond line"


def test_parse_srt_rejects_a_block_without_times():
    with pytest.raises(ValueError, match="start --> end"):
        S.parse_srt("1\nno times here\n")


def test_json_segments_and_srt_give_the_same_cues(tmp_path):
    (tmp_path / "a.srt").write_text(srt(perfect()))
    (tmp_path / "a.json").write_text(json.dumps({"segments": [{"start": a, "end": b, "text": t}
                                                              for a, b, t in perfect()]}))
    assert S.load_cues(tmp_path / "a.srt") == S.load_cues(tmp_path / "a.json")


# ---- scores with known answers ----------------------------------------------------------------

def test_perfect_cues_score_100_percent_and_zero_error():
    sc = S.score(S.parse_srt(srt(perfect())), SPEECH, REF)
    assert sc.cue_in_speech_pct == pytest.approx(100.0)
    assert sc.speech_covered_pct == pytest.approx(100.0)
    assert sc.median_start_error == pytest.approx(0.0)
    assert sc.words_in_gaps == 0 and sc.shape_violations == 0
    assert S.wer([sc.reference], [sc.hypothesis]) == 0.0


def test_a_cue_15_s_early_gives_that_start_error():
    cues = perfect()
    cues[1] = (25.0, 43.5, cues[1][2])          # shows 15 s before "ten of clubs" starts at 40.0
    sc = S.score(S.parse_srt(srt(cues)), SPEECH, REF)
    assert sorted(sc.start_errors) == pytest.approx([0.0, 0.0, 15.0])
    # the early cue is 18.5 s on screen, of which 39.5-43.5 (4 s) is within speech +/- 0.5 s
    assert sc.cue_in_speech_s == pytest.approx(4.0 + 4.0 + 2.0)
    assert sc.cue_s == pytest.approx(4.0 + 18.5 + 2.0)
    assert sc.shape_violations == 1 and sc.violations == {"duration": 1}


def test_cue_lingering_within_half_a_second_counts_as_in_speech():
    cues = [(9.6, 14.4, TEXTS[0])]
    sc = S.score(S.parse_srt(srt(cues)), SPEECH[:1], TEXTS[0])
    assert sc.cue_in_speech_pct == pytest.approx(100.0)
    assert sc.median_start_error == pytest.approx(0.4)


def test_words_of_a_cue_wholly_in_a_gap_are_counted():
    cues = perfect() + [(20.0, 22.0, "Thank you for watching."), (30.0, 31.0, "[Music]"),
                        (14.2, 16.0, "half in the widened speech")]
    sc = S.score(S.parse_srt(srt(sorted(cues))), SPEECH, REF)
    assert sc.words_in_gaps == 4 + 1         # the third cue touches 14.0+0.5, so it is not in a gap


def test_nearest_cue_when_none_overlaps_and_no_cues_at_all():
    sc = S.score(S.parse_srt(srt([(16.0, 18.0, "late")])), SPEECH[:1], TEXTS[0])
    assert sc.start_errors == [pytest.approx(6.0)]
    assert sc.speech_covered_pct == 0.0
    empty = S.score([], SPEECH, REF)
    assert empty.cue_in_speech_pct is None and empty.speech_covered_pct == 0.0
    assert all(math.isinf(e) for e in empty.start_errors)


def test_shape_limits_lines_length_duration():
    cues = [S.Cue(0, 2, "one\ntwo\nthree"), S.Cue(3, 5, "x" * 43), S.Cue(6, 13.5, "long"),
            S.Cue(14, 16, ("y" * 42) + "\n" + ("z" * 42))]
    assert [S.shape_problems(c) for c in cues] == [["lines"], ["line_length"], ["duration"], []]


def test_pool_adds_time_and_keeps_every_start_error():
    a = S.score(S.parse_srt(srt(perfect())), SPEECH, REF)
    b = S.score(S.parse_srt(srt([(0.0, 20.0, "early")])), SPEECH[:1], TEXTS[0])
    p = S.pool([a, b])
    assert p.cue_s == pytest.approx(a.cue_s + 20.0)
    assert sorted(p.start_errors) == pytest.approx([0.0, 0.0, 0.0, 10.0])
    assert p.median_start_error == pytest.approx(0.0)
    assert p.speech_s == pytest.approx(a.speech_s + 4.0)


def test_wer_uses_the_english_normalizer():
    assert S.wer(["Ten of clubs."], ["10 of clubs"]) == 0.0
    assert S.wer(["ten of clubs"], ["ten of close"]) == pytest.approx(100.0 / 3)


# ---- soundtrack builder -----------------------------------------------------------------------

def synthetic_clip(name: str, lead: float, voiced: float, tail: float, f0: float) -> T.SourceClip:
    """Silence, a voiced-like harmonic tone, silence: the speech interval is known exactly."""
    t = np.arange(int(voiced * T.SR)) / T.SR
    tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) * 0.3
    x = np.concatenate([np.zeros(int(lead * T.SR)), tone, np.zeros(int(tail * T.SR))]).astype(np.float32)
    return T.SourceClip(name, x, f"words of {name}")


POOL = [synthetic_clip(f"c{i}", 0.1 + 0.05 * i, 1.5 + i, 0.2, 150 + 20 * i) for i in range(6)]


@pytest.fixture(scope="module")
def built():
    return T.build_set(POOL, seed=7, count=2)


def test_speech_bounds_trim_the_clips_own_silence():
    for c in POOL[:3]:
        s, e = T.speech_bounds(c.samples)
        lead = next(i for i, v in enumerate(c.samples) if v != 0.0) / T.SR
        last = (len(c.samples) - next(i for i, v in enumerate(c.samples[::-1]) if v != 0.0)) / T.SR
        assert abs(s - lead) <= T.TRIM_FRAME_S and abs(e - last) <= T.TRIM_FRAME_S


def test_same_seed_same_track_other_seed_other_track(built):
    again, x2 = T.build_set(POOL, seed=7, count=1)[0]
    assert again.to_json() == built[0][0].to_json()
    assert np.array_equal(x2, built[0][1])
    other, _ = T.build_track("track01", 8, POOL, T.NOISE_LEVELS_DBFS[0])
    assert other.to_json() != built[0][0].to_json()


def test_interval_bookkeeping_matches_the_samples(built):
    by_name = {c.name: c for c in POOL}
    for track, x in built:
        assert T.TRACK_S[0] <= track.seconds <= T.TRACK_S[1] and abs(len(x) / T.SR - track.seconds) <= 1e-3
        spans = sorted([(u.start, u.end) for u in track.utterances] + [(b.start, b.end) for b in track.bursts])
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:])), "speech and bursts overlap"
        for u in track.utterances:
            s, e = T.speech_bounds(by_name[u.clip].samples)
            assert u.start == pytest.approx(u.placed_at + s, abs=1e-3)
            assert u.end == pytest.approx(u.placed_at + e, abs=1e-3)
            assert u.text == by_name[u.clip].text
            inside = x[int(u.start * T.SR):int(u.end * T.SR)]
            before = x[int((u.start - 1.0) * T.SR):int((u.start - 0.2) * T.SR)]
            # speech at -23 dBFS or louder over noise at -28 dBFS +/- 2 dB: at least 3.5 dB more energy
            assert np.sqrt(np.mean(inside ** 2)) > 1.5 * np.sqrt(np.mean(before ** 2))
        gaps = [b.start - a.end for a, b in zip(track.utterances, track.utterances[1:])]
        assert any(g < T.SHORT_GAP_S[1] + 1 for g in gaps) and any(g >= T.LONG_GAP_S[0] for g in gaps)
        assert {b.kind for b in track.bursts} >= {"door", "clatter", "music"}
        assert track.reference == " ".join(u.text for u in track.utterances)


def test_noise_levels_cycle_and_wav_round_trips(built, tmp_path):
    assert [t.noise["level_dbfs"] for t, _ in built] == list(T.NOISE_LEVELS_DBFS[:2])
    (track, path), = T.write_set(built[:1], tmp_path)
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() == len(built[0][1])
    assert T.Track.from_json(json.loads((tmp_path / "track01.json").read_text())).to_json() == track.to_json()


def test_at_gain_scales_the_samples_and_keeps_the_bookkeeping(built):
    quiet = T.at_gain(built, -30.0)
    for (t, x), (tq, xq) in zip(built, quiet):
        assert tq is t and len(xq) == len(x)
        assert np.sqrt(np.mean(xq ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)) * 10 ** (-1.5), rel=1e-4)
    assert T.at_gain(built, 0.0) is built
    loud = T.at_gain(built, 40.0)
    assert max(float(np.abs(x).max()) for _, x in loud) <= 1.0


# ---- runners ----------------------------------------------------------------------------------

def test_modes_parse_and_vad_flags_are_read_from_help(tmp_path):
    assert runners.parse_mode("fw-int8-batched").compute == "int8"
    assert runners.parse_mode("fw-vad").fw_mode == "vad"
    assert runners.parse_mode("arcwhisper-novad").vad is False
    with pytest.raises(ValueError):
        runners.parse_mode("whisper.cpp")
    with_flags = tmp_path / "with.sh"
    with_flags.write_text("#!/bin/sh\necho '      --vad       speech detection'\necho '      --no-vad  off'\n")
    without = tmp_path / "without.sh"
    without.write_text("#!/bin/sh\necho '      --vad-threshold <X>'\n")
    for p in (with_flags, without):
        p.chmod(0o755)
    assert runners.arcwhisper_modes([str(with_flags)]) == ["arcwhisper-vad", "arcwhisper-novad"]
    assert runners.arcwhisper_modes([str(without)]) == ["arcwhisper"]
