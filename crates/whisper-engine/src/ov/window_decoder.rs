//! One decoder request per 30 s window, shared by every pass over it: language detection, the
//! decoding attempts (temperature fallback) and the forced-alignment pass.
//!
//! The first call on a fresh request computes the cross-attention K/V from the encoder output
//! (most of a short prefill's cost); they stay in the request's state. The OpenVINO C API cannot
//! reset or read that state, so the reuse comes from the graph: converter 1.3.0's decoder
//! "rewinds" when a call's `cache_position` starts at 0 on a used request, masking the older
//! self-attention entries out (they stay in the cache) and keeping the cross-attention K/V. With
//! an older IR (or optimum-intel's, or a two-IR decoder) every session takes a fresh request, as
//! before.

use super::session::{LogitsRows, OvSession};
use super::{DecoderKind, OvWhisper, ALIGNMENT_OUTPUT};
use crate::error::{OvContext, Result};
use crate::softmax;
use openvino::{InferRequest, Tensor};

/// Cache entries after which the next session takes a fresh request instead of rewinding: one
/// full text context (Whisper's 448 positions). Masked entries still cost memory and attention
/// time; a first attempt and the alignment pass of a window stay below it, a long run of
/// temperature fallbacks pays for the cross-attention K/V once more.
const REWIND_LIMIT: usize = 448;

/// The decoder of one window (see the module's comment).
pub(crate) struct WindowDecoder<'e> {
    encoder_out: &'e Tensor,
    /// Whether the IR rewinds (`arcwhisper.json` `converter_version` >= 1.3.0).
    rewinds: bool,
    /// The window's request, after the first session.
    req: Option<InferRequest>,
    /// Self-attention cache entries in `req`'s state.
    entries: usize,
    /// Fresh requests taken (each computed the cross-attention K/V) since the last
    /// [`Self::take_request_count`].
    requests: u64,
}

impl<'e> WindowDecoder<'e> {
    pub fn new(encoder_out: &'e Tensor, rewinds: bool) -> Self {
        Self {
            encoder_out,
            rewinds,
            req: None,
            entries: 0,
            requests: 0,
        }
    }

    /// Fresh requests taken since the last call (for [`crate::Stats::decoder_requests`]).
    pub fn take_request_count(&mut self) -> u64 {
        std::mem::take(&mut self.requests)
    }

    /// A session that starts a fresh sequence (positions from 0) over this window: on the
    /// window's request when the IR rewinds, else (and at the first session) on a fresh one.
    pub fn session<'a>(&'a mut self, ov: &mut OvWhisper) -> Result<OvSession<'a>> {
        let stateful = matches!(ov.kind, DecoderKind::Stateful);
        let reuse = self.rewinds && stateful && self.entries < REWIND_LIMIT;
        let req = match self.req.take() {
            Some(req) if reuse => req,
            _ => {
                self.entries = 0;
                self.requests += 1;
                ov.decoder_request(&[self.encoder_out])?
            }
        };
        let stateless = ov.stateless_state()?;
        let req = self.req.insert(req);
        Ok(OvSession::new(
            req,
            &mut self.entries,
            &ov.decoder_inputs,
            stateless,
        ))
    }

    /// The forced-alignment pass: `tokens` at once as a fresh sequence. Returns the alignment
    /// heads' scores over the first `frames` encoder frames, `[heads][T][frames]` flattened,
    /// and the probability (softmax over the first `text_vocab` logits) of each `targets[k]` at
    /// row `first_row + k`.
    pub fn forced_pass(
        &mut self,
        ov: &mut OvWhisper,
        tokens: &[u32],
        frames: usize,
        first_row: usize,
        targets: &[u32],
        text_vocab: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        use crate::decode::Session;
        let heads = ov.alignment_heads;
        let mut session = self.session(ov)?;
        session.forward(tokens, &[0], &mut [Vec::new()])?;
        let logits = session.logits()?;
        let probs = target_probs(
            &LogitsRows::new(&logits, tokens.len())?,
            first_row,
            targets,
            text_vocab,
        )?;
        let qk = session
            .req
            .get_tensor(ALIGNMENT_OUTPUT)
            .ov(|| format!("decoder output {ALIGNMENT_OUTPUT}"))?;
        Ok((head_scores(&qk, heads, frames)?, probs))
    }
}

/// The first `frames` columns of the first `heads` x T rows of `cross_attention_qk`.
fn head_scores(qk: &Tensor, heads: usize, frames: usize) -> Result<Vec<f32>> {
    let dims = qk
        .get_shape()
        .ov(|| "qk shape".into())?
        .get_dimensions()
        .to_vec();
    let (t, s) = (dims[2] as usize, dims[3] as usize);
    let data = qk.get_data::<f32>().ov(|| "qk".into())?;
    let frames = frames.min(s);
    let mut out = Vec::with_capacity(heads * t * frames);
    for row in data.chunks_exact(s).take(heads * t) {
        out.extend_from_slice(&row[..frames]);
    }
    Ok(out)
}

/// Probability of `targets[k]` under softmax over the first `text_vocab` logits of row
/// `first_row + k` (CTranslate2's and openai-whisper's word probability).
fn target_probs(
    logits: &LogitsRows,
    first_row: usize,
    targets: &[u32],
    text_vocab: usize,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(targets.len());
    for (k, &tok) in targets.iter().enumerate() {
        let row = logits.row(0, first_row + k)?;
        let row = &row[..text_vocab.min(row.len())];
        let max = softmax::max(row);
        let sum = softmax::sum_exp(row, max);
        let p = row
            .get(tok as usize)
            .map_or(0.0, |&x| (x - max).exp() / sum);
        out.push(p);
    }
    Ok(out)
}
