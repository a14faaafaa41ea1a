#!/usr/bin/env python3
"""What bounds us: this machine's memory bandwidth and compute against what each model needs.

    ~/.local/share/arcwhisper/venv/bin/python tools/bench/bounds.py [--models tiny.en,base] [--threads 2]

1. Measured here: read bandwidth (numpy sum of a 256 MB array, 1 and N threads; the best is
   used) and copy bandwidth; matmul throughput of a one-MatMul OpenVINO model (1500x1024 @
   1024x1024, the encoder's shape class) at f32 and, when OpenVINO lists BF16 for the CPU, bf16.
2. From each model's IR (and its -int8 variant when set-up made it): encoder FLOPs per 30 s
   window (MatMul, Convolution and attention ops of the graph at [1, n_mels, 3000]); decoder
   bytes read per generated token: every weight constant the per-token graph uses (at the
   runtime precision: f32 4 B, bf16 2 B, int8 1 B; an embedding only read by a Gather counts one
   row; the cross-attention K/V projections, computed once per window in the ReadValue
   initialisers, count 0) plus the cross-attention K/V cache (layers x 2 x 1500 x d).
3. The floors (bytes / bandwidth, FLOPs / matmul throughput) against measured times: encoder ms
   per window (median of a few inferences) and decoder ms per token (decoder_token_time.py's
   greedy steps), per model and precision. Prints a markdown snippet.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import eprint  # noqa: E402
from variants import find_model_dir  # noqa: E402

PASS_THROUGH = {"Convert", "Subtract", "Multiply", "Reshape", "Transpose", "Unsqueeze", "Squeeze"}
N_FRAMES = 3000      # mel frames of a 30 s window
N_AUDIO_CTX = 1500   # encoder positions


def elem_bytes(type_name: str, precision: str) -> float:
    """Bytes per element as the CPU plugin keeps a weight: floats at the inference precision,
    integer (compressed) weights as stored."""
    t = type_name.lower()
    if t in ("u4", "i4", "nf4"):
        return 0.5
    if t in ("u8", "i8", "boolean"):
        return 1.0
    if t.startswith(("f", "bf")):
        return 2.0 if precision == "bf16" else 4.0
    return 8.0 if t.endswith("64") else 4.0


# ---- measured machine figures -----------------------------------------------------------------

def read_bandwidth(mb: int = 256, threads: int = 1, repeats: int = 5) -> float:
    """Bytes/s of summing a large float32 array in `threads` parts (numpy releases the GIL)."""
    a = np.ones(mb * (1 << 20) // 4, np.float32)
    parts = np.array_split(a, threads)
    best = float("inf")
    for _ in range(repeats):
        ts = [threading.Thread(target=np.add.reduce, args=(p,)) for p in parts]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best


def copy_bandwidth(mb: int = 256, repeats: int = 5) -> float:
    """Bytes/s moved (read + write) by one np.copyto of a large array."""
    a = np.ones(mb * (1 << 20) // 4, np.float32)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def matmul_flops(core, precision: str, threads: int, m: int = 1500, k: int = 1024, n: int = 1024,
                 repeats: int = 10) -> float:
    """FLOP/s of one OpenVINO MatMul (activation x constant weight) at `precision`."""
    import openvino as ov
    import openvino.opset13 as ops
    x = ops.parameter([m, k], np.float32, name="x")
    w = ops.constant(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32) / 32)
    model = ov.Model([ops.matmul(x, w, False, False)], [x], "matmul")
    cm = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads})
    req = cm.create_infer_request()
    data = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
    req.infer({0: data})
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        req.infer({0: data})
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * k * n / best


# ---- what the IR needs ------------------------------------------------------------------------

def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def encoder_flops(core, xml: Path, n_mels: int) -> float:
    """Multiply-adds x 2 of MatMul, Convolution and attention ops for one [1, n_mels, 3000] window."""
    model = core.read_model(str(xml))
    model.reshape({model.inputs[0].get_any_name(): [1, n_mels, N_FRAMES]})
    total = 0.0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "MatMul":
            a = list(op.get_input_shape(0))
            k = a[-2] if op.get_attributes().get("transpose_a") else a[-1]
            total += 2.0 * _numel(op.get_output_shape(0)) * k
        elif kind == "Convolution":
            w = list(op.get_input_shape(1))   # [C_out, C_in, kernel...]
            total += 2.0 * _numel(op.get_output_shape(0)) * _numel(w[1:])
        elif kind == "ScaledDotProductAttention":
            q, kk = list(op.get_input_shape(0)), list(op.get_input_shape(1))
            total += 4.0 * _numel(q) * kk[-2]   # Q.K^T and P.V: 2 x (2 B H L S D)
    return total


def per_token_nodes(model) -> set:
    """Nodes evaluated on every decoder call: backwards from the results and state writes, not
    into a ReadValue's initialiser (evaluated only on a fresh state, once per window)."""
    seen, todo = set(), list(model.get_results()) + list(model.get_sinks())
    while todo:
        node = todo.pop()
        if node.get_name() in seen:   # get_name(): unique per node (Python wrappers are not)
            continue
        seen.add(node.get_name())
        if node.get_type_name() == "ReadValue":
            continue
        todo += [inp.get_source_output().get_node() for inp in node.inputs()]
    return seen


def _real_consumers(node) -> list[str]:
    """Consumer op types past decompression / layout ops (Convert, Multiply, Reshape, ...)."""
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        for t in n.output(0).get_target_inputs():
            c = t.get_node()
            if c.get_type_name() in PASS_THROUGH:
                todo.append(c)
            else:
                out.append(c.get_type_name())
    return out


def decoder_weight_bytes_per_token(core, xml: Path, precision: str) -> float:
    model = core.read_model(str(xml))
    per_token = per_token_nodes(model)
    total = 0.0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Constant" or op.get_name() not in per_token:
            continue
        shape = list(op.get_output_shape(0))
        n = _numel(shape)
        if n < 1024:
            continue   # scalars, axes, shapes
        consumers = _real_consumers(op)
        if consumers and all(c == "Gather" for c in consumers):
            n = shape[-1]   # one embedding row per token
        total += n * elem_bytes(op.get_element_type().get_type_name(), precision)
    return total


@dataclass
class ModelNeeds:
    name: str
    encoder_gflop: float
    decoder_weights_mb: dict      # precision -> MB per token
    cross_kv_mb: dict             # precision -> MB per token


def model_needs(core, name: str, d: Path, precisions: list[str]) -> ModelNeeds:
    cfg = json.loads((d / "config.json").read_text())
    flops = encoder_flops(core, d / "openvino_encoder_model.xml", cfg["num_mel_bins"])
    weights = {p: decoder_weight_bytes_per_token(core, d / "openvino_decoder_model.xml", p) / 1e6 for p in precisions}
    kv = {p: cfg["decoder_layers"] * 2 * N_AUDIO_CTX * cfg["d_model"] * (2 if p == "bf16" else 4) / 1e6
          for p in precisions}
    return ModelNeeds(name, flops / 1e9, weights, kv)


# ---- measured model times ---------------------------------------------------------------------

def encoder_ms(core, d: Path, precision: str, threads: int, repeats: int = 3) -> float:
    cfg = json.loads((d / "config.json").read_text())
    cm = core.compile_model(str(d / "openvino_encoder_model.xml"), "CPU",
                            {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads})
    req = cm.create_infer_request()
    mel = np.random.default_rng(0).standard_normal((1, cfg["num_mel_bins"], N_FRAMES)).astype(np.float32)
    req.infer({0: mel})
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        req.infer({0: mel})
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def decoder_ms(core, d: Path, precision: str, threads: int, steps: int, rounds: int) -> float:
    from decoder_token_time import step_times
    cfg = json.loads((d / "config.json").read_text())
    dec = core.compile_model(str(d / "openvino_decoder_model.xml"), "CPU",
                             {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads})
    hidden = np.random.default_rng(0).standard_normal((1, N_AUDIO_CTX, cfg["d_model"])).astype(np.float32)
    times = []
    for _ in range(rounds):
        times += step_times(dec, hidden, cfg["decoder_start_token_id"], steps)
    return float(np.median(times))


# ---- report -----------------------------------------------------------------------------------

def markdown(machine: dict, rows: list[dict]) -> str:
    lines = [f"Measured here: read bandwidth {machine['read_gbs']:.1f} GB/s (numpy sum, best of 1 and "
             f"{machine['threads']} threads), copy {machine['copy_gbs']:.1f} GB/s (read + write); OpenVINO MatMul "
             + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in machine["gflops"].items())
             + f" ({machine['threads']} threads). OpenVINO CPU capabilities: {', '.join(machine['caps'])}.",
             "",
             "| model | precision | encoder GFLOP / window | encoder floor ms | encoder measured ms | measured / floor "
             "| decoder MB / token (weights + cross K/V) | decoder floor ms/token | decoder measured ms/token "
             "| measured / floor |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['precision']} | {r['encoder_gflop']:.1f} | {r['encoder_floor_ms']:.0f} "
                     f"| {r['encoder_ms']:.0f} | {r['encoder_ms'] / r['encoder_floor_ms']:.1f}x "
                     f"| {r['decoder_mb']:.0f} ({r['weights_mb']:.0f} + {r['cross_kv_mb']:.0f}) "
                     f"| {r['decoder_floor_ms']:.2f} | {r['decoder_ms']:.2f} | {r['decoder_ms'] / r['decoder_floor_ms']:.1f}x |")
    lines += ["", "Floors: encoder = its FLOPs / the MatMul throughput at that precision (int8 weights still "
              "compute in f32/bf16); decoder = bytes read per token / the read bandwidth. Measured: encoder median "
              "of 3 windows, decoder median per-token time of greedy steps (decoder_token_time.py) on a random "
              "encoder state."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny.en,base", help="each with its -int8 variant when present")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=48, help="decoder steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    import openvino as ov
    core = ov.Core()
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    precisions = ["f32"] + (["bf16"] if "BF16" in caps else [])
    eprint("measuring bandwidth and matmul throughput")
    machine = {"threads": a.threads, "caps": caps,
               "read_gbs": max(read_bandwidth(threads=1), read_bandwidth(threads=a.threads)) / 1e9,
               "copy_gbs": copy_bandwidth() / 1e9,
               "gflops": {p: matmul_flops(core, p, a.threads) / 1e9 for p in precisions}}
    rows = []
    for base in [m.strip() for m in a.models.split(",") if m.strip()]:
        for name in (base, base + "-int8"):
            d = find_model_dir(name)
            if d is None:
                eprint(f"skipping {name}: no model folder")
                continue
            needs = model_needs(core, name, d, precisions)
            for p in precisions:
                eprint(f"[{name}] {p}: timing encoder and decoder")
                enc, dec = encoder_ms(core, d, p, a.threads), decoder_ms(core, d, p, a.threads, a.steps, a.rounds)
                mb = needs.decoder_weights_mb[p] + needs.cross_kv_mb[p]
                rows.append({"model": name, "precision": p, "encoder_gflop": needs.encoder_gflop,
                             "encoder_floor_ms": 1000 * needs.encoder_gflop / machine["gflops"][p], "encoder_ms": enc,
                             "weights_mb": needs.decoder_weights_mb[p], "cross_kv_mb": needs.cross_kv_mb[p],
                             "decoder_mb": mb, "decoder_floor_ms": mb / machine["read_gbs"], "decoder_ms": dec})
    print(markdown(machine, rows))
    if a.json:
        a.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
