#!/usr/bin/env python3
"""Per-token decoder time of two model folders, interleaved (same load on the machine for both).

    python tools/bench/decoder_token_time.py OLD_DIR NEW_DIR [--steps 64] [--rounds 5]

Greedy steps from <|startoftranscript|> on a random encoder state, f32 (the engine's CPU decoder
precision); prints the median per-token milliseconds of each folder and their ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import openvino as ov


def step_times(dec, hidden, sot: int, steps: int) -> list[float]:
    req = dec.create_infer_request()
    token, times = sot, []
    for pos in range(steps):
        t0 = time.perf_counter()
        logits = req.infer({"input_ids": np.array([[token]], np.int64), "encoder_hidden_states": hidden,
                            "cache_position": np.array([pos], np.int64), "beam_idx": np.zeros(1, np.int32)})[0]
        times.append((time.perf_counter() - t0) * 1000)
        token = int(logits[0, -1].argmax())
    return times[1:]  # the first step computes the cross-attention K/V


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs=2, type=Path)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    core = ov.Core()
    cfg = json.loads((a.dirs[0] / "config.json").read_text())
    decs = [core.compile_model(str(d / "openvino_decoder_model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            for d in a.dirs]
    hidden = np.random.default_rng(0).standard_normal((1, 1500, cfg["d_model"])).astype(np.float32)
    times = [[], []]
    for _ in range(a.rounds):
        for i, dec in enumerate(decs):
            times[i] += step_times(dec, hidden, cfg["decoder_start_token_id"], a.steps)
    med = [float(np.median(t)) for t in times]
    for d, m in zip(a.dirs, med):
        print(f"{d}: {m:.2f} ms/token ({len(times[0])} tokens)")
    print(f"ratio new/old: {med[1] / med[0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
