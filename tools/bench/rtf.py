#!/usr/bin/env python3
"""Speed: arcwhisper vs faster-whisper (fp32, int8) vs OpenVINO GenAI's WhisperPipeline.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/rtf.py [--models tiny.en,base] [--threads 2]

Same clips (MANIFEST.tsv; Spanish/German only with the multilingual model), same thread count,
greedy decoding for all. Model loading is excluded everywhere; each engine is warmed up on the
first clip; the engines run interleaved clip by clip so that a busy machine hurts them alike.
GenAI runs on the same IR folder as arcwhisper. Prints a markdown table (audio s, wall s, RTF).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from common import clips_for, ct2_dir, eprint, ov_model_dir, read_wav, run_ours, tempdir, to_wav16k


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", default="arcwhisper,fw-fp32,fw-int8,genai")
    ap.add_argument("--json", help="write the raw numbers here")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    tmp = tempdir()
    table, raw = [], []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        cl = clips_for(model)
        wavs = [to_wav16k(c.path, tmp) for c in cl]
        audio = {w: read_wav(w) for w in wavs}
        runners = {}
        if "fw-fp32" in engines or "fw-int8" in engines:
            from faster_whisper import WhisperModel
            ct2 = str(ct2_dir(model, tmp))
            for name, ct in (("fw-fp32", "float32"), ("fw-int8", "int8")):
                if name in engines:
                    fw = WhisperModel(ct2, device="cpu", compute_type=ct, cpu_threads=args.threads)

                    def run_fw(w, fw=fw):
                        t = time.perf_counter()
                        segs, _ = fw.transcribe(audio[w], beam_size=1, best_of=1, condition_on_previous_text=True,
                                                vad_filter=False)
                        list(segs)
                        return time.perf_counter() - t, {}
                    runners[name] = run_fw
        if "genai" in engines:
            import openvino_genai
            pipe = openvino_genai.WhisperPipeline(str(ov_model_dir(model)), "CPU",
                                                  INFERENCE_NUM_THREADS=args.threads)

            def run_genai(w, pipe=pipe):
                cfg = pipe.get_generation_config()
                cfg.return_timestamps = True
                cfg.max_new_tokens = 224
                t = time.perf_counter()
                pipe.generate(audio[w].tolist(), cfg)
                return time.perf_counter() - t, {}
            runners["genai"] = run_genai
        if "arcwhisper" in engines:
            def run_arc(w):
                _text, st = run_ours(w, model, args.threads, ["--warmup"])
                return st["wall_seconds"], st
            runners["arcwhisper"] = run_arc

        # warm-up
        for name in engines:
            if name in runners and name != "arcwhisper":  # ours warms up inside each process
                runners[name](wavs[0])
        totals = {n: [0.0, 0.0, 0, 0.0] for n in runners}  # audio, wall, tokens, decoder s
        for c, w in zip(cl, wavs):
            secs = len(audio[w]) / 16000.0
            for name in engines:
                if name not in runners:
                    continue
                wall, st = runners[name](w)
                totals[name][0] += secs
                totals[name][1] += wall
                totals[name][2] += st.get("tokens", 0)
                totals[name][3] += st.get("decoder_seconds", 0.0)
                raw.append({"model": model, "engine": name, "clip": c.file, "audio_s": secs, "wall_s": wall, **st})
            eprint(f"[{model}] {c.file} done")
        for name in engines:
            if name in totals:
                a, wl, toks, dec = totals[name]
                table.append((model, name, a, wl, wl / a if a else 0.0, (1000 * dec / toks) if toks else None))

    print(f"| model | engine | audio s | wall s | RTF | ms/token (decoder) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for model, name, a, wl, rtf, mspt in table:
        print(f"| {model} | {name} | {a:.1f} | {wl:.2f} | {rtf:.4f} | {'%.1f' % mspt if mspt else ''} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"table": table, "runs": raw}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
