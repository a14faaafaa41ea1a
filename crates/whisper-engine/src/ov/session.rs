//! Decoder sessions: one sequence on a (possibly shared) decoder request, and B sequences in
//! lockstep on a batched one.

use super::{tensor_i64, ALIGNMENT_OUTPUT};
use crate::decode::Session;
use crate::decode_attention::DecodeAttention;
use crate::error::{Error, OvContext, Result};
use openvino::{InferRequest, Tensor};
use std::collections::HashMap;

/// The second request of a two-IR (stateless) decoder and what its steps feed each other.
pub(super) struct StatelessState {
    pub past_req: InferRequest,
    pub past_inputs: Vec<String>,
    pub first_outputs: Vec<String>,
    /// Cross-attention K/V from the first step, fed to every later step.
    pub encoder_kv: HashMap<String, Tensor>,
}

/// One sequence (positions from 0) on a decoder request that may already hold an earlier
/// sequence of the same window (a rewinding IR masks it out: see `window_decoder.rs`).
pub(crate) struct OvSession<'a> {
    pub(super) req: &'a mut InferRequest,
    /// Cache entries in `req`'s state (the window decoder's count, advanced by every call).
    entries: &'a mut usize,
    has_cache_position: bool,
    has_attention_mask: bool,
    pos: i64,
    stateless: Option<StatelessState>,
    first: bool,
    /// `input_ids` [1,1] and `cache_position` [1] reused by every one-token step (stateful).
    step_tensors: Option<(Tensor, Tensor)>,
}

/// The `logits` output of a call over `n` tokens per sequence. Converter 1.3.0's IR returns
/// only the rows from `<|startoftranscript|>` on: row `r` of the call is row `r - (n - T)` of a
/// tensor with `T` rows (older IRs: `T == n`, nothing skipped).
pub(super) struct LogitsRows<'t> {
    data: &'t [f32],
    vocab: usize,
    rows: usize,
    skipped: usize,
}

impl<'t> LogitsRows<'t> {
    pub fn new(logits: &'t Tensor, n: usize) -> Result<Self> {
        let shape = logits.get_shape().ov(|| "logits shape".into())?;
        let dims = shape.get_dimensions();
        let vocab = *dims.last().unwrap_or(&0) as usize;
        let rows = if dims.len() >= 2 {
            dims[dims.len() - 2] as usize
        } else {
            1
        };
        let data = logits.get_data::<f32>().ov(|| "logits".into())?;
        Ok(Self {
            data,
            vocab,
            rows,
            skipped: n.saturating_sub(rows),
        })
    }

    /// The logits of sequence `b` at row `r` of the call (a row past the end: the last).
    pub fn row(&self, b: usize, r: usize) -> Result<&'t [f32]> {
        let at = r.checked_sub(self.skipped).ok_or_else(|| {
            Error::Runtime(format!(
                "decoder logits row {r} was not computed: the IR returns the rows from \
                 <|startoftranscript|> on ({} rows before it)",
                self.skipped
            ))
        })?;
        let at = b * self.rows + at.min(self.rows.saturating_sub(1));
        Ok(&self.data[at * self.vocab..(at + 1) * self.vocab])
    }
}

fn copy_rows(logits: &Tensor, n: usize, rows: &[usize], out: &mut [Vec<f32>]) -> Result<()> {
    let logits = LogitsRows::new(logits, n)?;
    for (k, &r) in rows.iter().enumerate() {
        out[k].clear();
        out[k].extend_from_slice(logits.row(0, r)?);
    }
    Ok(())
}

impl<'a> OvSession<'a> {
    pub(super) fn new(
        req: &'a mut InferRequest,
        entries: &'a mut usize,
        inputs: &[String],
        stateless: Option<StatelessState>,
    ) -> Self {
        let has = |n: &str| inputs.iter().any(|x| x == n);
        Self {
            req,
            entries,
            has_cache_position: has("cache_position"),
            has_attention_mask: has("attention_mask"),
            pos: 0,
            stateless,
            first: true,
            step_tensors: None,
        }
    }

    /// The raw `logits` of the last call (rows as [`LogitsRows`] maps them).
    pub(super) fn logits(&self) -> Result<Tensor> {
        self.req.get_tensor("logits").ov(|| "decoder logits".into())
    }

    /// One token on the stateful request: written into the tensors already bound to it.
    fn step(&mut self, token: i64) -> Result<()> {
        if let Some((ids, cp)) = &mut self.step_tensors {
            ids.get_data_mut::<i64>().ov(|| "input_ids".into())?[0] = token;
            cp.get_data_mut::<i64>().ov(|| "cache_position".into())?[0] = self.pos;
        } else {
            let ids = tensor_i64(&[token], &[1, 1])?;
            let cp = tensor_i64(&[self.pos], &[1])?;
            self.req
                .set_tensor("input_ids", &ids)
                .ov(|| "setting input_ids".into())?;
            if self.has_cache_position {
                self.req
                    .set_tensor("cache_position", &cp)
                    .ov(|| "setting cache_position".into())?;
            }
            self.step_tensors = Some((ids, cp));
        }
        self.req.infer().ov(|| "running the decoder".into())
    }

    /// Several tokens at once on the stateful request (a prefill).
    fn prefill(&mut self, ids: &[i64]) -> Result<()> {
        let n = ids.len() as i64;
        self.step_tensors = None;
        let input_ids = tensor_i64(ids, &[1, n])?;
        self.req
            .set_tensor("input_ids", &input_ids)
            .ov(|| "setting input_ids".into())?;
        if self.has_cache_position {
            set_positions(self.req, self.pos, n)?;
        }
        if self.has_attention_mask {
            let total = self.pos + n;
            let m = tensor_i64(&vec![1; total as usize], &[1, total])?;
            self.req
                .set_tensor("attention_mask", &m)
                .ov(|| "setting attention_mask".into())?;
        }
        self.req.infer().ov(|| "running the decoder".into())
    }

    /// A call of a two-IR decoder: the first on `openvino_decoder_model`, which hands its K/V to
    /// `openvino_decoder_with_past_model` for the later ones.
    fn stateless_call(&mut self, ids: &[i64], rows: &[usize], out: &mut [Vec<f32>]) -> Result<()> {
        let n = ids.len();
        let input_ids = tensor_i64(ids, &[1, n as i64])?;
        let first = std::mem::replace(&mut self.first, false);
        let st = self.stateless.as_mut().expect("a stateless session");
        if first {
            self.req
                .set_tensor("input_ids", &input_ids)
                .ov(|| "setting input_ids".into())?;
            self.req.infer().ov(|| "running the decoder".into())?;
            let logits = self
                .req
                .get_tensor("logits")
                .ov(|| "decoder logits".into())?;
            copy_rows(&logits, n, rows, out)?;
            return hand_over_first_kv(self.req, st);
        }
        st.past_req
            .set_tensor("input_ids", &input_ids)
            .ov(|| "setting input_ids".into())?;
        if st.past_inputs.iter().any(|x| x == "encoder_hidden_states") {
            // The encoder slot, as bound on the first request.
            let encoder_out = self
                .req
                .get_tensor("encoder_hidden_states")
                .ov(|| "encoder_hidden_states".into())?;
            st.past_req
                .set_tensor("encoder_hidden_states", &encoder_out)
                .ov(|| "setting encoder_hidden_states".into())?;
        }
        if st.past_inputs.iter().any(|x| x == "cache_position") {
            set_positions(&mut st.past_req, self.pos, n as i64)?;
        }
        st.past_req
            .infer()
            .ov(|| "running the decoder with past".into())?;
        let logits = st
            .past_req
            .get_tensor("logits")
            .ov(|| "decoder logits".into())?;
        copy_rows(&logits, n, rows, out)?;
        feed_self_kv_forward(st)
    }
}

/// The first step's `present*` outputs become the with-past request's `past_key_values*`; the
/// cross-attention ones are kept for every later step.
fn hand_over_first_kv(req: &InferRequest, st: &mut StatelessState) -> Result<()> {
    for name in &st.first_outputs {
        let Some(rest) = name.strip_prefix("present") else {
            continue;
        };
        let input = format!("past_key_values{rest}");
        if st.past_inputs.contains(&input) {
            let t = req.get_tensor(name).ov(|| format!("output {name}"))?;
            st.past_req
                .set_tensor(&input, &t)
                .ov(|| format!("setting {input}"))?;
            if name.contains("encoder") {
                st.encoder_kv.insert(input, t);
            }
        }
    }
    Ok(())
}

/// Feed this step's decoder self-attention K/V to the next step. Copied out first: the request
/// owns its output buffers.
fn feed_self_kv_forward(st: &mut StatelessState) -> Result<()> {
    let inputs: Vec<String> = st
        .past_inputs
        .iter()
        .filter(|n| n.starts_with("past_key_values") && !n.contains("encoder"))
        .cloned()
        .collect();
    for input in inputs {
        let oname = input.replacen("past_key_values", "present", 1);
        let t = st
            .past_req
            .get_tensor(&oname)
            .ov(|| format!("output {oname}"))?;
        let shape = t.get_shape().ov(|| "shape".into())?;
        let et = t.get_element_type().ov(|| "kv type".into())?;
        let mut copy = Tensor::new(et, &shape).ov(|| "tensor".into())?;
        copy.get_raw_data_mut()
            .ov(|| "kv".into())?
            .copy_from_slice(t.get_raw_data().ov(|| "kv".into())?);
        st.past_req
            .set_tensor(&input, &copy)
            .ov(|| format!("setting {input}"))?;
    }
    Ok(())
}

impl Session for OvSession<'_> {
    fn last_scores(&mut self, frames: usize, out: &mut DecodeAttention) -> Result<bool> {
        if self.stateless.is_some() || out.heads() == 0 {
            return Ok(false);
        }
        let qk = self
            .req
            .get_tensor(ALIGNMENT_OUTPUT)
            .ov(|| format!("decoder output {ALIGNMENT_OUTPUT}"))?;
        push_last_scores(&qk, 0, frames, out)
    }

    fn forward(&mut self, tokens: &[u32], rows: &[usize], out: &mut [Vec<f32>]) -> Result<()> {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        if self.stateless.is_some() {
            self.stateless_call(&ids, rows, out)?;
        } else {
            if ids.len() == 1 && !self.has_attention_mask {
                self.step(ids[0])?;
            } else {
                self.prefill(&ids)?;
            }
            copy_rows(&self.logits()?, ids.len(), rows, out)?;
        }
        self.pos += ids.len() as i64;
        *self.entries += ids.len();
        Ok(())
    }
}

/// A stateful decoder request over `batch` sequences that advance together (same positions).
pub(crate) struct BatchSession {
    req: InferRequest,
    batch: usize,
    pos: i64,
    /// Tokens per sequence in the last call.
    steps: usize,
    has_cache_position: bool,
}

impl BatchSession {
    pub(super) fn new(req: InferRequest, batch: usize, has_cache_position: bool) -> Self {
        Self {
            req,
            batch,
            pos: 0,
            steps: 0,
            has_cache_position,
        }
    }

    /// One pass over `tokens` (`batch` rows of `steps` tokens, row-major); positions continue
    /// from the previous call.
    pub fn forward(&mut self, tokens: &[u32], steps: usize) -> Result<()> {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let input_ids = tensor_i64(&ids, &[self.batch as i64, steps as i64])?;
        self.req
            .set_tensor("input_ids", &input_ids)
            .ov(|| "setting input_ids".into())?;
        if self.has_cache_position {
            set_positions(&mut self.req, self.pos, steps as i64)?;
        }
        self.req
            .infer()
            .ov(|| "running the batched decoder".into())?;
        self.pos += steps as i64;
        self.steps = steps;
        Ok(())
    }

    /// Each sequence's alignment scores at the last query of the last call, over its own
    /// window's frames (see [`Session::last_scores`]), except for the `skip` ones; false when
    /// the decoder has none.
    pub fn last_scores(&self, out: &mut [DecodeAttention], skip: &[bool]) -> Result<bool> {
        if out.first().is_none_or(|a| a.heads() == 0) {
            return Ok(false);
        }
        let qk = self
            .req
            .get_tensor(ALIGNMENT_OUTPUT)
            .ov(|| format!("decoder output {ALIGNMENT_OUTPUT}"))?;
        for (b, a) in out.iter_mut().enumerate().take(self.batch) {
            if skip.get(b) == Some(&true) {
                continue;
            }
            if !push_last_scores(&qk, b, a.frames(), a)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The logits at step `row` of the last call, one vector per sequence.
    pub fn logits_at(&self, row: usize, out: &mut [Vec<f32>]) -> Result<()> {
        let logits = self
            .req
            .get_tensor("logits")
            .ov(|| "decoder logits".into())?;
        let logits = LogitsRows::new(&logits, self.steps)?;
        for (b, o) in out.iter_mut().enumerate().take(self.batch) {
            o.clear();
            o.extend_from_slice(logits.row(b, row)?);
        }
        Ok(())
    }
}

/// Append sequence `b`'s scores at the last query of `qk` ([B, heads, T, S]) over the first
/// `frames` frames, head by head; false when the shape does not fit `out`.
fn push_last_scores(
    qk: &Tensor,
    b: usize,
    frames: usize,
    out: &mut DecodeAttention,
) -> Result<bool> {
    let dims = qk
        .get_shape()
        .ov(|| "qk shape".into())?
        .get_dimensions()
        .to_vec();
    let [_, heads, t, s] = dims[..] else {
        return Ok(false);
    };
    let (heads, t, s) = (heads as usize, t as usize, s as usize);
    if heads != out.heads() || t == 0 || frames > s {
        return Ok(false);
    }
    let data = qk.get_data::<f32>().ov(|| "qk".into())?;
    let mut row = Vec::with_capacity(heads * frames);
    for head in 0..heads {
        let at = ((b * heads + head) * t + t - 1) * s;
        row.extend_from_slice(&data[at..at + frames]);
    }
    out.push_scores(&row);
    Ok(true)
}

/// `cache_position` = `from..from + n`: the positions of a call's `n` new tokens.
fn set_positions(req: &mut InferRequest, from: i64, n: i64) -> Result<()> {
    let positions: Vec<i64> = (from..from + n).collect();
    let cp = tensor_i64(&positions, &[n])?;
    req.set_tensor("cache_position", &cp)
        .ov(|| "setting cache_position".into())
}
