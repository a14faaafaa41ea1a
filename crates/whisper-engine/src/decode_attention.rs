//! The alignment heads' cross-attention, kept while a window is decoded, for word timing.
//!
//! Every decoder call that yields the logits a token is chosen from also yields the alignment
//! heads' scores of the query that chose it (the IR's `cross_attention_qk`, the call's last
//! row). Kept for each chosen token, with the token's probability under softmax over the text
//! vocabulary, they are what the forced-alignment pass (`alignment.rs`) would compute by running
//! the text through the decoder once more: the query that predicts text token k, and the one
//! after the last text token. The difference is the context: the decode's queries also saw the
//! timestamp tokens and the earlier text of the prompt. whisper-timestamped takes its word
//! times from the decode's attention the same way; here it saves the pass (tiny.en: ~40 ms of a
//! window's ~600 ms, more on a batch's windows, whose pass needed a request of its own).

/// Scores and probabilities of the chosen tokens of one decoding attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DecodeAttention {
    heads: usize,
    frames: usize,
    /// `[chosen token][head][frame]`: the scores of the query that chose each token.
    rows: Vec<f32>,
    /// Probability of each chosen token under softmax over the text logits (0 for others).
    probs: Vec<f32>,
}

/// What the word timing of a window needs from the decode: the alignment heads' scores as
/// `[head][row][frame]` (row k: the query choosing text token k; the last row: the query
/// after the last text token) and each text token's probability.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextAttention {
    pub qk: Vec<f32>,
    pub rows: usize,
    pub probs: Vec<f32>,
}

impl DecodeAttention {
    pub fn new(heads: usize, frames: usize) -> Self {
        Self {
            heads,
            frames,
            ..Self::default()
        }
    }

    pub fn heads(&self) -> usize {
        self.heads
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The scores (`heads * frames`, head by head) of the query that chose the next token.
    pub fn push_scores(&mut self, scores: &[f32]) {
        debug_assert_eq!(scores.len(), self.heads * self.frames);
        self.rows.extend_from_slice(scores);
    }

    /// The chosen token's probability (after its scores).
    pub fn push_prob(&mut self, p: f32) {
        self.probs.push(p);
    }

    /// The rows of the first `n_text` text tokens among `tokens` (the decoded tokens, in order:
    /// a window's segments hold a prefix of them) and the row after the last of them. `None`
    /// when that row was never computed (the decode stopped at its token budget) or the rows are
    /// incomplete: the caller then runs the forced pass.
    pub fn for_text(&self, tokens: &[u32], eot: u32, n_text: usize) -> Option<TextAttention> {
        let picked: Vec<usize> = tokens
            .iter()
            .enumerate()
            .filter(|(_, &t)| t < eot)
            .map(|(i, _)| i)
            .take(n_text)
            .collect();
        if picked.len() != n_text || n_text == 0 {
            return None;
        }
        let after_last = picked[n_text - 1] + 1;
        let stored = self.rows.len() / (self.heads * self.frames).max(1);
        if after_last >= stored.min(self.probs.len()) || self.heads == 0 {
            return None;
        }
        let order: Vec<usize> = picked.iter().copied().chain([after_last]).collect();
        Some(TextAttention {
            qk: self.by_head(&order),
            rows: order.len(),
            probs: picked.iter().map(|&i| self.probs[i]).collect(),
        })
    }

    /// `[head][row][frame]` for the given token rows.
    fn by_head(&self, order: &[usize]) -> Vec<f32> {
        let (h, f) = (self.heads, self.frames);
        let mut out = Vec::with_capacity(h * order.len() * f);
        for head in 0..h {
            for &row in order {
                let at = (row * h + head) * f;
                out.extend_from_slice(&self.rows[at..at + f]);
            }
        }
        out
    }
}

/// Encoder frames word timing looks at in a window of `mel_frames` (10 ms) frames of audio:
/// the encoder halves the time resolution (1500 frames for 30 s).
pub(crate) fn encoder_frames(mel_frames: usize) -> usize {
    (mel_frames / 2).max(1)
}

/// Probability of `token` under softmax over the text logits `raw[..eot]` (the forced pass's
/// word probability: CTranslate2's and openai-whisper's), 0 for a token outside them.
pub(crate) fn text_prob(raw_max: f32, raw_sum: f32, raw_logit: f32, token: u32, eot: u32) -> f32 {
    if token >= eot || raw_sum <= 0.0 {
        return 0.0;
    }
    (raw_logit - raw_max).exp() / raw_sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two heads, three frames; token i's scores are [10i + head, ...].
    fn recorded(tokens: usize) -> DecodeAttention {
        let mut a = DecodeAttention::new(2, 3);
        for i in 0..tokens {
            let mut s = Vec::new();
            for head in 0..2 {
                s.extend((0..3).map(|f| (10 * i + head) as f32 + f as f32 / 10.0));
            }
            a.push_scores(&s);
            a.push_prob(i as f32 / 10.0);
        }
        a
    }

    #[test]
    fn text_rows_skip_timestamps_and_end_after_the_last_text_token() {
        // eot 50; tokens: <ts 60> 1 2 <ts 70><ts 70> 3 <ts 80>, then eot chosen (8 rows).
        let tokens = [60, 1, 2, 70, 70, 3, 80];
        let a = recorded(8);
        let t = a.for_text(&tokens, 50, 3).expect("rows");
        assert_eq!(t.rows, 4);
        assert_eq!(t.probs, vec![0.1, 0.2, 0.5]);
        // head 0: rows of tokens 1, 2, 5 and the one after token 5 (6).
        let firsts: Vec<f32> = t.qk.chunks(3).map(|r| r[0]).collect();
        assert_eq!(firsts, vec![10.0, 20.0, 50.0, 60.0, 11.0, 21.0, 51.0, 61.0]);
    }

    #[test]
    fn a_prefix_of_the_text_ends_on_the_row_after_its_last_token() {
        let tokens = [60, 1, 2, 70, 70, 3, 80];
        let t = recorded(8).for_text(&tokens, 50, 2).expect("rows");
        let firsts: Vec<f32> = t.qk.chunks(3).map(|r| r[0]).collect();
        assert_eq!(firsts, vec![10.0, 20.0, 30.0, 11.0, 21.0, 31.0]);
    }

    #[test]
    fn without_the_row_after_the_last_token_the_forced_pass_is_needed() {
        // The budget ended the decode right after token 3: no call after it.
        let tokens = [60, 1, 2, 3];
        assert!(recorded(4).for_text(&tokens, 50, 3).is_none());
        assert!(recorded(5).for_text(&tokens, 50, 3).is_some());
        assert!(recorded(5).for_text(&tokens, 50, 4).is_none());
        assert!(recorded(5).for_text(&tokens, 50, 0).is_none());
    }

    #[test]
    fn text_probability_is_over_the_text_logits_only() {
        let raw = [1.0f32, 2.0, 0.5];
        let max = 2.0;
        let sum: f32 = raw.iter().map(|x| (x - max).exp()).sum();
        let p = text_prob(max, sum, raw[1], 1, 3);
        assert!((p - 1.0 / sum).abs() < 1e-6);
        assert_eq!(text_prob(max, sum, 9.0, 3, 3), 0.0);
    }
}
