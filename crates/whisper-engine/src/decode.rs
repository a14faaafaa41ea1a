//! Greedy / sampled decoding of one 30 s window with Whisper's logit rules, as faster-whisper
//! (CTranslate2) applies them: suppressed tokens, blank suppression at the first step, the
//! timestamp rules, no-speech probability at the `<|startoftranscript|>` position.

use crate::decode_attention::{self, DecodeAttention};
use crate::error::Result;
use crate::softmax::{self, log_sum_exp};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

/// One forward pass of the decoder over `tokens` (positions continue from the previous call).
/// Writes the logits of the requested rows (indices into `tokens`) into `out`.
pub(crate) trait Session {
    fn forward(&mut self, tokens: &[u32], rows: &[usize], out: &mut [Vec<f32>]) -> Result<()>;

    /// Append the alignment heads' scores over the first `frames` encoder frames of the last
    /// call's last query (`heads * frames`, head by head) to `out`; false when the decoder has
    /// no alignment output (then nothing is appended).
    fn last_scores(&mut self, _frames: usize, _out: &mut DecodeAttention) -> Result<bool> {
        Ok(false)
    }
}

/// The logit rules for one window.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// Sorted, deduplicated ids disabled at every step.
    pub suppress: Vec<u32>,
    /// Ids disabled at the first step when `suppress_blank`.
    pub begin_suppress: Vec<u32>,
    pub suppress_blank: bool,
    /// Timestamp rules on (the prompt does not end with `<|notimestamps|>`).
    pub timestamps: bool,
    pub eot: u32,
    pub no_timestamps: u32,
    pub ts_begin: u32,
    /// Largest timestamp id allowed at the first step.
    pub max_initial_ts: u32,
}

const NEG_INF: f32 = f32::NEG_INFINITY;

fn disable_range(logits: &mut [f32], from: usize, to: usize) {
    let to = to.min(logits.len());
    if from < to {
        logits[from..to].fill(NEG_INF);
    }
}

impl Rules {
    /// Apply the rules to the raw logits of the next token; `generated` are the tokens sampled
    /// so far in this window (step = `generated.len()`).
    pub fn apply(&self, logits: &mut [f32], generated: &[u32]) {
        let vocab = logits.len();
        for &t in &self.suppress {
            if (t as usize) < vocab {
                logits[t as usize] = NEG_INF;
            }
        }
        let step = generated.len();
        if step == 0 && self.suppress_blank {
            for &t in &self.begin_suppress {
                if (t as usize) < vocab {
                    logits[t as usize] = NEG_INF;
                }
            }
        }
        if !self.timestamps {
            return;
        }
        let tb = self.ts_begin as usize;
        if (self.no_timestamps as usize) < vocab {
            logits[self.no_timestamps as usize] = NEG_INF;
        }
        if step == 0 {
            // Begin with a timestamp, no later than max_initial_timestamp.
            disable_range(logits, 0, tb);
            disable_range(logits, self.max_initial_ts as usize + 1, vocab);
            return;
        }
        let mut check = false;
        let last = generated[step - 1];
        if last >= self.ts_begin {
            let penult = if step >= 2 { generated[step - 2] } else { last };
            if penult >= self.ts_begin {
                // A pair is complete: the next token must be text.
                disable_range(logits, tb, vocab);
            } else {
                // An open pair: close it (timestamp) or end (EOT), no text.
                disable_range(logits, 0, self.eot as usize);
                check = true;
            }
        } else {
            check = true;
        }
        // Timestamps do not decrease.
        if let Some(&ts) = generated.iter().rev().find(|&&t| t >= self.ts_begin) {
            disable_range(logits, tb, ts as usize);
        }
        if check {
            // Whisper's rule: timestamps when their total log-probability beats the likeliest
            // text token's. Both sides share the softmax's normaliser, so the logits compare
            // directly: one pass over the vocabulary fewer per token (0.18 ms of ~4 on tiny).
            let ts_mass = log_sum_exp(&logits[tb.min(vocab)..]);
            let max_text = softmax::max(&logits[..tb.min(vocab)]);
            if ts_mass > max_text {
                disable_range(logits, 0, tb);
            }
        }
    }
}

/// Pick the next token. Returns (token, its log-probability under the processed logits).
pub(crate) fn select(logits: &[f32], temperature: f32, rng: &mut ChaCha8Rng) -> (u32, f32) {
    let (max, lse) = softmax::max_and_log_sum_exp(logits);
    if temperature <= 0.0 {
        // The first of the likeliest (as a scan keeping the first strict maximum).
        let best = logits.iter().position(|&v| v == max).unwrap_or(0);
        return (best as u32, logits[best] - lse);
    }
    // Sample from softmax(logits / T), deterministic given the RNG.
    let inv_t = 1.0 / temperature as f64;
    let mut total = 0f64;
    for &v in logits {
        if v != NEG_INF {
            total += (((v - max) as f64) * inv_t).exp();
        }
    }
    // 53 random bits -> [0, 1).
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let target = u * total;
    let mut acc = 0f64;
    let mut last_ok = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        if v == NEG_INF {
            continue;
        }
        last_ok = i;
        acc += (((v - max) as f64) * inv_t).exp();
        if acc > target {
            return (i as u32, v - lse);
        }
    }
    (last_ok as u32, logits[last_ok] - lse)
}

/// Probability of `<|nospeech|>` in the logits at the `<|startoftranscript|>` position.
pub(crate) fn no_speech_prob(sot_row: &[f32], no_speech: Option<u32>) -> f32 {
    match no_speech {
        Some(ns) if (ns as usize) < sot_row.len() => {
            let lse = log_sum_exp(sot_row);
            (sot_row[ns as usize] - lse).exp()
        }
        _ => 0.0,
    }
}

/// Result of decoding one window at one temperature.
#[derive(Debug, Clone)]
pub(crate) struct WindowResult {
    /// Sampled tokens without the final EOT.
    pub tokens: Vec<u32>,
    /// Sum of log-probabilities of the sampled tokens, EOT included.
    pub sum_logprob: f32,
    pub no_speech_prob: f32,
    /// The alignment heads' scores of every choice, when asked for and the decoder has them.
    pub attention: Option<DecodeAttention>,
}

impl WindowResult {
    /// faster-whisper's average: sum / (len + 1).
    pub fn avg_logprob(&self) -> f32 {
        self.sum_logprob / (self.tokens.len() as f32 + 1.0)
    }
}

/// Seed of the sampler for a window: depends only on (seed, seek, temperature index).
pub(crate) fn window_rng(seed: u64, seek_samples: u64, attempt: usize) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&seek_samples.to_le_bytes());
    key[16..24].copy_from_slice(&(attempt as u64).to_le_bytes());
    key[24..32].copy_from_slice(b"arcwhspr");
    ChaCha8Rng::from_seed(key)
}

/// Counters for the CLI's timing statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecodeCounters {
    pub tokens: u64,
    pub forward_calls: u64,
    /// Prompt tokens run through the decoder (every row of a batch counted).
    pub prompt_tokens: u64,
    /// Time in the prompt calls: on a window's fresh request they also compute its
    /// cross-attention K/V (the part of a window's cost that does not grow with its text).
    pub prompt_seconds: f64,
}

impl DecodeCounters {
    /// A prompt call over `tokens` tokens that took `took`.
    pub(crate) fn prompt_call(&mut self, tokens: usize, took: Duration) {
        self.forward_calls += 1;
        self.prompt_tokens += tokens as u64;
        self.prompt_seconds += took.as_secs_f64();
    }
}

/// Decode one window: prefill the prompt, then one token per step.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_window<S: Session>(
    session: &mut S,
    prompt: &[u32],
    sot_index: usize,
    no_speech: Option<u32>,
    rules: &Rules,
    temperature: f32,
    max_new: usize,
    rng: &mut ChaCha8Rng,
    counters: &mut DecodeCounters,
    mut attention: Option<DecodeAttention>,
) -> Result<WindowResult> {
    let last = prompt.len() - 1;
    let mut rows = vec![Vec::new(), Vec::new()];
    let wanted: &[usize] = if sot_index == last {
        &[last]
    } else {
        &[last, sot_index]
    };
    let started = Instant::now();
    session.forward(prompt, wanted, &mut rows)?;
    counters.prompt_call(prompt.len(), started.elapsed());
    keep_scores(session, &mut attention)?;
    let sot_row = if sot_index == last {
        &rows[0]
    } else {
        &rows[1]
    };
    let no_speech_prob = no_speech_prob(sot_row, no_speech);
    let mut logits = std::mem::take(&mut rows[0]);
    let mut generated: Vec<u32> = Vec::new();
    let mut sum_logprob = 0f32;
    let mut one = vec![Vec::new()];
    for step in 0..max_new {
        let text_norm = attention
            .as_ref()
            .map(|_| text_softmax_norm(&logits, rules.eot));
        rules.apply(&mut logits, &generated);
        let (tok, lp) = select(&logits, temperature, rng);
        if let (Some(a), Some((max, sum))) = (attention.as_mut(), text_norm) {
            let raw = logits[tok as usize]; // a chosen logit is never one the rules disabled
            a.push_prob(decode_attention::text_prob(max, sum, raw, tok, rules.eot));
        }
        sum_logprob += lp;
        counters.tokens += 1;
        if tok == rules.eot {
            break;
        }
        generated.push(tok);
        if step + 1 == max_new {
            break;
        }
        session.forward(&[tok], &[0], &mut one)?;
        counters.forward_calls += 1;
        keep_scores(session, &mut attention)?;
        std::mem::swap(&mut logits, &mut one[0]);
    }
    Ok(WindowResult {
        tokens: generated,
        sum_logprob,
        no_speech_prob,
        attention,
    })
}

/// Keep the last call's alignment scores; without them (no alignment output) stop asking.
fn keep_scores<S: Session>(session: &mut S, attention: &mut Option<DecodeAttention>) -> Result<()> {
    if let Some(a) = attention {
        if !session.last_scores(a.frames(), a)? {
            *attention = None;
        }
    }
    Ok(())
}

/// Max and sum of exp(x - max) over the text logits `raw[..eot]` (before the rules).
pub(crate) fn text_softmax_norm(raw: &[f32], eot: u32) -> (f32, f32) {
    let text = &raw[..(eot as usize).min(raw.len())];
    let max = softmax::max(text);
    (max, softmax::sum_exp(text, max))
}

/// zlib compression ratio of the text (bytes / compressed bytes), as faster-whisper.
pub(crate) fn compression_ratio(text: &str) -> f32 {
    use flate2::write::ZlibEncoder;
    use flate2::Compression;
    use std::io::Write;
    let bytes = text.as_bytes();
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    let _ = enc.write_all(bytes);
    let compressed = enc.finish().unwrap_or_default();
    if compressed.is_empty() {
        return 0.0;
    }
    bytes.len() as f32 / compressed.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        // Toy vocabulary: text 0..10, eot 10, notimestamps 11, timestamps 12..20.
        Rules {
            suppress: vec![3],
            begin_suppress: vec![1, 10],
            suppress_blank: true,
            timestamps: true,
            eot: 10,
            no_timestamps: 11,
            ts_begin: 12,
            max_initial_ts: 14,
        }
    }

    #[test]
    fn first_step_forces_early_timestamp() {
        let r = rules();
        let mut l = vec![0.0f32; 20];
        l[5] = 10.0;
        l[19] = 9.0;
        r.apply(&mut l, &[]);
        for (i, v) in l.iter().enumerate() {
            if (12..=14).contains(&i) {
                assert!(v.is_finite(), "{i}");
            } else {
                assert_eq!(*v, f32::NEG_INFINITY, "{i}");
            }
        }
    }

    #[test]
    fn pairs_and_monotonic() {
        let r = rules();
        // After <ts 13>, text: open pair? generated = [13] -> penult = last -> pair complete.
        let mut l = vec![0.0f32; 20];
        r.apply(&mut l, &[13]);
        assert!(l[12..].iter().all(|v| *v == f32::NEG_INFINITY));
        assert!(l[5].is_finite());
        assert_eq!(l[3], f32::NEG_INFINITY);
        // [13, 5, 15]: open pair -> no text, timestamps >= 15 or EOT.
        let mut l = vec![0.0f32; 20];
        l[10] = 5.0; // EOT likelier than all timestamps together
        r.apply(&mut l, &[13, 5, 15]);
        assert!(l[..10].iter().all(|v| *v == f32::NEG_INFINITY));
        assert!(l[10].is_finite());
        assert!(l[12..15].iter().all(|v| *v == f32::NEG_INFINITY));
        assert!(l[15..].iter().all(|v| v.is_finite()));
        // [13, 5]: text follows; timestamps below 13 forbidden.
        let mut l = vec![0.0f32; 20];
        l[5] = 5.0;
        r.apply(&mut l, &[13, 5]);
        assert_eq!(l[12], f32::NEG_INFINITY);
        assert!(l[13].is_finite());
        assert!(l[5].is_finite());
    }

    #[test]
    fn timestamp_mass_forces_timestamp() {
        let r = rules();
        let mut l = vec![0.0f32; 20];
        l[5] = 2.0;
        for v in &mut l[13..20] {
            *v = 1.5; // 7 * e^1.5 > e^2
        }
        r.apply(&mut l, &[13, 5]);
        assert!(l[..12].iter().all(|v| *v == f32::NEG_INFINITY));
    }

    struct Fake {
        script: Vec<u32>,
        pos: usize,
    }
    impl Session for Fake {
        fn forward(&mut self, tokens: &[u32], rows: &[usize], out: &mut [Vec<f32>]) -> Result<()> {
            self.pos += tokens.len();
            for (k, _) in rows.iter().enumerate() {
                let mut v = vec![0.0f32; 20];
                let i = self.pos.saturating_sub(2).min(self.script.len() - 1);
                v[self.script[i] as usize] = 20.0;
                out[k] = v;
            }
            Ok(())
        }
    }

    #[test]
    fn greedy_loop_stops_at_eot() {
        let r = rules();
        let mut s = Fake {
            script: vec![12, 5, 6, 14, 10],
            pos: 0,
        };
        let mut rng = window_rng(0, 0, 0);
        let mut c = DecodeCounters::default();
        let res = decode_window(
            &mut s,
            &[0, 1],
            1,
            None,
            &r,
            0.0,
            50,
            &mut rng,
            &mut c,
            None,
        )
        .unwrap();
        assert_eq!(res.tokens, vec![12, 5, 6, 14]);
        assert!(res.avg_logprob() <= 0.0);
    }

    #[test]
    fn sampling_is_deterministic() {
        let l: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let a: Vec<u32> = {
            let mut rng = window_rng(7, 480_000, 1);
            (0..20).map(|_| select(&l, 1.0, &mut rng).0).collect()
        };
        let b: Vec<u32> = {
            let mut rng = window_rng(7, 480_000, 1);
            (0..20).map(|_| select(&l, 1.0, &mut rng).0).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != a[0]));
    }

    #[test]
    fn compression_ratio_of_repetition_is_high() {
        let rep = "the same words again ".repeat(20);
        assert!(compression_ratio(&rep) > 2.4);
        assert!(compression_ratio("And so my fellow Americans, ask not.") < 2.4);
    }
}
