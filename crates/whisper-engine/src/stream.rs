//! Long-form transcription over 30 s windows, fed incrementally.
//!
//! The seeking follows faster-whisper's `generate_segments`: a window's tokens are split into
//! segments at consecutive timestamp pairs; when the window ends with a single timestamp (no
//! speech after it) the seek advances by the whole window, otherwise to the last timestamp.
//! A window is decoded by `push` only when 30 s of audio beyond the seek point are buffered, so
//! the result does not depend on how the audio was chunked.

use crate::alignment::{self, WindowInput};
use crate::decode::{self, DecodeCounters, Rules, WindowResult};
use crate::decode_attention::{self, DecodeAttention};
use crate::error::{Error, Result};
use crate::hallucination::{self, WindowView};
use crate::mel::{HOP, N_FRAMES, N_SAMPLES};
use crate::ov::WindowDecoder;
use crate::token_budget;
use crate::{DecodeOptions, Segment, StreamState, Task, WhisperModel};
use std::time::Instant;

/// Frames per timestamp step (0.02 s = 2 mel frames).
const INPUT_STRIDE: u64 = 2;
const TIME_PRECISION: f64 = 0.02;
const TIME_PER_FRAME: f64 = HOP as f64 / 16000.0;
const MAX_PROMPT_PREV: usize = 223;
/// A window whose audio never exceeds this peak (-60 dBFS) is silence: skipped without decoding.
/// Whisper (and faster-whisper) hallucinate " you" on digital silence with a high average
/// log-probability, which the no-speech rule does not catch.
pub const SILENCE_PEAK: f32 = 1e-3;

/// A streaming transcription bound to a model. See [`WhisperModel::stream`].
pub struct Stream<'m> {
    model: &'m mut WhisperModel,
    opts: DecodeOptions,
    /// Audio from `seek` on.
    buf: Vec<f32>,
    /// Absolute seek in mel frames (10 ms).
    seek_frames: u64,
    /// `all_tokens[prompt_reset_since..]`, trimmed to what a prompt can use.
    prompt_tokens: Vec<u32>,
    language: Option<String>,
    suppress: Vec<u32>,
    error: Option<String>,
    /// End of the last word emitted (word timestamps), seconds.
    last_speech: f64,
    /// `finish` is decoding: the end of the stream lies in the current window.
    finishing: bool,
    /// The first window's encoder output and first attempt, computed by batched decoding.
    prepared: Option<Prepared>,
    /// The audio is one speech window (`speech_stream.rs`): it ends in silence, so a decode
    /// without timestamp tokens has consumed it whole (see [`Self::speech_window`]).
    speech_window: bool,
}

/// A window's encoder output and its first decoding attempt (temperature `temperatures[0]`),
/// computed outside the stream (batched decoding, `batch.rs`); the stream goes on from there:
/// fallback, no-speech rule, segments, word timing, hallucination rules, seeking.
pub(crate) struct Prepared {
    pub enc: openvino::Tensor,
    /// `None`: the stream decodes the first attempt itself.
    pub first_attempt: Option<WindowResult>,
}

/// A window's prompt and logit rules: what every attempt at it shares.
pub(crate) struct WindowPlan {
    /// `[<|startofprev|> prev...] <|startoftranscript|> [lang task] [<|notimestamps|>]`
    pub prompt: Vec<u32>,
    pub sot_index: usize,
    pub rules: Rules,
    /// Most tokens one attempt may sample.
    pub max_new: usize,
}

impl std::fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("seek_frames", &self.seek_frames)
            .field("buffered", &self.buf.len())
            .field("language", &self.language)
            .finish()
    }
}

impl<'m> Stream<'m> {
    pub(crate) fn new(
        model: &'m mut WhisperModel,
        opts: DecodeOptions,
        resume: Option<StreamState>,
    ) -> Self {
        let mut error = None;
        let last_speech = resume.as_ref().map_or(0.0, |st| st.last_speech_seconds);
        let (seek_frames, prompt_tokens, mut language) = match resume {
            Some(st) => {
                if st.seek_samples % HOP as u64 != 0 {
                    error = Some(format!(
                        "resume state seek_samples={} is not a multiple of {HOP}",
                        st.seek_samples
                    ));
                }
                let lang = st.language.or_else(|| opts.language.clone());
                (st.seek_samples / HOP as u64, st.prompt_tokens, lang)
            }
            None => {
                let mut toks = Vec::new();
                if let Some(p) = &opts.initial_prompt {
                    match model.encode_text(&format!(" {}", p.trim())) {
                        Ok(t) => toks = t,
                        Err(e) => error = Some(e.to_string()),
                    }
                }
                (0, toks, opts.language.clone())
            }
        };
        if !model.special.multilingual {
            language = Some("en".into());
        } else if let Some(l) = &language {
            if !model.special.languages.contains_key(l) {
                error = Some(format!(
                    "unknown language '{l}' (known: {})",
                    model
                        .special
                        .languages
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let suppress = expand_suppress(model, &opts.suppress_tokens);
        let mut prompt_tokens = prompt_tokens;
        trim_prompt(&mut prompt_tokens);
        Self {
            model,
            opts,
            buf: Vec::new(),
            seek_frames,
            prompt_tokens,
            language,
            suppress,
            error,
            last_speech,
            finishing: false,
            prepared: None,
            speech_window: false,
        }
    }

    /// The audio is one speech window: whole detected regions laid end to end, each ending in
    /// silence. A decode without timestamp tokens then has transcribed it to its end (as
    /// faster-whisper's batched pipeline takes a chunk's text), so the next window does not
    /// start after its last word (openai-whisper's rule for a 30 s cut of running speech, which
    /// decoded every such window's end again); speech it skipped is found by `coverage.rs`.
    pub(crate) fn speech_window(mut self) -> Self {
        self.speech_window = true;
        self
    }

    /// Start with a window decoded elsewhere (its first attempt): see [`Prepared`].
    pub(crate) fn prepare(&mut self, prepared: Prepared) {
        self.prepared = Some(prepared);
    }

    /// Add audio (16 kHz mono) and decode every window that has 30 s of audio beyond the seek
    /// point. Returns the segments completed by this call.
    pub fn push(&mut self, audio: &[f32]) -> Result<Vec<Segment>> {
        if let Some(e) = &self.error {
            return Err(Error::Options(e.clone()));
        }
        // Buffer at most one window: long pushes are consumed window by window.
        let mut out = Vec::new();
        let mut rest = audio;
        loop {
            let take = N_SAMPLES.saturating_sub(self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() >= N_SAMPLES {
                self.window(&mut out)?;
            } else if rest.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    /// Decode what is left (the end of the stream).
    pub fn finish(&mut self) -> Result<Vec<Segment>> {
        if let Some(e) = &self.error {
            return Err(Error::Options(e.clone()));
        }
        let mut out = Vec::new();
        self.finishing = true;
        while self.buf.len() / HOP > 0 {
            self.window(&mut out)?;
        }
        self.buf.clear();
        Ok(out)
    }

    /// Decode the first window only, as at the end of the stream (nothing if a window was
    /// decoded already); what Whisper leaves after it stays buffered (`state().seek_samples`
    /// says where it stopped).
    pub(crate) fn finish_first(&mut self) -> Result<Vec<Segment>> {
        if let Some(e) = &self.error {
            return Err(Error::Options(e.clone()));
        }
        let mut out = Vec::new();
        self.finishing = true;
        if self.seek_frames == 0 && self.buf.len() / HOP > 0 {
            self.window(&mut out)?;
        }
        Ok(out)
    }

    /// The state after the last returned segment.
    pub fn state(&self) -> StreamState {
        StreamState {
            seek_samples: self.seek_frames * HOP as u64,
            prompt_tokens: self.prompt_tokens.clone(),
            language: self.language.clone(),
            last_speech_seconds: self.last_speech,
            vad: None,
        }
    }

    /// Samples buffered beyond the seek point (not yet decoded).
    pub fn buffered_samples(&self) -> usize {
        self.buf.len()
    }

    /// Decodes the window at the seek point, then gives the freed buffers back (`heap.rs`).
    fn window(&mut self, out: &mut Vec<Segment>) -> Result<()> {
        let decoded = self.decode_at_seek(out);
        crate::heap::return_free_pages();
        decoded
    }

    /// Decode the window at the seek point; advance the seek and drop the consumed audio.
    fn decode_at_seek(&mut self, out: &mut Vec<Segment>) -> Result<()> {
        let content = self.buf.len().min(N_SAMPLES);
        let segment_size = (content / HOP).min(N_FRAMES) as u64;
        let seek = self.seek_frames;
        let time_offset = seek as f64 * TIME_PER_FRAME;
        let segment_duration = segment_size as f64 * TIME_PER_FRAME;

        if is_silent(&self.buf[..content]) {
            self.advance(seek + segment_size.max(1));
            return Ok(());
        }

        let (enc, mut first_attempt) = match self.prepared.take() {
            Some(p) => (p.enc, p.first_attempt),
            None => (self.encode(content)?, None),
        };

        // One decoder request for every pass over this window (ov/window_decoder.rs).
        let mut decoder = self.model.window_decoder(&enc);
        let sp = self.model.special.clone();
        if sp.multilingual && self.language.is_none() {
            let t = Instant::now();
            let lang = detect_language(self.model, &mut decoder)?;
            self.model.add_time(2, t.elapsed());
            self.language = Some(lang);
        }

        let WindowPlan {
            prompt,
            sot_index,
            rules,
            max_new,
        } = plan_window(
            self.model,
            &self.opts,
            &self.suppress,
            &self.prompt_tokens,
            self.language.as_deref(),
        )?;
        let max_new = token_budget::max_new_tokens(max_new, content);
        // Temperature fallback (generate_with_fallback).
        let temps = if self.opts.temperatures.is_empty() {
            vec![0.0]
        } else {
            self.opts.temperatures.clone()
        };
        let mut all: Vec<(WindowResult, f32, f32, String)> = Vec::new();
        let mut below_cr: Vec<usize> = Vec::new();
        let mut chosen: Option<usize> = None;
        let mut final_temp = 0.0;
        let seek_samples = seek * HOP as u64;
        for (attempt, &temp) in temps.iter().enumerate() {
            final_temp = temp;
            let mut rng = decode::window_rng(self.opts.seed, seek_samples, attempt);
            let mut counters = DecodeCounters::default();
            let t = Instant::now();
            let res = if let Some(r) = first_attempt.take().filter(|_| attempt == 0) {
                r
            } else {
                let attention = self.attention_recorder(segment_size);
                let mut session = decoder.session(&mut self.model.ov)?;
                decode::decode_window(
                    &mut session,
                    &prompt,
                    sot_index,
                    sp.no_speech,
                    &rules,
                    temp,
                    max_new,
                    &mut rng,
                    &mut counters,
                    attention,
                )?
            };
            self.model.add_time(2, t.elapsed());
            self.model.stats.add_decoding(&counters);
            let avg = res.avg_logprob();
            let text = self.model.decode_text(&res.tokens)?;
            let cr = decode::compression_ratio(text.trim());
            let idx = all.len();
            all.push((res, avg, cr, text));
            let mut needs_fallback = false;
            if let Some(th) = self.opts.compression_ratio_threshold {
                if cr > th {
                    needs_fallback = true;
                } else {
                    below_cr.push(idx);
                }
            }
            if let Some(lp) = self.opts.log_prob_threshold {
                if avg < lp {
                    needs_fallback = true;
                }
            }
            if let (Some(ns), Some(lp)) =
                (self.opts.no_speech_threshold, self.opts.log_prob_threshold)
            {
                if all[idx].0.no_speech_prob > ns && avg < lp {
                    needs_fallback = false;
                }
            }
            if !needs_fallback {
                chosen = Some(idx);
                break;
            }
            // Of the failed attempts only the one picked if all fail can still be chosen: the
            // others' attention scores (up to heads x 1500 x 4 bytes a token) are let go.
            let keep = best_failed(&all, &below_cr);
            for (i, a) in all.iter_mut().enumerate() {
                if i != keep {
                    a.0.attention = None;
                }
            }
        }
        let chosen = chosen.unwrap_or_else(|| best_failed(&all, &below_cr));
        self.model.stats.decoder_requests += decoder.take_request_count();
        // faster-whisper reports the last temperature tried (also when all attempts failed).
        let temperature = final_temp;
        let (result, avg_logprob, compression_ratio, _) = all.swap_remove(chosen);

        // No-speech skip.
        if let Some(ns) = self.opts.no_speech_threshold {
            let mut skip = result.no_speech_prob > ns;
            if let Some(lp) = self.opts.log_prob_threshold {
                if avg_logprob > lp {
                    skip = false;
                }
            }
            if skip {
                self.advance(seek + segment_size);
                return Ok(());
            }
        }

        let tokens = &result.tokens;
        let tb = sp.timestamp_begin;
        let single_timestamp_ending =
            tokens.len() >= 2 && tokens[tokens.len() - 2] < tb && tokens[tokens.len() - 1] >= tb;
        let consecutive: Vec<usize> = (1..tokens.len())
            .filter(|&i| tokens[i] >= tb && tokens[i - 1] >= tb)
            .collect();
        let mut pieces: Vec<(f64, f64, Vec<u32>)> = Vec::new();
        let mut new_seek;
        if !consecutive.is_empty() {
            let mut slices = consecutive.clone();
            if single_timestamp_ending {
                slices.push(tokens.len());
            }
            let mut last_slice = 0;
            for &cur in &slices {
                let sliced = &tokens[last_slice..cur];
                let start_pos = sliced[0].saturating_sub(tb) as f64;
                let end_pos = sliced[sliced.len() - 1].saturating_sub(tb) as f64;
                pieces.push((
                    time_offset + start_pos * TIME_PRECISION,
                    time_offset + end_pos * TIME_PRECISION,
                    sliced.to_vec(),
                ));
                last_slice = cur;
            }
            if single_timestamp_ending {
                new_seek = seek + segment_size;
            } else {
                let last_ts_pos = tokens[last_slice - 1].saturating_sub(tb) as u64;
                new_seek = seek + last_ts_pos * INPUT_STRIDE;
            }
        } else {
            let mut duration = segment_duration;
            if let Some(&last_ts) = tokens.iter().rev().find(|&&t| t >= tb) {
                if last_ts != tb {
                    duration = (last_ts - tb) as f64 * TIME_PRECISION;
                }
            }
            pieces.push((time_offset, time_offset + duration, tokens.clone()));
            new_seek = seek + segment_size;
        }
        let mut segments = Vec::with_capacity(pieces.len());
        for (start, end, tokens) in pieces {
            segments.push(Segment {
                start,
                end,
                text: self.model.decode_text(&tokens)?,
                tokens,
                avg_logprob,
                no_speech_prob: result.no_speech_prob,
                temperature,
                compression_ratio,
                words: Vec::new(),
            });
        }
        if self.model.times_words(&self.opts) {
            let view = WindowView {
                seek,
                time_offset,
                duration: segment_duration,
                consumed: single_timestamp_ending || (self.speech_window && !rules.timestamps),
                last_speech: self.last_speech,
                stream_end: (self.finishing && self.buf.len() <= N_SAMPLES)
                    .then(|| time_offset + content as f64 / 16000.0),
                threshold: self.opts.hallucination_silence_threshold.map(f64::from),
            };
            let sot_sequence: Vec<u32> = prompt[sot_index..]
                .iter()
                .copied()
                .filter(|&t| t != sp.no_timestamps)
                .collect();
            let decoded = result.attention.as_ref().map(|a| (a, &result.tokens[..]));
            new_seek = self.add_words(
                &mut decoder,
                &sot_sequence,
                decoded,
                &mut segments,
                &view,
                new_seek,
            )?;
        }
        if new_seek <= seek {
            // Never stall on a degenerate window (e.g. "<|0.00|><|0.00|>").
            new_seek = seek + segment_size.max(1);
        }

        let mut all_tokens_added: Vec<u32> = Vec::new();
        for seg in segments {
            if seg.start == seg.end || !has_words(&seg.text) {
                continue;
            }
            all_tokens_added.extend_from_slice(&seg.tokens);
            out.push(seg);
        }
        self.prompt_tokens.extend_from_slice(&all_tokens_added);
        if !self.opts.condition_on_previous_text
            || temperature > self.opts.prompt_reset_on_temperature
        {
            self.prompt_tokens.clear();
        }
        trim_prompt(&mut self.prompt_tokens);
        self.advance(new_seek);
        Ok(())
    }

    /// Log-mel and encoder output of the window's first `content` samples.
    fn encode(&mut self, content: usize) -> Result<openvino::Tensor> {
        let t0 = Instant::now();
        let mel = self.model.mel.window(&self.buf[..content]);
        self.model.add_time(0, t0.elapsed());
        let t1 = Instant::now();
        let enc = self.model.ov.encode(&mel)?;
        self.model.add_time(1, t1.elapsed());
        self.model.stats.windows += 1;
        Ok(enc)
    }

    /// Word timestamps for a window's segments (one forced-alignment pass), then the
    /// hallucination rules: drops the segments they reject and returns the next seek.
    fn add_words(
        &mut self,
        decoder: &mut WindowDecoder,
        sot_sequence: &[u32],
        decoded: Option<(&DecodeAttention, &[u32])>,
        segments: &mut Vec<Segment>,
        view: &WindowView,
        seek: u64,
    ) -> Result<u64> {
        let t = Instant::now();
        let language = self.language.clone();
        let input = WindowInput {
            sot_sequence,
            content_frames: (view.duration / TIME_PER_FRAME).round() as usize,
            time_offset: view.time_offset,
            last_speech: self.last_speech,
            language: language.as_deref(),
            prepend: &self.opts.prepend_punctuations,
            append: &self.opts.append_punctuations,
            decoded,
        };
        alignment::add_word_timestamps(self.model, decoder, segments, &input)?;
        self.model.stats.decoder_requests += decoder.take_request_count();
        self.model.add_time(2, t.elapsed());
        self.model.stats.alignment_seconds += t.elapsed().as_secs_f64();
        let verdict = hallucination::review(segments, view, seek);
        segments.truncate(verdict.keep);
        if let Some(end) = hallucination::last_word_end(segments) {
            self.last_speech = end;
        }
        Ok(verdict.seek)
    }

    /// What a decoding attempt keeps for word timing: the alignment heads' scores over the
    /// window's frames (half its mel frames), when words are timed and the decoder has them.
    pub(crate) fn attention_recorder(&self, segment_size: u64) -> Option<DecodeAttention> {
        let heads = self.model.decode_alignment_heads(&self.opts);
        let frames = decode_attention::encoder_frames(segment_size as usize);
        (heads > 0).then(|| DecodeAttention::new(heads, frames))
    }

    fn advance(&mut self, new_seek: u64) {
        let drop_frames = new_seek.saturating_sub(self.seek_frames) as usize;
        let drop = (drop_frames * HOP).min(self.buf.len());
        self.buf.drain(..drop);
        self.seek_frames = new_seek;
        if drop_frames * HOP > drop {
            // The seek went past the buffered audio (a timestamp beyond the content at the end).
            self.buf.clear();
        }
    }
}

/// When every attempt failed: the best average log-probability, among those below the
/// compression-ratio threshold if any.
fn best_failed(all: &[(WindowResult, f32, f32, String)], below_cr: &[usize]) -> usize {
    let everything: Vec<usize> = (0..all.len()).collect();
    let pool = if below_cr.is_empty() {
        &everything[..]
    } else {
        below_cr
    };
    let mut best = pool[0];
    for &i in &pool[1..] {
        if all[i].1 > all[best].1 {
            best = i;
        }
    }
    best
}

/// A window's audio that never exceeds [`SILENCE_PEAK`]: skipped without decoding.
pub(crate) fn is_silent(audio: &[f32]) -> bool {
    audio.iter().fold(0f32, |m, &x| m.max(x.abs())) < SILENCE_PEAK
}

/// The prompt and logit rules of a window, from the text before it and the language.
pub(crate) fn plan_window(
    model: &WhisperModel,
    opts: &DecodeOptions,
    suppress: &[u32],
    prompt_tokens: &[u32],
    language: Option<&str>,
) -> Result<WindowPlan> {
    let sp = &model.special;
    let mut prompt = Vec::new();
    if !prompt_tokens.is_empty() {
        prompt.push(sp.sot_prev);
        let n = prompt_tokens.len();
        prompt.extend_from_slice(&prompt_tokens[n.saturating_sub(MAX_PROMPT_PREV)..]);
    }
    let sot_index = prompt.len();
    prompt.push(sp.sot);
    if sp.multilingual {
        let lang = language.unwrap_or("en");
        let lid = *sp
            .languages
            .get(lang)
            .ok_or_else(|| Error::Options(format!("unknown language '{lang}'")))?;
        prompt.push(lid);
        let task = match opts.task {
            Task::Transcribe => sp.transcribe,
            Task::Translate => sp.translate,
        };
        if let Some(t) = task {
            prompt.push(t);
        }
    }
    if opts.without_timestamps {
        prompt.push(sp.no_timestamps);
    }
    let max_length = model.config.max_target_positions.max(2);
    let start_step = prompt.len() - 1;
    let max_new = (max_length / 2)
        .min(max_length.saturating_sub(start_step))
        .max(1);
    let max_initial_index = (opts.max_initial_timestamp as f64 / TIME_PRECISION).round() as u32;
    let ts_end = model.vocab_size.saturating_sub(1) as u32;
    let rules = Rules {
        suppress: suppress.to_vec(),
        begin_suppress: sp.begin_suppress.clone(),
        suppress_blank: opts.suppress_blank,
        timestamps: !opts.without_timestamps,
        eot: sp.eot,
        no_timestamps: sp.no_timestamps,
        ts_begin: sp.timestamp_begin,
        max_initial_ts: (sp.timestamp_begin + max_initial_index).min(ts_end),
    };
    Ok(WindowPlan {
        prompt,
        sot_index,
        rules,
        max_new,
    })
}

/// Text with at least one letter or digit: empty and punctuation-only segments (Whisper's "."
/// on a pure tone) are never emitted.
fn has_words(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

fn trim_prompt(p: &mut Vec<u32>) {
    if p.len() > MAX_PROMPT_PREV {
        p.drain(..p.len() - MAX_PROMPT_PREV);
    }
}

/// faster-whisper's `get_suppressed_tokens`: -1 expands to the model's list; the task and
/// special tokens are always suppressed.
pub(crate) fn expand_suppress(model: &WhisperModel, ids: &[i64]) -> Vec<u32> {
    let sp = &model.special;
    let mut out: Vec<u32> = Vec::new();
    if ids.is_empty() {
        return out;
    }
    for &i in ids {
        if i >= 0 {
            out.push(i as u32);
        } else if i == -1 {
            out.extend_from_slice(&sp.suppress);
        }
    }
    out.extend(
        [
            Some(sp.sot),
            Some(sp.sot_prev),
            sp.sot_lm,
            sp.no_speech,
            sp.transcribe,
            sp.translate,
        ]
        .into_iter()
        .flatten(),
    );
    out.sort_unstable();
    out.dedup();
    out
}

/// Most likely language token after `<|startoftranscript|>`, on the window's decoder.
pub(crate) fn detect_language(
    model: &mut WhisperModel,
    decoder: &mut WindowDecoder,
) -> Result<String> {
    use crate::decode::Session;
    let sp = model.special.clone();
    let mut session = decoder.session(&mut model.ov)?;
    let mut rows = vec![Vec::new()];
    session.forward(&[sp.sot], &[0], &mut rows)?;
    let logits = &rows[0];
    let mut best: Option<(&String, f32)> = None;
    for (code, &id) in &sp.languages {
        let v = logits
            .get(id as usize)
            .copied()
            .unwrap_or(f32::NEG_INFINITY);
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((code, v));
        }
    }
    best.map(|(c, _)| c.clone())
        .ok_or_else(|| Error::Options("the model lists no languages to detect".into()))
}
