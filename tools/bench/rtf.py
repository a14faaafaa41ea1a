#!/usr/bin/env python3
"""Speed on clean clips: arcwhisper (default and variants) vs faster-whisper (fp32, int8) vs
OpenVINO GenAI's WhisperPipeline on the same IR, with WER and memory beside each time.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/rtf.py [--models tiny.en,base] [--threads 2]
        [--engines arcwhisper,variants,fw-fp32,fw-int8,genai] [--variant 'batch8:args=--batch-size 8'] [--max-clips N]

Same clips (MANIFEST.tsv; Spanish/German only with the multilingual model), same thread count,
greedy decoding for all. Model loading is excluded everywhere; each engine is warmed up (ours
with `--warmup` in each process, the others once on the first clip); the engines run
interleaved clip by clip so that a busy machine hurts them alike. arcwhisper runs without speech
detection (`--no-vad`, unless a variant's args say `--vad`), as faster-whisper
(`vad_filter=False`) and GenAI (none) do here. Most clips fill one 30 s window: batching across
windows has little to work with here (home video is where it counts).
faster-whisper and GenAI each run in a process of their own (rtf_engines.py), so the *peak RSS*
column is each engine's own process (VmHWM; for arcwhisper the largest over its per-clip
processes). Prints a markdown table; issue 12's targets: arcwhisper faster than GenAI on the same
IR, and at most 0.5x faster-whisper int8's time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proctree  # noqa: E402
import variants as V  # noqa: E402
from common import Clip, cli_path, clips_for, eprint, normalizer, tempdir, to_wav16k  # noqa: E402
from rtf_engines import EngineProcess  # noqa: E402

GENAI_TARGET = 1.0     # must be faster than GenAI on the same IR
FW_INT8_TARGET = 0.5   # at most half of faster-whisper int8's time


def run_arcwhisper(wav: Path, model: str, threads: int, variant: V.Variant) -> dict:
    vad = [] if "--vad" in variant.args else ["--no-vad"]   # a variant may ask for speech detection
    cli = list(variant.cmd) or [str(cli_path())]
    argv = [*cli, str(wav), "--model", variant.model(model), "--threads", str(threads), "--format", "txt",
            "--json", "--quiet", *vad, "--warmup", *variant.args]
    m = proctree.run_measured(argv, 900.0, variant.env)
    if m.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({m.returncode}):\n{m.stderr[-2000:]}")
    st = json.loads(m.stderr.strip().splitlines()[-1])
    text = " ".join(line.strip() for line in m.stdout.splitlines() if line.strip())
    return {"wall_s": st["wall_seconds"], "text": text, "peak_rss_bytes": m.peak_rss_bytes,
            "tokens": st.get("tokens", 0), "decoder_seconds": st.get("decoder_seconds", 0.0)}


def engine_names(spec: str, usable: list[V.Variant]) -> list[str]:
    out = []
    for e in (x.strip() for x in spec.split(",") if x.strip()):
        out += [f"arcwhisper+{v.name}" for v in usable] if e == "variants" else [e]
    return out


def summarize(raw: list[dict], model: str, engines: list[str]) -> list[dict]:
    rows = []
    for name in engines:
        rs = [r for r in raw if r["model"] == model and r["engine"] == name]
        if not rs:
            continue
        refs, hyps = [], []
        for r in rs:
            norm = normalizer(r["language"])
            ref = norm(r["reference"])
            if ref.strip():
                refs.append(ref)
                hyps.append(norm(r["text"]))
        audio, wall = sum(r["audio_s"] for r in rs), sum(r["wall_s"] for r in rs)
        toks, dec = sum(r.get("tokens", 0) for r in rs), sum(r.get("decoder_seconds", 0.0) for r in rs)
        rows.append({"model": model, "engine": name, "clips": len(rs), "audio_s": audio, "wall_s": wall,
                     "rtf": wall / audio if audio else None, "wer": 100.0 * jiwer.wer(refs, hyps) if refs else None,
                     "peak_rss_mb": max(r.get("peak_rss_bytes", 0) for r in rs) / 1e6 or None,
                     "ms_per_token": 1000 * dec / toks if toks else None})
    by = {r["engine"]: r for r in rows}
    for r in rows:
        r["vs_genai"] = r["wall_s"] / by["genai"]["wall_s"] if "genai" in by else None
        r["vs_fw_int8"] = r["wall_s"] / by["fw-int8"]["wall_s"] if "fw-int8" in by else None
        r["misses"] = misses(r) if r["engine"].startswith("arcwhisper") else None
    return rows


def misses(r: dict) -> list[str]:
    out = []
    if r["vs_genai"] is not None and r["vs_genai"] >= GENAI_TARGET:
        out.append("GenAI")
    if r["vs_fw_int8"] is not None and r["vs_fw_int8"] > FW_INT8_TARGET:
        out.append(f"{FW_INT8_TARGET}x fw-int8")
    return out


def fmt(x, spec: str) -> str:
    return "" if x is None else format(x, spec)


def table(rows: list[dict], variants: dict[str, V.Variant]) -> str:
    lines = ["| model | engine | clips | audio s | wall s | RTF | WER % | peak RSS MB | vs GenAI | vs fw int8 "
             "| ms/token (decoder) | targets missed (12) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        name = r["engine"]
        if name.startswith("arcwhisper+") and name[11:] in variants:
            name = f"arcwhisper [{name[11:]}: {variants[name[11:]].describe()}]"
        miss = "" if r["misses"] is None else (", ".join(r["misses"]) or "none")
        lines.append(f"| {r['model']} | {name} | {r['clips']} | {r['audio_s']:.1f} | {r['wall_s']:.2f} | {fmt(r['rtf'], '.4f')} "
                     f"| {fmt(r['wer'], '.2f')} | {fmt(r['peak_rss_mb'], '.0f')} | {fmt(r['vs_genai'], '.2f')} "
                     f"| {fmt(r['vs_fw_int8'], '.2f')} | {fmt(r['ms_per_token'], '.1f')} | {miss} |")
    return "\n".join(lines)


def bench_model(model: str, engines: list[str], variants: dict[str, V.Variant], threads: int,
                max_clips: int | None) -> list[dict]:
    cl: list[Clip] = clips_for(model)[:max_clips] if max_clips else clips_for(model)
    tmp = tempdir()
    wavs = [to_wav16k(c.path, tmp) for c in cl]
    servers = {e: EngineProcess(e, model, threads, wavs[0]) for e in engines if not e.startswith("arcwhisper")}
    raw = []
    try:
        for k, (c, w) in enumerate(zip(cl, wavs)):
            order = engines[k % len(engines):] + engines[:k % len(engines)]   # no engine always first
            for name in order:
                if name.startswith("arcwhisper"):
                    v = variants[name[11:]] if "+" in name else V.DEFAULT
                    r = run_arcwhisper(w, model, threads, v)
                else:
                    r = servers[name].transcribe(w)
                raw.append({"model": model, "engine": name, "clip": c.file, "audio_s": c.seconds,
                            "language": c.language, "reference": c.transcript, **r})
            eprint(f"[{model}] {c.file} done")
    finally:
        for s in servers.values():
            s.close()
    return raw


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", default="arcwhisper,variants,fw-fp32,fw-int8,genai",
                    help="arcwhisper, variants (every usable --variant), arcwhisper+NAME, fw-fp32, fw-int8, genai")
    ap.add_argument("--variant", action="append", metavar="NAME:KEY=VALUE;...",
                    help="an arcwhisper variant (variants.py), repeatable; default: " + ", ".join(V.DEFAULT_SPECS))
    ap.add_argument("--max-clips", type=int, help="only the first N clips per model (a quick check)")
    ap.add_argument("--json", help="write the raw numbers here")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    wanted = V.parse_all(args.variant)
    help_text = subprocess.run([str(cli_path()), "--help"], capture_output=True, text=True, timeout=60).stdout
    usable = V.select(wanted, help_text, models, V.find_model_dir, eprint, V.cpu_capabilities())
    variants = {v.name: v for v in usable}
    engines = [e for e in engine_names(args.engines, usable)
               if not e.startswith("arcwhisper+") or e[11:] in variants]
    raw, rows = [], []
    for model in models:
        raw += bench_model(model, engines, variants, args.threads, args.max_clips)
        rows += summarize(raw, model, engines)
    print(table(rows, variants))
    print(f"\n*vs GenAI*, *vs fw int8*: wall time / that engine's in this run; issue 12's targets for arcwhisper: "
          f"< {GENAI_TARGET:g}x GenAI (same IR), <= {FW_INT8_TARGET:g}x faster-whisper int8.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"summary": rows, "runs": raw}, fh, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
