//! Batched decoding: several closed speech windows of one stream decoded in lockstep.
//!
//! Whisper's decoder is memory-bound (every token reads every weight), so one pass over the
//! weights that serves B windows costs little more than one serving a single window. Each
//! window is encoded, then all windows' first attempts (temperature `temperatures[0]`) run
//! through one stateful decoder request of batch B: the same prompt for every row (the initial
//! prompt, if any; as faster-whisper's batched pipeline, no window is conditioned on an earlier
//! window's text, which keeps every row's prefill to a few tokens), so the rows stay at the
//! same positions; a finished row is fed `<|endoftext|>` and its logits ignored until the longest
//! row ends (the IR keeps cross-attention K/V per row in state, which `beam_idx` does not
//! reorder, so rows cannot be dropped). Everything after the first attempt is the unbatched
//! path, per window and alone ([`Prepared`]): temperature fallback, the no-speech rule,
//! segments, word timing, the hallucination rules, and the rest of a window whose decode
//! stopped before its end.

use crate::decode::{self, DecodeCounters, WindowResult};
use crate::decode_attention::{self, DecodeAttention};
use crate::error::Result;
use crate::ov::{self, BatchSession};
use crate::repeat_guard;
use crate::stream::{self, Prepared, Stream as LongFormStream, WindowPlan};
use crate::token_budget;
use crate::{DecodeOptions, Segment, StreamState, WhisperModel};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Most decoder rows (batch x steps) of one prefill call: the prompt goes through in chunks so
/// that a batch needs no more activation and logits memory than one window's prompt.
const PREFILL_ROWS: usize = 256;

/// One window of a batch: its audio (at most 30 s) and its sampler seed.
pub(crate) struct BatchWindow {
    pub audio: Vec<f32>,
    pub seed: u64,
}

/// Decode `windows` (each on its own timeline, from 0 s) as one batch, every window
/// conditioned on `prompt` (the initial prompt, never an earlier window's text). Returns each
/// window's segments; `language` is detected on the first window if unset.
pub(crate) fn decode_windows(
    model: &mut WhisperModel,
    opts: &DecodeOptions,
    windows: &[BatchWindow],
    prompt: &[u32],
    language: &mut Option<String>,
) -> Result<Vec<Vec<Segment>>> {
    let prepared = first_attempts(model, opts, windows, prompt, language)?;
    let prompt_text = model.decode_text(prompt)?;
    let mut out = Vec::with_capacity(windows.len());
    for (w, prep) in windows.iter().zip(prepared) {
        let resume = StreamState {
            seek_samples: 0,
            prompt_tokens: prompt.to_vec(),
            language: language.clone(),
            last_speech_seconds: 0.0,
            vad: None,
        };
        let o = DecodeOptions {
            seed: w.seed,
            ..opts.clone()
        };
        let mut s = LongFormStream::new(model, o, Some(resume)).speech_window();
        if let Some(p) = prep {
            s.prepare(p);
        }
        let mut segments = s.push(&w.audio)?;
        segments.extend(s.finish()?);
        // As unbatched: a window's first segments that copy its prompt are dropped.
        let copies = repeat_guard::leading_copies(&prompt_text, segments.iter().map(|s| &*s.text));
        segments.drain(..copies);
        *language = s.state().language;
        out.push(segments);
    }
    Ok(out)
}

/// Encoder outputs of the windows (none for silent ones, which the stream skips) and their
/// first attempts, decoded together. `language` is detected on the first window if unset.
fn first_attempts(
    model: &mut WhisperModel,
    opts: &DecodeOptions,
    windows: &[BatchWindow],
    prompt: &[u32],
    language: &mut Option<String>,
) -> Result<Vec<Option<Prepared>>> {
    if !model.ov.supports_batch() {
        return Ok(windows.iter().map(|_| None).collect());
    }
    let mut encs = Vec::with_capacity(windows.len());
    for w in windows {
        encs.push(if stream::is_silent(&w.audio) {
            None
        } else {
            Some(encode(model, &w.audio)?)
        });
    }
    let live: Vec<usize> = (0..windows.len()).filter(|&i| encs[i].is_some()).collect();
    if live.is_empty() {
        return Ok(encs.into_iter().map(|_| None).collect());
    }
    if model.special.multilingual && language.is_none() {
        let t = Instant::now();
        let first = encs[live[0]].as_ref().expect("live");
        let mut decoder = model.window_decoder(first);
        *language = Some(stream::detect_language(model, &mut decoder)?);
        model.stats.decoder_requests += decoder.take_request_count();
        model.add_time(2, t.elapsed());
    }
    let suppress = stream::expand_suppress(model, &opts.suppress_tokens);
    let plan = stream::plan_window(model, opts, &suppress, prompt, language.as_deref())?;
    let temperature = opts.temperatures.first().copied().unwrap_or(0.0);
    let mut rngs: Vec<ChaCha8Rng> = live
        .iter()
        .map(|&i| decode::window_rng(windows[i].seed, 0, 0))
        .collect();
    let t = Instant::now();
    let parts: Vec<&openvino::Tensor> = live
        .iter()
        .map(|&i| encs[i].as_ref().expect("live"))
        .collect();
    let mut counters = DecodeCounters::default();
    let results = {
        let mut session = model.ov.batch_session(&parts)?;
        let no_speech = model.special.no_speech;
        let budgets: Vec<usize> = live
            .iter()
            .map(|&i| token_budget::max_new_tokens(plan.max_new, windows[i].audio.len()))
            .collect();
        let heads = model.decode_alignment_heads(opts);
        let attention: Option<Vec<DecodeAttention>> = (heads > 0).then(|| {
            live.iter()
                .map(|&i| DecodeAttention::new(heads, attention_frames(&windows[i].audio)))
                .collect()
        });
        decode_lockstep(
            &mut session,
            &plan,
            &budgets,
            no_speech,
            temperature,
            &mut rngs,
            &mut counters,
            attention,
        )?
    };
    model.add_time(2, t.elapsed());
    model.stats.add_decoding(&counters);
    model.stats.decoder_requests += 1;
    let mut results = results.into_iter();
    Ok(encs
        .into_iter()
        .map(|e| {
            e.map(|enc| Prepared {
                enc,
                first_attempt: results.next(),
            })
        })
        .collect())
}

/// Encoder frames of a window's audio that word timing looks at (as the stream's window over
/// the same audio).
fn attention_frames(audio: &[f32]) -> usize {
    let content = audio.len().min(crate::mel::N_SAMPLES);
    decode_attention::encoder_frames((content / crate::mel::HOP).min(crate::mel::N_FRAMES))
}

/// Log-mel and encoder output of one window (an owned copy: the encoder request reuses its
/// output buffer).
fn encode(model: &mut WhisperModel, audio: &[f32]) -> Result<openvino::Tensor> {
    let t0 = Instant::now();
    let content = audio.len().min(crate::mel::N_SAMPLES);
    let mel = model.mel.window(&audio[..content]);
    model.add_time(0, t0.elapsed());
    let t1 = Instant::now();
    let enc = model.ov.encode(&mel)?;
    let owned = ov::owned_copy(&enc)?;
    model.add_time(1, t1.elapsed());
    model.stats.windows += 1;
    Ok(owned)
}

/// All rows' first attempts: the shared prompt, then one token per row per step, by the
/// unbatched loop's rules (`decode::decode_window`), until every row has ended; row `r` samples
/// at most `budgets[r]` tokens, as its window would alone (`token_budget.rs`).
#[allow(clippy::too_many_arguments)]
fn decode_lockstep(
    session: &mut BatchSession,
    plan: &WindowPlan,
    budgets: &[usize],
    no_speech: Option<u32>,
    temperature: f32,
    rngs: &mut [ChaCha8Rng],
    counters: &mut DecodeCounters,
    mut attention: Option<Vec<DecodeAttention>>,
) -> Result<Vec<WindowResult>> {
    let b = rngs.len();
    let (sot_rows, mut logits) = prefill(session, plan, b, counters)?;
    keep_scores(session, &mut attention, &vec![false; b])?;
    let eot = plan.rules.eot;
    let mut results: Vec<WindowResult> = sot_rows
        .iter()
        .map(|row| WindowResult {
            tokens: Vec::new(),
            sum_logprob: 0.0,
            no_speech_prob: decode::no_speech_prob(row, no_speech),
            attention: None,
        })
        .collect();
    let mut done = vec![false; b];
    let mut next = vec![eot; b];
    let longest = budgets.iter().copied().max().unwrap_or(0);
    for step in 0..longest {
        for r in 0..b {
            next[r] = eot;
            if done[r] {
                continue;
            }
            let text_norm = attention
                .as_ref()
                .map(|_| decode::text_softmax_norm(&logits[r], eot));
            plan.rules.apply(&mut logits[r], &results[r].tokens);
            let (tok, lp) = decode::select(&logits[r], temperature, &mut rngs[r]);
            if let (Some(a), Some((max, sum))) = (attention.as_mut(), text_norm) {
                let p = decode_attention::text_prob(max, sum, logits[r][tok as usize], tok, eot);
                a[r].push_prob(p);
            }
            results[r].sum_logprob += lp;
            counters.tokens += 1;
            if tok == eot {
                done[r] = true;
            } else {
                results[r].tokens.push(tok);
                next[r] = tok;
                done[r] = step + 1 == budgets[r];
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        session.forward(&next, 1)?;
        counters.forward_calls += 1;
        keep_scores(session, &mut attention, &done)?;
        session.logits_at(0, &mut logits)?;
    }
    if let Some(attention) = attention {
        for (res, a) in results.iter_mut().zip(attention) {
            res.attention = Some(a);
        }
    }
    Ok(results)
}

/// Keep the alignment scores of the last call for the rows still decoding (a finished row is
/// fed <|endoftext|> until the batch ends); without them stop asking.
fn keep_scores(
    session: &BatchSession,
    attention: &mut Option<Vec<DecodeAttention>>,
    done: &[bool],
) -> Result<()> {
    if let Some(a) = attention {
        if !session.last_scores(a, done)? {
            *attention = None;
        }
    }
    Ok(())
}

/// One logits vector per row of the batch.
type Rows = Vec<Vec<f32>>;

/// The prompt (the same for every row) in chunks; returns each row's logits at the
/// `<|startoftranscript|>` position and at the prompt's last position.
fn prefill(
    session: &mut BatchSession,
    plan: &WindowPlan,
    b: usize,
    counters: &mut DecodeCounters,
) -> Result<(Rows, Rows)> {
    let chunk = (PREFILL_ROWS / b).max(1);
    let last = plan.prompt.len() - 1;
    let mut sot_rows = vec![Vec::new(); b];
    let mut last_rows = vec![Vec::new(); b];
    for (ci, part) in plan.prompt.chunks(chunk).enumerate() {
        let start = ci * chunk;
        let tokens: Vec<u32> = (0..b).flat_map(|_| part.iter().copied()).collect();
        let started = Instant::now();
        session.forward(&tokens, part.len())?;
        counters.prompt_call(tokens.len(), started.elapsed());
        let within = start..start + part.len();
        if within.contains(&plan.sot_index) {
            session.logits_at(plan.sot_index - start, &mut sot_rows)?;
        }
        if within.contains(&last) {
            session.logits_at(last - start, &mut last_rows)?;
        }
    }
    Ok((sot_rows, last_rows))
}
