//! The forced-alignment passes of a batch's windows, on the batch's own decoder request.
//!
//! Alone, a window's word timing takes a fresh decoder request (its cross-attention K/V
//! computed once more from the encoder output) and one call over its tokens. After a batch's
//! first attempts the batch request still holds every row's cross-attention K/V, so the rows
//! rewind (positions from 0, the earlier entries masked out) and take their alignment passes
//! together: rows padded with `<|endoftext|>` to the longest (the decoder is causal, so padding
//! after a row's tokens changes none of its rows), in chunks of at most `max_rows` decoder rows
//! so that the logits need no more memory than a batch's prompt.

use super::session::LogitsRows;
use super::{BatchSession, ALIGNMENT_OUTPUT};
use crate::alignment::ForcedPass;
use crate::error::{Error, OvContext, Result};
use crate::softmax;
use openvino::Tensor;

/// One row's alignment pass: `tokens` from `<|startoftranscript|>`, whose rows
/// `first_row..` predict its text tokens (up to the closing `<|endoftext|>`), scored over the
/// first `frames` encoder frames.
pub(crate) struct ForcedRow {
    pub tokens: Vec<u32>,
    pub first_row: usize,
    pub frames: usize,
}

/// What the passes share: the heads in the alignment output, the text vocabulary (softmax for
/// the word probabilities runs over it), the padding token and the most decoder rows a call.
pub(crate) struct PassShape {
    pub heads: usize,
    pub text_vocab: usize,
    pub eot: u32,
    pub max_rows: usize,
}

/// A row's scores and probabilities while its chunks arrive.
struct Collected {
    /// `[heads]` of `[tokens][frames]`.
    per_head: Vec<Vec<f32>>,
    probs: Vec<f32>,
}

/// Every `Some` row's pass (`rows[b]` is batch row `b`; `None` rows are padding), on `session`
/// right after its first attempts.
pub(crate) fn forced_passes(
    session: &mut BatchSession,
    rows: &[Option<ForcedRow>],
    shape: &PassShape,
) -> Result<Vec<Option<ForcedPass>>> {
    let longest = rows.iter().flatten().map(|r| r.tokens.len()).max();
    let Some(longest) = longest else {
        return Ok(rows.iter().map(|_| None).collect());
    };
    let b = session.batch();
    let chunk = (shape.max_rows / b).max(1);
    let mut collected: Vec<Collected> = rows
        .iter()
        .map(|_| Collected {
            per_head: vec![Vec::new(); shape.heads],
            probs: Vec::new(),
        })
        .collect();
    session.rewind();
    for start in (0..longest).step_by(chunk) {
        let end = (start + chunk).min(longest);
        let ids: Vec<u32> = rows
            .iter()
            .flat_map(|r| (start..end).map(move |p| token_at(r.as_ref(), p, shape.eot)))
            .collect();
        session.forward(&ids, end - start)?;
        let (logits, steps) = session.output("logits")?;
        let logits = LogitsRows::new(&logits, steps)?;
        let (qk, _) = session.output(ALIGNMENT_OUTPUT)?;
        let qk = ScoreRows::new(&qk, steps)?;
        for (bi, (row, got)) in rows.iter().zip(&mut collected).enumerate() {
            if let Some(row) = row {
                let span = start..end.min(row.tokens.len());
                collect_chunk(row, got, span, start, bi, (&logits, &qk), shape)?;
            }
        }
    }
    Ok(rows
        .iter()
        .zip(collected)
        .map(|(row, got)| {
            row.as_ref().map(|r| ForcedPass {
                tokens: r.tokens.clone(),
                frames: r.frames,
                qk: got.per_head.concat(),
                probs: got.probs,
            })
        })
        .collect())
}

fn token_at(row: Option<&ForcedRow>, position: usize, eot: u32) -> u32 {
    row.and_then(|r| r.tokens.get(position).copied())
        .unwrap_or(eot)
}

/// One chunk's share of batch row `bi`: its positions `span` (of the chunk that starts at
/// `start`), scores over the row's frames and the probability of each text token they predict.
fn collect_chunk(
    row: &ForcedRow,
    got: &mut Collected,
    span: std::ops::Range<usize>,
    start: usize,
    bi: usize,
    (logits, qk): (&LogitsRows, &ScoreRows),
    shape: &PassShape,
) -> Result<()> {
    let text_end = row.tokens.len() - 1; // rows first_row..text_end predict text tokens
    for p in span {
        for (h, out) in got.per_head.iter_mut().enumerate() {
            let scores = qk.row(bi, h, p - start)?;
            out.extend_from_slice(&scores[..row.frames.min(scores.len())]);
        }
        if (row.first_row..text_end - 1).contains(&p) {
            let l = logits.row(bi, p - start)?;
            let target = row.tokens[p + 1] as usize;
            got.probs.push(softmax::probability(
                &l[..shape.text_vocab.min(l.len())],
                target,
            ));
        }
    }
    Ok(())
}

/// The `cross_attention_qk` output of a call, `[B, heads, T, S]`, by sequence, head and step.
/// Its T rows are the call's last T steps (see [`LogitsRows`]).
struct ScoreRows<'t> {
    data: &'t [f32],
    heads: usize,
    rows: usize,
    frames: usize,
    skipped: usize,
}

impl<'t> ScoreRows<'t> {
    fn new(qk: &'t Tensor, steps: usize) -> Result<Self> {
        let shape = qk.get_shape().ov(|| "qk shape".into())?;
        let dims = shape.get_dimensions();
        if dims.len() != 4 {
            return Err(Error::Runtime(format!(
                "{ALIGNMENT_OUTPUT} has shape {dims:?}, not [batch, heads, tokens, frames]"
            )));
        }
        let (heads, rows, frames) = (dims[1] as usize, dims[2] as usize, dims[3] as usize);
        Ok(Self {
            data: qk.get_data::<f32>().ov(|| "qk".into())?,
            heads,
            rows,
            frames,
            skipped: steps.saturating_sub(rows),
        })
    }

    fn row(&self, b: usize, head: usize, step: usize) -> Result<&'t [f32]> {
        let r = step
            .checked_sub(self.skipped)
            .filter(|&r| r < self.rows && head < self.heads)
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "{ALIGNMENT_OUTPUT} has no scores for step {step} of head {head}"
                ))
            })?;
        let at = ((b * self.heads + head) * self.rows + r) * self.frames;
        Ok(&self.data[at..at + self.frames])
    }
}
