"""Engine runners for the home-video benchmark: each run is a whole process, measured from outside
(wall, CPU, peak RSS of its process tree: proctree.py).

arcwhisper is `arcwhisper-transcribe` (SRT out, `--json` stats on stderr); its `--vad/--no-vad`
flags are used when its `--help` lists them, and a variant (variants.py) adds arguments, a model
suffix and environment. faster-whisper and OpenVINO GenAI run in a child process of this file
(`python hv_runners.py fw|genai ...`) so their time also covers import, model load and
transcription, as a user's run would.

    python hv_runners.py fw --ct2 DIR --mode vad --compute float32 --threads 2 --wav in.wav --srt out.srt
    python hv_runners.py genai --ir DIR --threads 2 --wav in.wav --srt out.srt
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proctree  # noqa: E402
import variants as V  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FW_MODES = ("plain", "vad", "batched")


@dataclass
class Mode:
    """One engine configuration, e.g. `arcwhisper-vad`, `arcwhisper-vad+batch8`, `fw-int8-batched`,
    `genai`."""
    label: str
    engine: str                  # arcwhisper, fw or genai
    vad: bool | None = None      # arcwhisper: None = the binary has no --vad flag (today's behaviour)
    fw_mode: str = "plain"
    compute: str = "float32"
    variant: V.Variant = V.DEFAULT   # arcwhisper only


@dataclass
class RunResult:
    srt: Path
    transcribe_s: float          # as the engine reports it (model loaded)
    process_s: float             # the whole process, from outside
    cpu_s: float                 # user + system CPU of the whole process (robust on a shared machine)
    stats: dict = field(default_factory=dict)
    peak_rss_bytes: int = 0      # largest single process of the tree (the worker / the engine)
    peak_tree_rss_bytes: int = 0


def parse_mode(label: str, known: dict[str, V.Variant] | None = None) -> Mode:
    """`known` maps variant names to variants; an unknown `+name` (e.g. from an old runs.json)
    becomes a variant with that name and nothing else."""
    if label == "genai":
        return Mode(label, "genai")
    base, plus, vname = label.partition("+")
    parts = base.split("-")
    if parts[0] == "arcwhisper":
        rest = "-".join(parts[1:])
        if rest not in ("", "vad", "novad") or (plus and not vname):
            raise ValueError(f"unknown arcwhisper mode {label!r} (arcwhisper[-vad|-novad][+VARIANT])")
        variant = ((known or {}).get(vname) or V.Variant(vname)) if plus else V.DEFAULT
        return Mode(label, "arcwhisper", None if rest == "" else rest == "vad", variant=variant)
    if parts[0] == "fw":
        compute = "int8" if "int8" in parts[1:] else "float32"
        kind = [p for p in parts[1:] if p != "int8"]
        fw_mode = kind[0] if kind else "plain"
        if fw_mode not in FW_MODES or len(kind) > 1:
            raise ValueError(f"unknown faster-whisper mode {label!r} (fw, fw-vad, fw-batched, optionally fw-int8-...)")
        return Mode(label, "fw", fw_mode=fw_mode, compute=compute)
    raise ValueError(f"unknown engine mode {label!r}: arcwhisper[-vad|-novad][+VARIANT], fw[-int8][-vad|-batched] "
                     "or genai")


def describe(mode: Mode) -> str:
    if mode.engine == "genai":
        return "GenAI (same IR, segment timestamps)"
    if mode.engine == "arcwhisper":
        base = {None: "arcwhisper (no VAD flag)", True: "arcwhisper --vad", False: "arcwhisper --no-vad"}[mode.vad]
        v = mode.variant
        if v is V.DEFAULT:
            return base
        return f"{base} [{v.name}: {v.describe()}]" if v.describe() != "default" else f"{base} [{v.name}]"
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


def help_text(cmd: list[str]) -> str:
    p = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} --help failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def vad_flags(cmd: list[str]) -> bool:
    """True when `--help` lists both --vad and --no-vad."""
    words = set(help_text(cmd).replace(",", " ").split())
    return "--vad" in words and "--no-vad" in words


def arcwhisper_modes(cmd: list[str]) -> list[str]:
    return ["arcwhisper-vad", "arcwhisper-novad"] if vad_flags(cmd) else ["arcwhisper"]


def run_arcwhisper(cmd: list[str], extra: list[str], mode: Mode, wav: Path, model: str, threads: int,
                   srt: Path, timeout_s: float) -> RunResult:
    v = mode.variant
    argv = (list(v.cmd) or cmd) + [str(wav), "--model", v.model(model), "--threads", str(threads), "--format", "srt", "-o", str(srt),
                  "--json"] + extra + list(v.args)
    if mode.vad is not None:
        argv.append("--vad" if mode.vad else "--no-vad")
    m = timed(argv, timeout_s, v.env)
    stats = json.loads(m.stderr.strip().splitlines()[-1])
    return result(srt, float(stats["wall_seconds"]), m, stats)


def timed(argv: list[str], timeout_s: float, env: dict[str, str] | None = None) -> proctree.Measured:
    """Run a whole process (proctree.run_measured); a failure raises with its stderr."""
    m = proctree.run_measured(argv, timeout_s, env)
    if m.returncode != 0:
        envs = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        raise RuntimeError(f"{envs} {shlex.join(argv)} failed ({m.returncode}):\n{m.stderr[-2000:]}")
    return m


def result(srt: Path, transcribe_s: float, m: proctree.Measured, stats: dict) -> RunResult:
    return RunResult(srt, transcribe_s, m.wall_s, m.cpu_s, stats, m.peak_rss_bytes, m.peak_tree_rss_bytes)


# ---- faster-whisper ---------------------------------------------------------------------------

def run_fw(ct2: Path, mode: Mode, wav: Path, threads: int, srt: Path, timeout_s: float) -> RunResult:
    argv = [sys.executable, str(Path(__file__).resolve()), "fw", "--ct2", str(ct2), "--mode", mode.fw_mode,
            "--compute", mode.compute, "--threads", str(threads), "--wav", str(wav), "--srt", str(srt)]
    m = timed(argv, timeout_s)
    stats = json.loads(m.stdout.strip().splitlines()[-1])
    return result(srt, float(stats["transcribe_s"]), m, stats)


def run_genai(ir: Path, wav: Path, threads: int, srt: Path, timeout_s: float) -> RunResult:
    argv = [sys.executable, str(Path(__file__).resolve()), "genai", "--ir", str(ir), "--threads", str(threads),
            "--wav", str(wav), "--srt", str(srt)]
    m = timed(argv, timeout_s)
    stats = json.loads(m.stdout.strip().splitlines()[-1])
    return result(srt, float(stats["transcribe_s"]), m, stats)


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
    write_srt_report(a.srt, out, t1 - t0, t2 - t1, len(audio))
    return 0


def write_srt_report(srt: str, cues: list[tuple[float, float, str]], load_s: float, transcribe_s: float,
                     samples: int) -> None:
    tmp = Path(srt + ".tmp")
    tmp.write_text(to_srt(cues), encoding="utf-8")
    tmp.replace(srt)
    print(json.dumps({"load_s": load_s, "transcribe_s": transcribe_s, "audio_s": samples / 16000.0,
                      "segments": len(cues)}))


def genai_child(argv: list[str]) -> int:
    """OpenVINO GenAI's WhisperPipeline on our IR folder, as a user runs it: greedy, segment
    timestamps, its own 30 s windowing over the whole file (it has no VAD and no fallback)."""
    ap = argparse.ArgumentParser(prog="hv_runners.py genai")
    ap.add_argument("--ir", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wav", required=True)
    ap.add_argument("--srt", required=True)
    a = ap.parse_args(argv)
    from common import read_wav
    import openvino_genai

    audio = read_wav(Path(a.wav))
    t0 = time.perf_counter()
    pipe = openvino_genai.WhisperPipeline(a.ir, "CPU", INFERENCE_NUM_THREADS=a.threads)
    t1 = time.perf_counter()
    cfg = pipe.get_generation_config()
    cfg.return_timestamps = True
    cfg.max_new_tokens = 448   # per 30 s window (Whisper's limit), not per file
    res = pipe.generate(audio.tolist(), cfg)
    out = [(c.start_ts, c.end_ts, c.text) for c in (res.chunks or [])]
    t2 = time.perf_counter()
    write_srt_report(a.srt, out, t1 - t0, t2 - t1, len(audio))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fw":
        sys.exit(fw_child(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "genai":
        sys.exit(genai_child(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
