#!/usr/bin/env python3
"""A worker's memory per model (issue 12's memory target), through the worker test's measurement:

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/worker_memory.py [--models tiny.en,base] [--repeat 5]

Runs `cargo test --release -p arcwhisper-worker --test worker -- --ignored
measure_worker_memory_per_model` (a real `arcwhisper-worker` fed the LibriVox clip `--repeat`
times) once with the default environment and once per variant of environment (e.g.
`f32:env=ARCWHISPER_INFERENCE_PRECISION=f32`) or batch size (`batch8:args=--batch-size 8`: the
worker decodes with speech detection and that `batch-size`; a `vad` row at batch size 1 is added
to compare with; other CLI arguments are not measured here), for each model and its -int8
folder when present. Prints
a markdown table: RSS when ready, the high-water mark and the RSS after decoding, and the growth
over a runtime-only worker (OpenVINO loaded, no model), the measure issue 12's targets use:
413 MB tiny.en, 621 MB base (crates/arcwhisper-worker/README.md "Memory need").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import variants as V  # noqa: E402
from common import REPO, eprint  # noqa: E402

TODAY_MB = {"tiny.en": 413, "base": 621}
CMD = ["cargo", "test", "--release", "-p", "arcwhisper-worker", "--test", "worker", "--", "--ignored",
       "measure_worker_memory_per_model", "--nocapture", "--test-threads", "1"]


def parse_tsv(out: str) -> list[dict]:
    """The test's lines `model weights need formula rss_ready hwm seconds [baseline rss_after]`
    (header skipped; baseline 0 = not read)."""
    rows = []
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) in (7, 9) and f[0] != "model" and f[1].isdigit():
            rows.append({"model": f[0], "weights_b": int(f[1]), "need_b": int(f[2]), "rss_ready_b": int(f[4]),
                         "hwm_b": int(f[5]), "seconds": float(f[6]),
                         "baseline_b": int(f[7]) if len(f) == 9 else 0,
                         "rss_after_b": int(f[8]) if len(f) == 9 else 0})
    return rows


def measure(models: list[str], repeat: int, env: dict[str, str]) -> list[dict]:
    e = {**os.environ, **env, "AW_MEASURE_REPEAT": str(repeat), "AW_MEASURE_MODELS": ",".join(models)}
    p = subprocess.run(CMD, cwd=REPO, env=e, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(CMD)} failed ({p.returncode}):\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
    return parse_tsv(p.stdout)


def batch_size(args: tuple[str, ...]) -> int | None:
    """N when the variant's arguments are just `--batch-size N` (the element's `batch-size`)."""
    if len(args) == 2 and args[0] == "--batch-size" and args[1].isdigit():
        return int(args[1])
    if len(args) == 1 and args[0].startswith("--batch-size=") and args[0].split("=", 1)[1].isdigit():
        return int(args[0].split("=", 1)[1])
    return None


def _growth(r: dict, key: str) -> str:
    """RSS over the runtime-only baseline, MB ("" when the baseline was not read)."""
    return f"{(r[key] - r['baseline_b']) / 1e6:.0f}" if r.get("baseline_b") and r.get(key) else ""


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| model | variant | IR weights MB | RSS ready MB | peak RSS after decoding MB | RSS after decoding MB "
             "| runtime-only baseline MB | growth after decoding MB | growth at peak MB | target (growth) MB |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for variant, r in rows:
        today = TODAY_MB.get(r["model"].removesuffix("-int8"), "")
        after = f"{r['rss_after_b'] / 1e6:.0f}" if r.get("rss_after_b") else ""
        base = f"{r['baseline_b'] / 1e6:.0f}" if r.get("baseline_b") else ""
        lines.append(f"| {r['model']} | {variant} | {r['weights_b'] / 1e6:.1f} | {r['rss_ready_b'] / 1e6:.0f} "
                     f"| {r['hwm_b'] / 1e6:.0f} | {after} | {base} | {_growth(r, 'rss_after_b')} "
                     f"| {_growth(r, 'hwm_b')} | {today} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--variant", action="append", metavar="NAME:env=K=V", help="default: the env-only defaults")
    a = ap.parse_args(argv)
    models = []
    for m in (x.strip() for x in a.models.split(",") if x.strip()):
        models += [m] + ([m + "-int8"] if V.find_model_dir(m + "-int8") else [])
    runs = [(V.DEFAULT, {})]
    for v in V.parse_all(a.variant):
        if v.model_suffix:
            continue  # every model's -int8 folder is measured anyway
        if not v.args:
            runs.append((v, dict(v.env)))
        elif (batch := batch_size(v.args)) is not None:
            runs.append((v, {**v.env, "AW_MEASURE_BATCH_SIZE": str(batch)}))
    if any("AW_MEASURE_BATCH_SIZE" in env for _, env in runs):
        runs.insert(1, (V.parse("vad:args=--batch-size 1"), {"AW_MEASURE_BATCH_SIZE": "1"}))
    caps = V.cpu_capabilities()
    rows = []
    for v, env in runs:
        # Only the environment is checked: a batch size reaches the worker as a setting, not a flag.
        why = V.availability(V.Variant(v.name, env=v.env), "", [], lambda _: None, caps)
        if why:
            eprint(f"skipping {v.name}: {why}")
            continue
        eprint(f"worker memory, {v.name}: {' '.join(CMD)}")
        label = v.name if v is V.DEFAULT else f"{v.name} ({v.describe()})"
        rows += [(label, r) for r in measure(models, a.repeat, env)]
    print(table(rows))
    print(f"\nOne `arcwhisper-worker` per model, the LibriVox clip fed {a.repeat} times; *peak* is VmHWM after "
          "the last window; *growth* is over a worker with the runtime loaded and no model (issue 12's measure). "
          "Rows without `--batch-size` decode all audio in 30 s windows (as the need estimate was fitted); "
          "`--batch-size N` rows decode with speech detection and N windows together.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
