#!/usr/bin/env python3
"""Issue 12's measurements in one command, one markdown report.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/throughput.py --out /tmp/throughput.md
    ... --quick                      # tiny.en, 1 soundtrack, 3 clips: shows every mode runs (minutes)
    ... --variant 'batch4:args=--batch-size 4' ...   # replaces the default arcwhisper variants

Runs, in this order, each as its own process: `bounds.py` (what bounds us: bandwidth, compute,
floors vs measured), `rtf.py` (clean clips: arcwhisper default and variants, faster-whisper
fp32/int8, GenAI on the same IR; WER and memory beside each time) and `homevideo.py` (home-video
soundtracks: the same plus faster-whisper's VAD and batched modes; subtitle timing scores beside
each time), `homevideo.py` again pinned to one core with one inference thread (per core, as a CPU-only
deployment runs one single-core worker per core; needs `taskset`), again with one one-thread process
per core at a time (a folder of scenes on all cores, each engine's set timed whole), and with `--worker-memory`
`worker_memory.py` (a worker's RSS per model). The report starts with the machine (CPU model, SIMD flags, OpenVINO's CPU
capabilities, the commit) and the load average sampled every 5 s during the run: numbers from a
busy machine are a busy machine's. Each section is written to the report as soon as it ends.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import REPO, eprint, tempdir  # noqa: E402
from homevideo import machine  # noqa: E402


class LoadSampler:
    """1-minute load average every `interval_s` seconds, in a thread."""

    def __init__(self, interval_s: float = 5.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._interval = interval_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self._interval)

    def start(self) -> "LoadSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def summary(self) -> str:
        s = self.samples or [os.getloadavg()[0]]
        return f"min {min(s):.1f}, mean {sum(s) / len(s):.1f}, max {max(s):.1f} ({len(s)} samples)"


def header(info: dict, caps: str, commit: str, args) -> str:
    return "\n".join([
        "# Throughput (issue 12)",
        "",
        f"- Machine: {info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs, {platform.platform()}",
        f"- SIMD flags: {info.get('simd') or 'none of avx2/fma/avx512*/amx*'}",
        f"- OpenVINO CPU capabilities: {caps}",
        f"- Commit: {commit}; threads {args.threads}; models {args.models}",
    ])


def section_cmds(args) -> list[tuple[str, list[str]]]:
    py = sys.executable
    vargs = [f"--variant={v}" for v in args.variant or []]
    bounds = [py, str(HERE / "bounds.py"), "--models", args.models, "--threads", str(args.threads)]
    rtf = [py, str(HERE / "rtf.py"), "--models", args.models, "--threads", str(args.threads), *vargs,
           "--json", str(args.work / "rtf.json")]
    hv = homevideo_cmd(args, args.threads, "homevideo", vargs)
    if args.quick:
        bounds += ["--rounds", "1", "--steps", "24"]
    if args.max_clips:
        rtf += ["--max-clips", str(args.max_clips)]
    out = [("What bounds us", bounds), ("Clean clips (rtf.py)", rtf), ("Home video (homevideo.py)", hv)]
    cpu = one_cpu()
    if cpu is not None:
        out.append((f"One core each: home video (homevideo.py under taskset -c {cpu})", one_core_cmd(args, cpu)))
    cpus = usable_cpus()
    if cpus > 1:
        out.append((f"All cores, a process each: home video (homevideo.py --jobs {cpus} --threads 1)",
                    all_cores_cmd(args, cpus)))
    if args.worker_memory:
        out.append(("Worker memory (worker_memory.py)",
                    [py, str(HERE / "worker_memory.py"), "--models", args.models, *vargs]
                    + (["--repeat", "1"] if args.quick else [])))
    return [(t, c) for t, c in out if t.split()[0].lower() not in args.skip]


# Per core: how a CPU-only deployment runs (examples/per-card.sh: one single-core worker per
# core), and faster-whisper's own modes when each process gets one core. Its batched mode barely
# uses a second thread, so the two-thread table above flatters the engine that does.
ONE_CORE_MODES = "arcwhisper-vad,arcwhisper-vad+int8,fw-int8-batched,fw-int8-vad,fw-batched"


def one_cpu() -> int | None:
    """The first CPU this process may run on, when `taskset` exists to pin a run to it."""
    if shutil.which("taskset") is None or not hasattr(os, "sched_getaffinity"):
        return None
    return min(os.sched_getaffinity(0))


def homevideo_cmd(args, threads: int, out: str, extra: list[str]) -> list[str]:
    """homevideo.py over the run's soundtracks with `threads` inference threads, results in
    <work>/`out`."""
    return [sys.executable, str(HERE / "homevideo.py"), "--models", args.models, "--threads", str(threads),
            "--tracks", str(args.tracks), "--no-build", "--out", str(args.work / out), *extra]


def one_core_cmd(args, cpu: int) -> list[str]:
    """homevideo.py pinned to `cpu` with one inference thread: arcwhisper's default and int8
    rows against faster-whisper's fastest modes."""
    return ["taskset", "-c", str(cpu),
            *homevideo_cmd(args, 1, "homevideo-1core", ["--modes", ONE_CORE_MODES, "--variant", "int8:model=-int8"])]


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def all_cores_cmd(args, cpus: int) -> list[str]:
    """homevideo.py with `cpus` one-thread processes at a time: a folder of scenes on every core,
    each engine's set timed whole (the one-core modes)."""
    return homevideo_cmd(args, 1, "homevideo-jobs", ["--jobs", str(cpus), "--modes", ONE_CORE_MODES,
                                                       "--variant", "int8:model=-int8"])


def git_commit() -> str:
    try:
        p = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=REPO, capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return p.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def shown(cmd: list[str]) -> str:
    """A section's command for the report: scripts by name, without the interpreter."""
    return " ".join(Path(c).name if c.endswith(".py") else c for c in cmd if c != sys.executable)


def write(path: Path, text: str) -> None:
    """The report so far, replaced whole; its folder made if missing (a run of 45 minutes must
    not end at its first section for want of a folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="the report (default $ARCWHISPER_BENCH_TMP/throughput.md)")
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tracks", type=int, default=5, help="home-video soundtracks")
    ap.add_argument("--max-clips", type=int, help="clean clips per model (default all)")
    ap.add_argument("--variant", action="append", metavar="NAME:KEY=VALUE;...",
                    help="arcwhisper variants for rtf.py and homevideo.py (default: theirs)")
    ap.add_argument("--skip", default="", help="comma list of sections to leave out: what (bounds), clean, home, one (one core each), "
                         "all (all cores, a process each)")
    ap.add_argument("--quick", action="store_true", help="tiny.en, 1 soundtrack, 3 clean clips, short bounds")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    ap.add_argument("--worker-memory", action="store_true",
                    help="also a worker's memory per model (worker_memory.py: builds the worker tests)")
    a = ap.parse_args(argv)
    if a.quick:
        a.models, a.tracks, a.max_clips = "tiny.en", 1, a.max_clips or 3
    a.skip = {s.strip().lower() for s in a.skip.split(",") if s.strip()}
    a.work = tempdir() / "throughput"
    a.work.mkdir(parents=True, exist_ok=True)
    a.out = a.out or tempdir() / "throughput.md"
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.no_build:
        cmd = ["cargo", "build", "--release", "--bin", "arcwhisper-transcribe"]
        eprint("+ " + " ".join(cmd))
        subprocess.run(cmd, cwd=REPO, check=True, timeout=3600)
    import openvino as ov
    caps = ", ".join(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = header(machine(), caps, git_commit(), args)
    load = LoadSampler().start()
    parts, failed = [], []
    t_all = time.perf_counter()
    for title, cmd in section_cmds(args):
        eprint(f"== {title}: {' '.join(cmd)}")
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        took = time.perf_counter() - t
        body = p.stdout.strip() if p.returncode == 0 else f"**FAILED** (exit {p.returncode}); see the output above."
        if p.returncode != 0:
            failed.append(title)
        parts.append(f"## {title}\n\n`{shown(cmd)}` "
                     f"({took / 60:.1f} min)\n\n{body}\n")
        write(args.out, f"{head}\n- Started {started}; load average so far: {load.summary()}\n\n" + "\n".join(parts))
    load.stop()
    total = (time.perf_counter() - t_all) / 60
    write(args.out, f"{head}\n- Run {started}, {total:.1f} min; load average during the run: {load.summary()}\n\n"
          + "\n".join(parts))
    eprint(f"report: {args.out} ({total:.1f} min)" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
