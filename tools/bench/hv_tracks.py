"""Home-video-like soundtracks: speech clips at known times over room noise, gaps and loud bursts.

Everything is drawn from one seeded `numpy.random.Generator`, so a seed gives the same samples
and the same bookkeeping on every machine. Each track keeps, per utterance, the interval where the
clip really speaks (its own leading/trailing silence trimmed by an energy threshold) and the
reference text; bursts (door slams, clatter, music-like tones) only go into gaps, so any word a
subtitle shows over them is a word that nobody said.
"""

from __future__ import annotations

import json
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SR = 16000
NOISE_LEVELS_DBFS = (-28.0, -32.0, -36.0)
SPEECH_RMS_DBFS = -20.0          # active-speech level of a clip before its random +/-3 dB
SHORT_GAP_S = (2.0, 5.0)
LONG_GAP_S = (20.0, 45.0)
TRACK_S = (180.0, 300.0)
FADE_S = 0.01                    # fade at clip edges: a pasted clip must not click
TRIM_FRAME_S = 0.02


@dataclass
class SourceClip:
    """A speech clip as the builder sees it: 16 kHz mono samples and what is said."""
    name: str
    samples: np.ndarray
    text: str


@dataclass
class Utterance:
    clip: str
    text: str
    placed_at: float             # where the clip file starts in the track (s)
    start: float                 # true speech start in the track (s)
    end: float                   # true speech end in the track (s)
    gain_db: float


@dataclass
class Burst:
    kind: str                    # door, clatter or music
    start: float
    end: float


@dataclass
class Track:
    name: str
    seed: int
    seconds: float
    noise: dict
    utterances: list[Utterance] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return " ".join(u.text for u in self.utterances)

    @property
    def speech_intervals(self) -> list[tuple[float, float]]:
        return [(u.start, u.end) for u in self.utterances]

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> "Track":
        return Track(d["name"], d["seed"], d["seconds"], d["noise"],
                     [Utterance(**u) for u in d["utterances"]], [Burst(**b) for b in d["bursts"]])


def db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def speech_bounds(samples: np.ndarray, rel_db: float = -30.0) -> tuple[float, float]:
    """(start, end) in seconds of the clip's speech: first/last 20 ms frame above the threshold.

    The threshold is `rel_db` below the loudest frame, but at least 12 dB above the clip's own floor
    (20th-percentile frame), capped 20 dB under the peak so a clip without silence keeps all of it.
    """
    n = int(TRIM_FRAME_S * SR)
    frames = len(samples) // n
    if frames == 0:
        return 0.0, len(samples) / SR
    rms = np.sqrt(np.mean(samples[:frames * n].reshape(frames, n).astype(np.float64) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0.0:
        return 0.0, 0.0
    floor = float(np.percentile(rms, 20))
    thr = min(max(peak * db(rel_db), floor * db(12.0)), peak * db(-20.0))
    loud = np.flatnonzero(rms > thr)
    return float(loud[0] * n / SR), float(min(len(samples), (loud[-1] + 1) * n) / SR)


def active_rms(samples: np.ndarray) -> float:
    """RMS over the louder half of 20 ms frames: the level of speech, not of its pauses."""
    n = int(TRIM_FRAME_S * SR)
    frames = max(1, len(samples) // n)
    x = samples[:frames * n].reshape(frames, -1).astype(np.float64)
    rms = np.sqrt(np.mean(x ** 2, axis=1))
    top = np.sort(rms)[len(rms) // 2:]
    return float(np.sqrt(np.mean(top ** 2))) if top.size else 0.0


def colored_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Unit-RMS noise with power ~ 1/f**exponent (1 pink, 2 brown), flat below 20 Hz."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec *= 1.0 / np.maximum(f, 20.0) ** (exponent / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def room_noise(rng: np.random.Generator, n: int, level_dbfs: float) -> tuple[np.ndarray, dict]:
    """Brown/pink mix at `level_dbfs` RMS, a slow +/-2 dB drift, and a mains hum 12-18 dB under it."""
    brown_share = float(rng.uniform(0.3, 1.0))
    bed = np.sqrt(brown_share) * colored_noise(rng, n, 2.0) + np.sqrt(1 - brown_share) * colored_noise(rng, n, 1.0)
    bed /= np.sqrt(np.mean(bed ** 2)) + 1e-12
    t = np.arange(n) / SR
    drift = db(2.0 * np.sin(2 * np.pi * t / float(rng.uniform(40, 90)) + float(rng.uniform(0, 2 * np.pi))))
    mains = float(rng.choice([50.0, 60.0]))
    hum_db = level_dbfs - float(rng.uniform(12.0, 18.0))
    hum = sum(np.sin(2 * np.pi * mains * k * t) / k for k in (1, 2, 3))
    hum = hum / np.sqrt(np.mean(hum ** 2)) * db(hum_db)
    x = (bed * drift * db(level_dbfs) + hum).astype(np.float32)
    return x, {"level_dbfs": level_dbfs, "brown_share": round(brown_share, 3), "hum_hz": mains,
               "hum_dbfs": round(hum_db, 2)}


def burst_sound(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A loud non-speech event: a door slam, clatter, or a few seconds of music-like tones."""
    if kind == "door":
        n = int(rng.uniform(0.4, 0.8) * SR)
        t = np.arange(n) / SR
        thump = np.sin(2 * np.pi * rng.uniform(55, 95) * t) * np.exp(-t / 0.12)
        crack = colored_noise(rng, n, 1.0) * np.exp(-t / 0.05)
        x = 0.7 * thump + 0.5 * crack
        peak_dbfs = rng.uniform(-6.0, -3.0)
    elif kind == "clatter":
        n = int(rng.uniform(1.0, 2.5) * SR)
        x = np.zeros(n)
        for _ in range(int(rng.integers(6, 16))):
            m = int(rng.uniform(0.01, 0.05) * SR)
            at = int(rng.integers(0, n - m))
            t = np.arange(m) / SR
            ring = np.sin(2 * np.pi * rng.uniform(1500, 5000) * t) + rng.standard_normal(m)
            x[at:at + m] += ring * np.exp(-t / (m / SR / 4)) * rng.uniform(0.3, 1.0)
        peak_dbfs = rng.uniform(-10.0, -5.0)
    elif kind == "music":
        notes = int(rng.integers(6, 14))
        note_s = float(rng.uniform(0.25, 0.45))
        t = np.arange(int(note_s * SR)) / SR
        env = np.minimum(1.0, t / 0.02) * np.exp(-t / (note_s / 2))
        parts = []
        for _ in range(notes):
            f0 = 220.0 * 2 ** (int(rng.integers(0, 13)) / 12.0)
            tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3, 4))
            parts.append(tone * env)
        x = np.concatenate(parts)
        peak_dbfs = rng.uniform(-14.0, -9.0)
    else:
        raise ValueError(f"unknown burst kind {kind!r} (door, clatter, music)")
    return (x / (np.max(np.abs(x)) + 1e-12) * db(peak_dbfs)).astype(np.float32)


def fade(x: np.ndarray) -> np.ndarray:
    m = min(len(x) // 2, int(FADE_S * SR))
    if m == 0:
        return x
    ramp = np.linspace(0.0, 1.0, m, dtype=np.float32)
    y = x.copy()
    y[:m] *= ramp
    y[-m:] *= ramp[::-1]
    return y


def layout(rng: np.random.Generator, pool: list[SourceClip]) -> tuple[list[tuple[float, SourceClip]], float]:
    """Clip start times with short and long gaps, for a track of 180-300 s (at least two long gaps)."""
    target = float(rng.uniform(*TRACK_S))
    order = list(rng.permutation(len(pool)))
    placed, t, since_long = [], float(rng.uniform(1.0, 8.0)), 0
    while True:
        if not order:
            order = list(rng.permutation(len(pool)))
        clip = pool[order.pop()]
        dur = len(clip.samples) / SR
        if placed and t + dur + SHORT_GAP_S[0] > min(target, TRACK_S[1]):
            break
        placed.append((t, clip))
        long_gap = rng.random() < 0.25 or since_long >= 4   # a long quiet stretch every few utterances
        since_long = 0 if long_gap else since_long + 1
        t += dur + float(rng.uniform(*(LONG_GAP_S if long_gap else SHORT_GAP_S)))
    end = placed[-1][0] + len(placed[-1][1].samples) / SR + float(rng.uniform(*SHORT_GAP_S))
    return placed, max(end, TRACK_S[0])


def place_bursts(rng: np.random.Generator, x: np.ndarray, utts: list[Utterance], seconds: float) -> list[Burst]:
    """Three to five bursts, each inside a gap with 1 s of room on either side of it."""
    bursts: list[Burst] = []
    kinds = ["door", "clatter", "music"] + list(rng.choice(["door", "clatter", "music"], int(rng.integers(0, 3))))
    for kind in kinds:
        sound = burst_sound(rng, str(kind))
        dur = len(sound) / SR
        taken = [(u.start, u.end) for u in utts] + [(b.start, b.end) for b in bursts]
        free = [(a + 1.0, b - 1.0 - dur) for a, b in free_spans(taken, seconds) if b - a > dur + 2.0]
        if not free:
            continue
        a, b = free[int(rng.integers(0, len(free)))]
        at = float(rng.uniform(a, b))
        i = int(at * SR)
        x[i:i + len(sound)] += sound[:len(x) - i]
        bursts.append(Burst(str(kind), round(at, 3), round(at + dur, 3)))
    bursts.sort(key=lambda b: b.start)
    return bursts


def free_spans(taken: list[tuple[float, float]], seconds: float) -> list[tuple[float, float]]:
    out, prev = [], 0.0
    for a, b in sorted(taken):
        if a > prev:
            out.append((prev, a))
        prev = max(prev, b)
    if seconds > prev:
        out.append((prev, seconds))
    return out


def build_track(name: str, seed: int, pool: list[SourceClip], level_dbfs: float) -> tuple[Track, np.ndarray]:
    """One soundtrack and its bookkeeping; the same (seed, pool, level) always gives the same both."""
    rng = np.random.default_rng(seed)
    placed, seconds = layout(rng, pool)
    n = int(round(seconds * SR))
    x, noise = room_noise(rng, n, level_dbfs)
    utts = []
    for at, clip in placed:
        gain_db = SPEECH_RMS_DBFS + float(rng.uniform(-3.0, 3.0))
        level = active_rms(clip.samples)
        g = db(gain_db) / level if level > 0 else 0.0
        i = int(round(at * SR))
        x[i:i + len(clip.samples)] += fade(clip.samples) * g
        s, e = speech_bounds(clip.samples)
        utts.append(Utterance(clip.name, clip.text, round(i / SR, 3), round(i / SR + s, 3), round(i / SR + e, 3),
                              round(gain_db, 2)))
    bursts = place_bursts(rng, x, utts, seconds)
    np.clip(x, -1.0, 32767 / 32768, out=x)
    return Track(name, seed, round(n / SR, 3), noise, utts, bursts), x


def build_set(pool: list[SourceClip], seed: int, count: int) -> list[tuple[Track, np.ndarray]]:
    """`count` tracks; track k uses seed+k and cycles through the noise levels."""
    if not pool:
        raise ValueError("no speech clips to build soundtracks from")
    return [build_track(f"track{k + 1:02d}", seed + k, pool, NOISE_LEVELS_DBFS[k % len(NOISE_LEVELS_DBFS)])
            for k in range(count)]


def at_gain(tracks: list[tuple[Track, np.ndarray]], gain_db: float) -> list[tuple[Track, np.ndarray]]:
    """The same tracks `gain_db` louder (negative: quieter, as a tape captured at a low level);
    their bookkeeping is unchanged. Louder ones clip at full scale."""
    if gain_db == 0.0:
        return tracks
    g = float(db(gain_db))
    return [(t, np.clip(x * g, -1.0, 32767 / 32768).astype(np.float32)) for t, x in tracks]


def write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768.0).astype("<i2")
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
    tmp.replace(path)


def write_set(tracks: list[tuple[Track, np.ndarray]], out_dir: Path) -> list[tuple[Track, Path]]:
    """`<name>.wav` (16 kHz, 16-bit mono) and `<name>.json` (intervals, texts, noise, bursts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for track, x in tracks:
        wav = out_dir / f"{track.name}.wav"
        write_wav(wav, x)
        (out_dir / f"{track.name}.json").write_text(json.dumps(track.to_json(), indent=1, ensure_ascii=False),
                                                    encoding="utf-8")
        out.append((track, wav))
    return out
