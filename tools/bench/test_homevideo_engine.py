"""arcwhisper on a generated home-video soundtrack, end to end (the benchmark's own builder).

    ~/.local/share/arcwhisper/venv/bin/python -m pytest tools/bench/test_homevideo_engine.py -s

Seed 97's third track puts a door and 3 s of music right before JFK's sentence. With the speech
regions packed into one window, base once skipped the whole sentence (its timestamps jumped
over it); the engine now decodes such a region again. The test checks every utterance's words
on that track, with the CLI's defaults.
"""

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


def test_speech_after_music_in_a_packed_window_is_transcribed(tmp_path):
    import subprocess

    track, samples = T.build_set(source_clips(tempdir()), 97, 3)[2]
    jfk = next(u for u in track.utterances if u.clip.startswith("jfk/"))
    music = [b for b in track.bursts if b.kind == "music" and b.end < jfk.start]
    assert music, "the track this test is about has music before JFK"
    wav = tmp_path / "track.wav"
    T.write_wav(wav, samples)
    srt = tmp_path / "track.srt"
    subprocess.run([str(cli_path()), str(wav), "--model", "base", "--threads", "2", "--format", "srt",
                    "-o", str(srt), "--quiet"], check=True, timeout=600)
    cues = S.parse_srt(srt.read_text(encoding="utf-8"))
    norm = normalizer("en")
    for u in track.utterances:
        said = " ".join(c.text for c in cues if c.end > u.start - 0.5 and c.start < u.end + 0.5)
        error = jiwer.wer(norm(u.text), norm(said) or "-")
        assert error < 0.5, f"{u.clip} at {u.start:.1f} s: {u.text!r} -> {said!r}"
