"""The element's worker with speech detection on its own thread ahead of the stream (the default)
against the VAD run between windows (`ARCWHISPER_VAD_AHEAD=off`), through real gst-launch
pipelines, alternated track by track: wall and CPU time per mode, the VAD blocks the streams read
from the thread, and whether the SRTs are byte-identical.

    PY=~/.local/share/arcwhisper/venv/bin/python
    $PY tools/bench/homevideo.py --tracks-only --out /tmp/hv        # the 5 home-video tracks
    $PY tools/bench/worker_vad.py /tmp/hv/tracks/*.wav --rounds 3   # needs cargo build --release
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODES = {"thread": {}, "inline": {"ARCWHISPER_VAD_AHEAD": "off"}}
BLOCKS = re.compile(r"vad blocks_ahead=(\d+)")


def plugin_dir() -> Path:
    """target/release with the plugin and the worker (built when missing)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release"
    if not (target / "libgstarcwhisper.so").is_file() or not (target / "arcwhisper-worker").is_file():
        subprocess.run(["cargo", "build", "--release", "-p", "gst-plugin-arcwhisper", "-p", "arcwhisper-worker"],
                       cwd=REPO, check=True)
    return target


def pipeline(wav: Path, srt: Path, model: str) -> list[str]:
    return ["gst-launch-1.0", "-q", "filesrc", f"location={wav}", "!", "decodebin", "!", "audioconvert", "!",
            "audioresample", "!", "arcwhisper", f"model={model}", "!", "srtenc", "!", "filesink",
            f"location={srt}"]


def run_once(wav: Path, mode: str, model: str, out: Path, plugins: Path) -> dict:
    """One pipeline; wall and CPU seconds (the pipeline and its worker), blocks read ahead."""
    srt, log = out / f"{wav.stem}.{mode}.srt", out / f"{wav.stem}.{mode}.log"
    env = {k: v for k, v in os.environ.items() if k != "ARCWHISPER_VAD_AHEAD"}
    env.update(MODES[mode], GST_PLUGIN_PATH=str(plugins), GST_DEBUG="arcwhisper:5")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run(pipeline(wav, srt, model), env=env, stdout=f, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = BLOCKS.findall(log.read_text(errors="replace"))
    return {"track": wav.stem, "mode": mode, "wall": wall, "cpu": cpu,
            "blocks_ahead": int(found[-1]) if found else None, "srt": srt.read_bytes()}


def summarize(runs: list[dict]) -> dict:
    """Per mode: runs, wall and CPU summed; `same_srt`: each track's SRTs equal across modes."""
    by_mode = {}
    for r in runs:
        m = by_mode.setdefault(r["mode"], {"runs": 0, "wall": 0.0, "cpu": 0.0, "blocks_ahead": 0})
        m["runs"] += 1
        m["wall"] += r["wall"]
        m["cpu"] += r["cpu"]
        m["blocks_ahead"] += r["blocks_ahead"] or 0
    srts = {}
    for r in runs:
        srts.setdefault(r["track"], set()).add(r["srt"])
    return {"modes": by_mode, "same_srt": all(len(s) == 1 for s in srts.values())}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wavs", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="tiny.en-int8")
    ap.add_argument("--plugins", type=Path, help="folder of libgstarcwhisper.so (default: target/release)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="worker-vad-"))
    plugins = a.plugins or plugin_dir()
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for wav in a.wavs:
        for _ in range(a.rounds):
            for mode in MODES:
                runs.append(run_once(wav, mode, a.model, out, plugins))
    s = summarize(runs)
    print(f"| VAD | runs | wall s | CPU s | VAD blocks read ahead |  ({a.model}; SRTs identical: {s['same_srt']})")
    for mode, m in s["modes"].items():
        print(f"| {mode} | {m['runs']} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['blocks_ahead']} |")
    return s


if __name__ == "__main__":
    main()
