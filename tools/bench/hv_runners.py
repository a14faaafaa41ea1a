"""Engine runners for the home-video benchmark: each run is a whole process, timed from outside.

arcwhisper is `arcwhisper-transcribe` (SRT out, `--json` stats on stderr); its `--vad/--no-vad`
flags are used when its `--help` lists them. faster-whisper runs in a child process of this file
(`python hv_runners.py fw ...`) so its time also covers import, model load and transcription,
as a user's run would.

    python hv_runners.py fw --ct2 DIR --mode vad --compute float32 --threads 2 --wav in.wav --srt out.srt
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FW_MODES = ("plain", "vad", "batched")


@dataclass
class Mode:
    """One engine configuration, e.g. `arcwhisper-vad`, `fw`, `fw-vad`, `fw-int8-batched`."""
    label: str
    engine: str                  # arcwhisper or fw
    vad: bool | None = None      # arcwhisper: None = the binary has no --vad flag (today's behaviour)
    fw_mode: str = "plain"
    compute: str = "float32"


@dataclass
class RunResult:
    srt: Path
    transcribe_s: float          # as the engine reports it (model loaded)
    process_s: float             # the whole process, from outside
    cpu_s: float                 # user + system CPU of the whole process (robust on a shared machine)
    stats: dict = field(default_factory=dict)


def parse_mode(label: str) -> Mode:
    parts = label.split("-")
    if parts[0] == "arcwhisper":
        rest = "-".join(parts[1:])
        if rest not in ("", "vad", "novad"):
            raise ValueError(f"unknown arcwhisper mode {label!r} (arcwhisper, arcwhisper-vad, arcwhisper-novad)")
        return Mode(label, "arcwhisper", None if rest == "" else rest == "vad")
    if parts[0] == "fw":
        compute = "int8" if "int8" in parts[1:] else "float32"
        kind = [p for p in parts[1:] if p != "int8"]
        fw_mode = kind[0] if kind else "plain"
        if fw_mode not in FW_MODES or len(kind) > 1:
            raise ValueError(f"unknown faster-whisper mode {label!r} (fw, fw-vad, fw-batched, optionally fw-int8-...)")
        return Mode(label, "fw", fw_mode=fw_mode, compute=compute)
    raise ValueError(f"unknown engine mode {label!r}: arcwhisper[-vad|-novad] or fw[-int8][-vad|-batched]")


def describe(mode: Mode) -> str:
    if mode.engine == "arcwhisper":
        return {None: "arcwhisper (no VAD flag)", True: "arcwhisper --vad", False: "arcwhisper --no-vad"}[mode.vad]
    prec = "int8" if mode.compute == "int8" else "fp32"
    return {"plain": f"faster-whisper {prec}", "vad": f"faster-whisper {prec} vad_filter",
            "batched": f"faster-whisper {prec} batched(8)"}[mode.fw_mode]


# ---- arcwhisper -------------------------------------------------------------------------------

def arcwhisper_cmd(override: str | None) -> list[str]:
    """`--arcwhisper-cmd`, else $ARCWHISPER_TRANSCRIBE, else `<target>/release/arcwhisper-transcribe`."""
    if override:
        return shlex.split(override)
    if os.environ.get("ARCWHISPER_TRANSCRIBE"):
        return [os.environ["ARCWHISPER_TRANSCRIBE"]]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return [str(target / "release" / "arcwhisper-transcribe")]


def build_arcwhisper() -> None:
    """Bring the CLI up to date with the checkout (a no-op when it already is)."""
    cmd = ["cargo", "build", "--release", "--bin", "arcwhisper-transcribe"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=REPO, check=True, timeout=3600)


def vad_flags(cmd: list[str]) -> bool:
    """True when `--help` lists both --vad and --no-vad."""
    p = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} --help failed ({p.returncode}):\n{p.stderr}")
    words = set(p.stdout.replace(",", " ").split())
    return "--vad" in words and "--no-vad" in words


def arcwhisper_modes(cmd: list[str]) -> list[str]:
    return ["arcwhisper-vad", "arcwhisper-novad"] if vad_flags(cmd) else ["arcwhisper"]


def run_arcwhisper(cmd: list[str], extra: list[str], mode: Mode, wav: Path, model: str, threads: int,
                   srt: Path, timeout_s: float) -> RunResult:
    argv = cmd + [str(wav), "--model", model, "--threads", str(threads), "--format", "srt", "-o", str(srt),
                  "--json"] + extra
    if mode.vad is not None:
        argv.append("--vad" if mode.vad else "--no-vad")
    p, process_s, cpu_s = timed(argv, timeout_s)
    stats = json.loads(p.stderr.strip().splitlines()[-1])
    return RunResult(srt, float(stats["wall_seconds"]), process_s, cpu_s, stats)


def timed(argv: list[str], timeout_s: float) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a whole process; (result, wall s, CPU s of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p, wall, cpu


# ---- faster-whisper ---------------------------------------------------------------------------

def run_fw(ct2: Path, mode: Mode, wav: Path, threads: int, srt: Path, timeout_s: float) -> RunResult:
    argv = [sys.executable, str(Path(__file__).resolve()), "fw", "--ct2", str(ct2), "--mode", mode.fw_mode,
            "--compute", mode.compute, "--threads", str(threads), "--wav", str(wav), "--srt", str(srt)]
    p, process_s, cpu_s = timed(argv, timeout_s)
    stats = json.loads(p.stdout.strip().splitlines()[-1])
    return RunResult(srt, float(stats["transcribe_s"]), process_s, cpu_s, stats)


def srt_time(t: float) -> str:
    ms = int(round(max(0.0, t) * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def to_srt(segments: list[tuple[float, float, str]]) -> str:
    return "".join(f"{i}\n{srt_time(a)} --> {srt_time(b)}\n{text.strip()}\n\n"
                   for i, (a, b, text) in enumerate(segments, 1))


def fw_child(argv: list[str]) -> int:
    """Greedy like our CLI: beam 1, faster-whisper's default temperature fallback and thresholds."""
    ap = argparse.ArgumentParser(prog="hv_runners.py fw")
    ap.add_argument("--ct2", required=True)
    ap.add_argument("--mode", choices=FW_MODES, required=True)
    ap.add_argument("--compute", default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--srt", required=True)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import read_wav
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    audio = read_wav(Path(a.wav))
    t0 = time.perf_counter()
    model = WhisperModel(a.ct2, device="cpu", compute_type=a.compute, cpu_threads=a.threads)
    t1 = time.perf_counter()
    common = dict(beam_size=1, best_of=1, condition_on_previous_text=True)
    if a.mode == "batched":
        # The pipeline's own defaults otherwise (VAD on, without_timestamps=True: one segment per chunk).
        segs, _ = BatchedInferencePipeline(model).transcribe(audio, batch_size=8, beam_size=1, best_of=1)
    else:
        segs, _ = model.transcribe(audio, vad_filter=a.mode == "vad", **common)
    out = [(s.start, s.end, s.text) for s in segs]
    t2 = time.perf_counter()
    tmp = Path(a.srt + ".tmp")
    tmp.write_text(to_srt(out), encoding="utf-8")
    tmp.replace(a.srt)
    print(json.dumps({"load_s": t1 - t0, "transcribe_s": t2 - t1, "audio_s": len(audio) / 16000.0,
                      "segments": len(out)}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fw":
        sys.exit(fw_child(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
