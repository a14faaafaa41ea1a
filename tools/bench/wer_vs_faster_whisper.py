#!/usr/bin/env python3
"""WER of arcwhisper vs faster-whisper (fp32, CPU) on the shared speech clips.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/wer_vs_faster_whisper.py [--models tiny.en,base]

For every clip in MANIFEST.tsv (the Spanish/German ones only with the multilingual model), runs
our CLI (`arcwhisper-transcribe`, greedy, temperature fallback, condition on previous text) and
faster-whisper (`compute_type="float32"`, `beam_size=1`, `best_of=1`, default fallback,
`condition_on_previous_text=True`, `vad_filter=False`, `without_timestamps=False`) on the same
16 kHz WAV, normalises reference and hypotheses with whisper_normalizer (EnglishTextNormalizer
for English, BasicTextNormalizer otherwise) and computes the corpus WER with jiwer per model.
Exits 1 if ours is more than --max-diff points (default 1.0) worse than faster-whisper's for any
model.
"""

from __future__ import annotations

import argparse
import json
import sys

import jiwer

from common import clips_for, ct2_dir, eprint, normalizer, read_wav, run_ours, tempdir, to_wav16k


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-diff", type=float, default=1.0, help="allowed WER points above faster-whisper")
    ap.add_argument("--json", help="also write the per-clip results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every clip's texts")
    args = ap.parse_args()

    from faster_whisper import WhisperModel

    tmp = tempdir()
    rows, details, failed = [], [], False
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        fw = WhisperModel(str(ct2_dir(model, tmp)), device="cpu", compute_type="float32",
                          cpu_threads=args.threads)
        refs, ours, theirs = [], [], []
        for clip in clips_for(model):
            wav = to_wav16k(clip.path, tmp)
            norm = normalizer(clip.language)
            our_text, _ = run_ours(wav, model, args.threads)
            segs, _info = fw.transcribe(read_wav(wav), beam_size=1, best_of=1,
                                        temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
                                        condition_on_previous_text=True, vad_filter=False,
                                        without_timestamps=False)
            fw_text = "".join(s.text for s in segs).strip()
            r, o, t = norm(clip.transcript), norm(our_text), norm(fw_text)
            if not r.strip():
                continue
            refs.append(r)
            ours.append(o)
            theirs.append(t)
            details.append({"model": model, "clip": clip.file, "reference": r, "ours": o, "faster_whisper": t})
            if args.verbose:
                eprint(f"[{model}] {clip.file}\n  ref  {r}\n  ours {o}\n  fw   {t}")
            else:
                eprint(f"[{model}] {clip.file}: {'same' if o == t else 'differs'}")
        w_ours = 100.0 * jiwer.wer(refs, ours)
        w_fw = 100.0 * jiwer.wer(refs, theirs)
        same = sum(1 for o, t in zip(ours, theirs) if o == t)
        ok = w_ours <= w_fw + args.max_diff
        failed |= not ok
        rows.append((model, len(refs), w_ours, w_fw, same, ok))

    print("| model | clips | WER arcwhisper (%) | WER faster-whisper fp32 (%) | identical texts | verdict |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for model, n, wo, wf, same, ok in rows:
        print(f"| {model} | {n} | {wo:.2f} | {wf:.2f} | {same}/{n} | {'ok' if ok else 'WORSE by more than %.1f' % args.max_diff} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"summary": [dict(zip(("model", "clips", "wer_ours", "wer_faster_whisper", "identical", "ok"), r))
                                   for r in rows], "clips": details}, fh, indent=1, ensure_ascii=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
