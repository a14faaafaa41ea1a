"""Score subtitle cues (SRT or JSON segments) against a soundtrack's known speech.

Timing scores work on intervals in seconds: the utterances' true speech intervals, widened by
`PAD_S` where a cue may reasonably linger (a cue appearing 0.3 s before the first syllable or
holding 0.5 s after the last is good subtitling, not an error).
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

PAD_S = 0.5
MAX_LINES = 2
MAX_LINE_CHARS = 42
MAX_CUE_S = 7.0

_TIME = r"(\d+):(\d\d):(\d\d)[,.](\d{1,3})"
_ARROW = re.compile(_TIME + r"\s*-->\s*" + _TIME)


@dataclass
class Cue:
    start: float
    end: float
    text: str                    # lines joined with "\n", as shown on screen


@dataclass
class Score:
    """Per-track (or pooled) timing and text scores; the raw sums travel so tracks can be pooled."""
    cue_s: float = 0.0
    cue_in_speech_s: float = 0.0
    speech_s: float = 0.0
    speech_covered_s: float = 0.0
    start_errors: list[float] = field(default_factory=list)
    words_in_gaps: int = 0
    cues: int = 0
    shape_violations: int = 0
    violations: dict = field(default_factory=dict)
    reference: str = ""
    hypothesis: str = ""

    @property
    def cue_in_speech_pct(self) -> float | None:
        return 100.0 * self.cue_in_speech_s / self.cue_s if self.cue_s > 0 else None

    @property
    def speech_covered_pct(self) -> float | None:
        return 100.0 * self.speech_covered_s / self.speech_s if self.speech_s > 0 else None

    @property
    def median_start_error(self) -> float | None:
        return statistics.median(self.start_errors) if self.start_errors else None

    def to_json(self) -> dict:
        d = asdict(self)
        d.update(cue_in_speech_pct=self.cue_in_speech_pct, speech_covered_pct=self.speech_covered_pct,
                 median_start_error=self.median_start_error)
        return d


def _seconds(h: str, m: str, s: str, frac: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000.0


def parse_srt(text: str) -> list[Cue]:
    """Cues of an SRT file; a block without a `-->` line is an error naming the block."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = [ln for ln in block.split("\n")]
        if not block.strip():
            continue
        idx = next((i for i, ln in enumerate(lines[:2]) if _ARROW.search(ln)), None)
        if idx is None:
            raise ValueError(f"SRT block without a 'start --> end' line: {block[:80]!r}")
        g = _ARROW.search(lines[idx]).groups()
        cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), "\n".join(lines[idx + 1:]).strip()))
    return cues


def parse_segments_json(data) -> list[Cue]:
    """`{"segments": [{"start", "end", "text"}, ...]}` or the bare list (our CLI's and faster-whisper's)."""
    segs = data["segments"] if isinstance(data, dict) else data
    return [Cue(float(s["start"]), float(s["end"]), str(s["text"]).strip()) for s in segs]


def load_cues(path: Path) -> list[Cue]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return parse_segments_json(json.loads(text))
    return parse_srt(text)


def merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def overlap(a: tuple[float, float], spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(a[1], b) - max(a[0], s)) for s, b in spans)


def widened(speech: list[tuple[float, float]], pad: float = PAD_S) -> list[tuple[float, float]]:
    return merge([(max(0.0, a - pad), b + pad) for a, b in speech])


def start_error(utt: tuple[float, float], cues: list[Cue]) -> float | None:
    """|start of the first cue overlapping the utterance - utterance start|, else of the nearest cue."""
    if not cues:
        return None
    hit = [c for c in cues if c.start < utt[1] and c.end > utt[0]]
    if hit:
        return abs(min(hit, key=lambda c: c.start).start - utt[0])
    return min(abs(c.start - utt[0]) for c in cues)


def visible_words(text: str) -> int:
    """Words a viewer reads: whitespace-separated tokens with a letter or digit ("[Music]" counts)."""
    return sum(1 for w in text.split() if any(ch.isalnum() for ch in w))


def shape_problems(cue: Cue) -> list[str]:
    lines = cue.text.split("\n")
    out = []
    if len(lines) > MAX_LINES:
        out.append("lines")
    if any(len(ln) > MAX_LINE_CHARS for ln in lines):
        out.append("line_length")
    if cue.end - cue.start > MAX_CUE_S + 1e-6:
        out.append("duration")
    if cue.end <= cue.start:
        out.append("empty")
    return out


def score(cues: list[Cue], speech: list[tuple[float, float]], reference: str) -> Score:
    """All scores of one track; `speech` is the utterances' true (start, end) in order."""
    wide = widened(speech)
    truth = merge(speech)
    cue_union = merge([(c.start, c.end) for c in cues])
    sc = Score(reference=reference, hypothesis=" ".join(c.text.replace("\n", " ") for c in cues))
    sc.cues = len(cues)
    for c in cues:
        d = max(0.0, c.end - c.start)
        sc.cue_s += d
        sc.cue_in_speech_s += overlap((c.start, c.end), wide)
        if overlap((c.start, c.end), wide) == 0.0:
            sc.words_in_gaps += visible_words(c.text)
        problems = shape_problems(c)
        sc.shape_violations += bool(problems)
        for p in problems:
            sc.violations[p] = sc.violations.get(p, 0) + 1
    sc.speech_s = sum(b - a for a, b in truth)
    sc.speech_covered_s = sum(overlap(s, cue_union) for s in truth)
    sc.start_errors = [e for e in (start_error(u, cues) for u in speech) if e is not None]
    if not cues:
        sc.start_errors = [float("inf")] * len(speech)
    return sc


def pool(scores: list[Score]) -> Score:
    """Pooled over tracks: time shares over all time, start errors over all utterances."""
    out = Score()
    for s in scores:
        out.cue_s += s.cue_s
        out.cue_in_speech_s += s.cue_in_speech_s
        out.speech_s += s.speech_s
        out.speech_covered_s += s.speech_covered_s
        out.start_errors += s.start_errors
        out.words_in_gaps += s.words_in_gaps
        out.cues += s.cues
        out.shape_violations += s.shape_violations
        for k, v in s.violations.items():
            out.violations[k] = out.violations.get(k, 0) + v
    return out


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER in % after whisper_normalizer's EnglishTextNormalizer (as wer_vs_faster_whisper.py)."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    refs = [norm(r) for r in references]
    hyps = [norm(h) for h in hypotheses]
    pairs = [(r, h) for r, h in zip(refs, hyps) if r.strip()]
    if not pairs:
        raise ValueError("no reference text to score against")
    return 100.0 * jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])
