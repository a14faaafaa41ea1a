#!/usr/bin/env python3
"""Per-token decoder time of two model folders, interleaved (same load on the machine for both).

    python tools/bench/decoder_token_time.py OLD_DIR NEW_DIR [MORE_DIRS..] [--steps 64] [--rounds 5]
    python tools/bench/decoder_token_time.py OLD_DIR NEW_DIR --window

Greedy steps from <|startoftranscript|> on a random encoder state, f32 (the engine's CPU decoder
precision); prints the median per-token milliseconds of each folder and their ratio. `--window`
instead times the calls of one window as the engine makes them on one request (converter >= 1.3.0):
the first call (cross-attention K/V and a full 224-token previous-text prompt), the greedy steps,
and the alignment pass over 86 tokens (a rewind). On a machine
shared with other jobs wall time is noisy: `--cpu-time` runs one inference thread and counts the
process's CPU time instead, which other load barely changes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import openvino as ov


def window_request(dec, hidden):
    """A fresh request of one window: the encoder output and `beam_idx` bound once."""
    req = dec.create_infer_request()
    req.set_tensor("encoder_hidden_states", ov.Tensor(hidden))
    req.set_tensor("beam_idx", ov.Tensor(np.zeros(1, np.int32)))
    return req


def rotated(rounds: int, n: int):
    """Indices 0..n-1 once a round, each round starting one later: no folder always runs first."""
    for r in range(rounds):
        for k in range(n):
            yield (r + k) % n


def step_times(dec, hidden, sot: int, steps: int, clock=time.perf_counter) -> list[float]:
    """Milliseconds of each greedy step's `infer()` alone, bound as the engine binds a step: the
    encoder output once (its slot), the token and position written into tensors bound once."""
    req = window_request(dec, hidden)
    ids, position = ov.Tensor(np.zeros((1, 1), np.int64)), ov.Tensor(np.zeros(1, np.int64))
    req.set_tensor("input_ids", ids)
    req.set_tensor("cache_position", position)
    token, times = sot, []
    for pos in range(steps):
        ids.data[0, 0], position.data[0] = token, pos
        t0 = clock()
        req.infer()
        times.append((clock() - t0) * 1000)
        token = int(req.get_tensor("logits").data[0, -1].argmax())
    return times[1:]  # the first step computes the cross-attention K/V


def window_call_times(dec, hidden, sot: int, steps: int, rng, clock=time.perf_counter) -> dict[str, float]:
    """Milliseconds of a window's calls (see the module's doc), random tokens."""
    def call(req, ids, start):
        req.set_tensor("input_ids", ov.Tensor(np.array([ids], np.int64)))
        req.set_tensor("cache_position", ov.Tensor(np.arange(start, start + len(ids), dtype=np.int64)))
        t0 = clock()
        req.infer()
        return (clock() - t0) * 1000

    req = window_request(dec, hidden)
    prompt = [int(t) for t in rng.integers(200, 20000, 224)] + [sot]
    text = [sot] + [int(t) for t in rng.integers(200, 20000, 85)]
    first = call(req, prompt, 0)
    step = float(np.mean([call(req, [600 + k], len(prompt) + k) for k in range(steps)]))
    return {"first call (225)": first, "step": step, "alignment (86)": call(req, text, 0)}


def compare_windows(dirs, decs, hidden, sot: int, steps: int, rounds: int, clock) -> None:
    rng = np.random.default_rng(1)
    times = [dict() for _ in decs]
    for i in rotated(rounds, len(decs)):
        for name, ms in window_call_times(decs[i], hidden, sot, steps, rng, clock).items():
            times[i].setdefault(name, []).append(ms)
    for d, t in zip(dirs, times):
        print(f"{d}: " + "; ".join(f"{k} {np.median(v):.1f} ms" for k, v in t.items()))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+", type=Path, help="the first is the baseline")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu-time", action="store_true", help="one thread, process CPU time")
    ap.add_argument("--window", action="store_true", help="a window's calls: first, steps, alignment")
    a = ap.parse_args()
    core = ov.Core()
    cfg = json.loads((a.dirs[0] / "config.json").read_text())
    props = {"INFERENCE_PRECISION_HINT": "f32"}
    if a.cpu_time:
        props["INFERENCE_NUM_THREADS"] = 1
    clock = time.process_time if a.cpu_time else time.perf_counter
    decs = [core.compile_model(str(d / "openvino_decoder_model.xml"), "CPU", props) for d in a.dirs]
    hidden = np.random.default_rng(0).standard_normal((1, 1500, cfg["d_model"])).astype(np.float32)
    if a.window:
        compare_windows(a.dirs, decs, hidden, cfg["decoder_start_token_id"], a.steps, a.rounds, clock)
        return 0
    times, round_medians = [[] for _ in decs], [[] for _ in decs]
    for i in rotated(a.rounds, len(decs)):
        t = step_times(decs[i], hidden, cfg["decoder_start_token_id"], a.steps, clock)
        times[i] += t
        round_medians[i].append(float(np.median(t)))
    med = [float(np.median(t)) for t in times]
    best = [min(r) for r in round_medians]  # the round least disturbed by other load
    for d, m, b in zip(a.dirs, med, best):
        print(f"{d}: median {m:.2f} ms/token, best round {b:.2f} ms/token ({len(times[0])} tokens)")
    for d, m, b in list(zip(a.dirs, med, best))[1:]:
        print(f"{d} / {a.dirs[0]}: median {m / med[0]:.3f}, best round {b / best[0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
