#!/usr/bin/env python3
"""WER of arcwhisper vs faster-whisper (fp32, CPU) on the shared speech clips.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/wer_vs_faster_whisper.py \
        [--models tiny.en,tiny.en-int8,base,base-int8] [--precisions f32,bf16]

For every clip in MANIFEST.tsv (the Spanish/German ones only with the multilingual model), runs
our CLI (`arcwhisper-transcribe`, greedy, temperature fallback, condition on previous text) and
faster-whisper (`compute_type="float32"`, `beam_size=1`, `best_of=1`, default fallback,
`condition_on_previous_text=True`, `vad_filter=False`, `without_timestamps=False`) on the same
16 kHz WAV, normalises reference and hypotheses with whisper_normalizer (EnglishTextNormalizer
for English, BasicTextNormalizer otherwise) and computes the corpus WER with jiwer per model.
An int8 variant (`base-int8`) is compared with faster-whisper on its source weights (`base`).

Exits 1 if ours is more than --max-diff points (default 1.0) worse than faster-whisper's for any
model; if an int8 variant is more than --int8-max-diff points (default 0.5) worse than its f16
model run in the same invocation; or, with --precisions, if a precision is more than
--precision-max-diff points (default 0.3) worse than the first precision listed (f32).

faster-whisper's texts are kept in $ARCWHISPER_HOME/cache/faster-whisper-texts/ under a hash of
its version, the weights, options, thread count and clips (`fw_reference.py`);
ARCWHISPER_FW_CACHE=0 computes them afresh.
"""

from __future__ import annotations

import argparse
import json
import sys

import jiwer

from common import clips_for, ct2_dir, eprint, normalizer, read_wav, run_ours, tempdir, to_wav16k, weights_of
from fw_reference import FW_OPTIONS, cache_key, cached_texts, engine_versions


def faster_whisper_texts(model: str, threads: int, tmp) -> dict:
    """clip file -> faster-whisper fp32's text, for the CTranslate2 weights of `model`; kept
    between runs under a hash of all it depends on (`fw_reference.py`)."""
    weights = ct2_dir(model, tmp)
    wavs = {clip.file: to_wav16k(clip.path, tmp) for clip in clips_for(model)}

    def compute() -> dict:
        from faster_whisper import WhisperModel
        fw = WhisperModel(str(weights), device="cpu", compute_type="float32", cpu_threads=threads)
        texts = {}
        for file, wav in wavs.items():
            segs, _info = fw.transcribe(read_wav(wav), **FW_OPTIONS)
            texts[file] = "".join(s.text for s in segs).strip()
        return texts

    return cached_texts(cache_key(engine_versions(), weights, threads, wavs), compute)


def precision_env(prec: str) -> dict:
    """`bf16`: both parts; `bf16/f32`: encoder bf16, decoder f32; empty: the engine's choice."""
    if "/" in prec:
        enc, dec = prec.split("/", 1)
        return {"ARCWHISPER_ENCODER_PRECISION": enc, "ARCWHISPER_DECODER_PRECISION": dec}
    return {"ARCWHISPER_INFERENCE_PRECISION": prec} if prec else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--precisions", default="",
                    help="run ours once per INFERENCE_PRECISION_HINT, e.g. f32,bf16,bf16/f32 (P: both "
                         "parts, E/D: encoder E, decoder D); default: the engine's choice for this machine")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-diff", type=float, default=1.0, help="allowed WER points above faster-whisper")
    ap.add_argument("--int8-max-diff", type=float, default=0.5, help="allowed WER points of <m>-int8 above <m>")
    ap.add_argument("--precision-max-diff", type=float, default=0.3,
                    help="allowed WER points of a precision above the first one listed")
    ap.add_argument("--json", help="also write the per-clip results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every clip's texts")
    args = ap.parse_args()

    tmp = tempdir()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()] or [""]
    fw_texts: dict[str, dict] = {}
    rows, details, wer_of = [], [], {}
    for model in models:
        source = weights_of(model)
        if source not in fw_texts:
            fw_texts[source] = faster_whisper_texts(source, args.threads, tmp)
        for prec in precisions:
            env = precision_env(prec)
            label = f"{model} @{prec}" if prec else model
            refs, ours, theirs = [], [], []
            for clip in clips_for(model):
                wav = to_wav16k(clip.path, tmp)
                norm = normalizer(clip.language)
                our_text, _ = run_ours(wav, model, args.threads, env=env)
                r, o, t = norm(clip.transcript), norm(our_text), norm(fw_texts[source][clip.file])
                if not r.strip():
                    continue
                refs.append(r)
                ours.append(o)
                theirs.append(t)
                details.append({"model": model, "precision": prec or None, "clip": clip.file, "reference": r,
                                "ours": o, "faster_whisper": t})
                if args.verbose:
                    eprint(f"[{label}] {clip.file}\n  ref  {r}\n  ours {o}\n  fw   {t}")
                else:
                    eprint(f"[{label}] {clip.file}: {'same' if o == t else 'differs'}")
            w_ours = 100.0 * jiwer.wer(refs, ours)
            w_fw = 100.0 * jiwer.wer(refs, theirs)
            wer_of[(model, prec)] = w_ours
            same = sum(1 for o, t in zip(ours, theirs) if o == t)
            verdicts = []
            if w_ours > w_fw + args.max_diff:
                verdicts.append(f"WORSE than faster-whisper by more than {args.max_diff:.1f}")
            f16 = wer_of.get((source, prec)) if source != model else None
            if f16 is not None and w_ours > f16 + args.int8_max_diff:
                verdicts.append(f"WORSE than {source} by more than {args.int8_max_diff:.1f}")
            first = wer_of.get((model, precisions[0])) if prec != precisions[0] else None
            if first is not None and w_ours > first + args.precision_max_diff:
                verdicts.append(f"WORSE than @{precisions[0]} by more than {args.precision_max_diff:.1f}")
            rows.append((label, len(refs), w_ours, w_fw, same, "; ".join(verdicts) or "ok"))

    print("| model | clips | WER arcwhisper (%) | WER faster-whisper fp32 (%) | identical texts | verdict |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for label, n, wo, wf, same, verdict in rows:
        print(f"| {label} | {n} | {wo:.2f} | {wf:.2f} | {same}/{n} | {verdict} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"summary": [dict(zip(("model", "clips", "wer_ours", "wer_faster_whisper", "identical",
                                             "verdict"), r)) for r in rows], "clips": details},
                      fh, indent=1, ensure_ascii=False)
    return 0 if all(r[5] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
