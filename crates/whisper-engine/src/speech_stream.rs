//! The stream users get: Whisper's long-form stream, behind speech detection when
//! `DecodeOptions::vad` is set.
//!
//! With VAD, audio is run through Silero in blocks; the speech regions it finds (padded, at
//! most 30 s, pauses shorter than `min_silence` inside) are laid end to end into windows of at
//! most 30 s (a region never split between windows; `merge_gap` can keep far-apart regions
//! apart), each window decoded by the long-form stream (prompt and language carried from
//! window to window), and every time mapped back to the original timeline, a region's first
//! word not before the detected onset. Audio outside the regions is never decoded. A window's
//! first segments that copy the text it was conditioned on are dropped (`repeat_guard.rs`).
//!
//! Resumability: the state holds the VAD position and LSTM state, the region tracker and the
//! regions of the window being built; its `seek_samples` is the first sample any of them still
//! needs (the window's first region, the speech in progress, or the VAD's look-back). A stream
//! resumed from it and fed the audio from there makes the same decisions on the same numbers.

use crate::batch::{self, BatchWindow};
use crate::coverage;
use crate::error::{Error, Result};
use crate::mel::{HOP, N_SAMPLES};
use crate::repeat_guard;
use crate::speech_regions::{split_at, Region, RegionRules, RegionTracker};
use crate::stream::Stream as LongFormStream;
use crate::timeline::{Edge, TimelineMap};
use crate::vad::{LstmState, BLOCK_FRAMES, CONTEXT, FRAME};
use crate::vad_ahead::{block_rows, samples_or_zeros, SpeechProbabilities};
use crate::{sentence_split, silence_split};
use crate::{DecodeOptions, Segment, StreamState, WhisperModel};
use std::time::Instant;

/// What a VAD stream adds to [`StreamState`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct VadState {
    /// Sample of the next VAD frame (a multiple of the block size, except after `finish`).
    pub vad_pos: u64,
    pub lstm: LstmState,
    pub tracker: RegionTracker,
    /// Final regions of the window being built (not decoded yet).
    pub window: Vec<Region>,
    /// Closed windows waiting for their batch (`DecodeOptions::batch_size` > 1), in order;
    /// decoded when the batch is full or the stream finishes, each conditioned on
    /// `StreamState::prompt_tokens` (with batches: the initial prompt, never earlier text).
    #[serde(default)]
    pub queued: Vec<Vec<Region>>,
    /// How many of `window`'s first regions are the undecoded end of the window before it
    /// (see [`SpeechStream::decode_window`]); a window of only those is decoded whole.
    #[serde(default)]
    pub carried: usize,
}

/// A streaming transcription bound to a model. See [`WhisperModel::stream`].
pub struct Stream<'m> {
    inner: Inner<'m>,
}

#[allow(clippy::large_enum_variant)]
enum Inner<'m> {
    Plain(LongFormStream<'m>),
    Speech(SpeechStream<'m>),
}

impl std::fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Plain(s) => s.fmt(f),
            Inner::Speech(s) => f
                .debug_struct("Stream")
                .field("seek", &s.buf_start)
                .field("vad_pos", &s.vad.vad_pos)
                .finish(),
        }
    }
}

impl<'m> Stream<'m> {
    pub(crate) fn new(
        model: &'m mut WhisperModel,
        opts: DecodeOptions,
        resume: Option<StreamState>,
        ahead: Option<SpeechProbabilities>,
    ) -> Self {
        // Before any window: the encoder slot is then allocated once (`ov/encoder_slot.rs`).
        let windows = if opts.decodes_in_batches() {
            opts.batch_size
        } else {
            1
        };
        model.ov.reserve_batch(windows);
        let inner = if opts.vad.is_some() {
            Inner::Speech(SpeechStream::new(model, opts, resume, ahead))
        } else {
            Inner::Plain(LongFormStream::new(model, opts, resume))
        };
        Self { inner }
    }

    /// Add audio (16 kHz mono); returns the segments completed by this call.
    pub fn push(&mut self, audio: &[f32]) -> Result<Vec<Segment>> {
        match &mut self.inner {
            Inner::Plain(s) => s.push(audio),
            Inner::Speech(s) => s.push(audio),
        }
    }

    /// Decode what is left (the end of the stream).
    pub fn finish(&mut self) -> Result<Vec<Segment>> {
        match &mut self.inner {
            Inner::Plain(s) => s.finish(),
            Inner::Speech(s) => s.finish(),
        }
    }

    /// The state after the last returned segment: resume from it with the audio from its
    /// `seek_samples` on.
    pub fn state(&self) -> StreamState {
        match &self.inner {
            Inner::Plain(s) => s.state(),
            Inner::Speech(s) => s.state(),
        }
    }

    /// Samples held beyond the seek point.
    pub fn buffered_samples(&self) -> usize {
        match &self.inner {
            Inner::Plain(s) => s.buffered_samples(),
            Inner::Speech(s) => s.buf.len(),
        }
    }
}

/// The tokens of `opts.initial_prompt` (none without one), as a stream's first prompt.
fn initial_prompt_tokens(model: &WhisperModel, opts: &DecodeOptions) -> Result<Vec<u32>> {
    match &opts.initial_prompt {
        Some(p) => model.encode_text(&format!(" {}", p.trim())),
        None => Ok(Vec::new()),
    }
}

struct SpeechStream<'m> {
    model: &'m mut WhisperModel,
    opts: DecodeOptions,
    rules: RegionRules,
    /// Audio from `buf_start` on.
    buf: Vec<f32>,
    buf_start: u64,
    vad: VadState,
    prompt_tokens: Vec<u32>,
    language: Option<String>,
    error: Option<String>,
    /// `Some`: only detect; closed windows' regions are collected here instead of decoded.
    detected: Option<Vec<Region>>,
    /// A window was decoded since the last `trim`.
    decoded_since_trim: bool,
    /// Probabilities computed apart from the stream (`WhisperModel::stream_with_speech`).
    ahead: Option<SpeechProbabilities>,
}

impl<'m> SpeechStream<'m> {
    fn new(
        model: &'m mut WhisperModel,
        opts: DecodeOptions,
        resume: Option<StreamState>,
        ahead: Option<SpeechProbabilities>,
    ) -> Self {
        let rules = RegionRules::new(opts.vad.as_ref().expect("vad options"), N_SAMPLES as u64);
        // With probabilities computed apart, Silero runs here only for a block they lack
        // (`speech_probs` loads it then): compiling it up front cost the first window ~50 ms.
        let mut error = match ahead {
            Some(_) => None,
            None => model.ensure_vad().err().map(|e| e.to_string()),
        };
        let (buf_start, vad, prompt_tokens, language) = match resume {
            Some(st) => {
                let vad = st.vad.unwrap_or_else(|| VadState {
                    vad_pos: st.seek_samples,
                    ..VadState::default()
                });
                (st.seek_samples, vad, st.prompt_tokens, st.language)
            }
            None => {
                let prompt = initial_prompt_tokens(model, &opts).unwrap_or_else(|e| {
                    error = Some(format!("initial prompt: {e}"));
                    Vec::new()
                });
                (0, VadState::default(), prompt, opts.language.clone())
            }
        };
        Self {
            model,
            opts,
            rules,
            buf: Vec::new(),
            buf_start,
            vad,
            prompt_tokens,
            language,
            error,
            detected: None,
            decoded_since_trim: false,
            ahead,
        }
    }

    fn check(&self) -> Result<()> {
        match &self.error {
            // The message names what failed (the VAD model and the fix, or the prompt).
            Some(e) => Err(Error::ModelNotFound(e.clone())),
            None => Ok(()),
        }
    }

    fn buf_end(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    fn push(&mut self, audio: &[f32]) -> Result<Vec<Segment>> {
        self.check()?;
        let mut out = Vec::new();
        for chunk in audio.chunks(BLOCK_FRAMES * FRAME) {
            self.buf.extend_from_slice(chunk);
            let block = (BLOCK_FRAMES * FRAME) as u64;
            while self.buf_end() >= self.vad.vad_pos + block {
                self.run_vad(BLOCK_FRAMES, &mut out)?;
            }
            self.trim();
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<Segment>> {
        self.check()?;
        let mut out = Vec::new();
        let end = self.buf_end();
        let left = end.saturating_sub(self.vad.vad_pos) as usize;
        if left > 0 {
            self.run_vad(left.div_ceil(FRAME), &mut out)?;
        }
        let region = self.vad.tracker.finish(&self.rules, end);
        if let Some(r) = region {
            self.add_region(r, &mut out)?;
        }
        self.decode_window(&mut out, false)?;
        self.decode_queued(&mut out)?;
        self.vad.vad_pos = end;
        self.trim();
        Ok(out)
    }

    fn state(&self) -> StreamState {
        StreamState {
            seek_samples: self.buf_start,
            prompt_tokens: self.prompt_tokens.clone(),
            language: self.language.clone(),
            // Each region is a stream of its own (below): nothing of the word timing carries.
            last_speech_seconds: 0.0,
            vad: Some(self.vad.clone()),
        }
    }

    /// Run `frames` frames from `vad_pos` (zero-padded past the audio) and feed the tracker.
    fn run_vad(&mut self, frames: usize, out: &mut Vec<Segment>) -> Result<()> {
        let pos = self.vad.vad_pos;
        let rows = block_rows(|from, to| self.samples(from, to), pos, frames);
        let probs = self.speech_probs(pos, &rows)?;
        for (f, &p) in probs.iter().enumerate() {
            let start = pos + (f * FRAME) as u64;
            self.vad.vad_pos = start + FRAME as u64;
            if let Some(r) = self.vad.tracker.frame(&self.rules, start, p) {
                self.add_region(r, out)?;
            }
            if self.window_is_closed() {
                self.decode_window(out, true)?;
            }
        }
        Ok(())
    }

    /// The block's probabilities: computed ahead when they were (for these rows and this LSTM
    /// state), else by running the VAD; `vad.lstm` becomes the state after the block.
    fn speech_probs(&mut self, pos: u64, rows: &[f32]) -> Result<Vec<f32>> {
        let known = self
            .ahead
            .as_ref()
            .and_then(|a| a.lookup(pos, rows, &self.vad.lstm));
        if let Some(b) = known {
            self.model.stats.vad_seconds += b.seconds;
            self.model.stats.vad_blocks_ahead += 1;
            self.vad.lstm = b.lstm_after;
            return Ok(b.probs);
        }
        let t = Instant::now();
        self.model
            .ensure_vad()
            .map_err(|e| Error::ModelNotFound(e.to_string()))?;
        let vad = self.model.vad.as_mut().expect("VAD loaded");
        let probs = vad.run(rows, &mut self.vad.lstm)?;
        self.model.stats.vad_seconds += t.elapsed().as_secs_f64();
        Ok(probs)
    }

    /// `[from, to)` of the audio, zeros where there is none (past the end, or a context before
    /// sample 0).
    fn samples(&self, from: u64, to: u64) -> Vec<f32> {
        samples_or_zeros(&self.buf, self.buf_start, from, to)
    }

    /// A final region: it joins the window being built, or the window is decoded first.
    fn add_region(&mut self, mut r: Region, out: &mut Vec<Segment>) -> Result<()> {
        // Only the end of the stream can put a region's padding past the audio.
        r.end = r.end.min(self.buf_end()).max(r.start);
        // Twice: the end carried over from the decoded window may itself leave no room for `r`
        // (a window of carried regions only is then decoded whole).
        for _ in 0..2 {
            if !self.joins_window(&r) {
                self.decode_window(out, true)?;
            }
        }
        self.vad.window.push(r);
        Ok(())
    }

    /// Whether `r` fits in the window being built: near enough to it, and short enough.
    fn joins_window(&self, r: &Region) -> bool {
        let Some(last) = self.vad.window.last() else {
            return true;
        };
        let total: u64 = self.vad.window.iter().map(Region::len).sum();
        r.start.saturating_sub(last.end) <= self.rules.merge_gap
            && total + r.len() <= N_SAMPLES as u64
    }

    /// No region still to come can join the window: too far after it, or too long for it.
    fn window_is_closed(&self) -> bool {
        let Some(last) = self.vad.window.last() else {
            return false;
        };
        let now = self.vad.vad_pos;
        let next_start = self
            .vad
            .tracker
            .open_start(&self.rules)
            .unwrap_or_else(|| now.saturating_sub(self.rules.pad).max(last.end));
        let total: u64 = self.vad.window.iter().map(Region::len).sum();
        let open_len = self
            .vad
            .tracker
            .open_end(now)
            .map_or(0, |e| e.saturating_sub(next_start));
        next_start.saturating_sub(last.end) > self.rules.merge_gap
            || total + open_len > N_SAMPLES as u64
    }

    /// Decode the window's regions laid end to end; map the segments back. With `carry`, the
    /// audio after Whisper's first pass over the window (where it stopped: its last segment was
    /// unfinished) starts the next window instead of being decoded alone, as faster-whisper's
    /// seek runs on into the next speech: one encoder pass fewer, and the sentence is heard
    /// with what follows it.
    fn decode_window(&mut self, out: &mut Vec<Segment>, carry: bool) -> Result<()> {
        if self.vad.window.is_empty() {
            return Ok(());
        }
        let regions = std::mem::take(&mut self.vad.window);
        let carried = std::mem::take(&mut self.vad.carried);
        self.decoded_since_trim = true;
        if let Some(d) = &mut self.detected {
            d.extend(regions);
            return Ok(());
        }
        if self.opts.batch_size > 1 {
            self.vad.queued.push(regions);
            if self.vad.queued.len() >= self.opts.batch_size {
                self.decode_queued(out)?;
            }
            return Ok(());
        }
        let carry = carry && regions.len() > carried && self.carries();
        let rest = self.decode_regions(&regions, out, carry)?;
        self.vad.carried = rest.len();
        self.vad.window = rest;
        Ok(())
    }

    /// Whether a window is conditioned on the text of the window before it.
    fn conditions_windows(&self) -> bool {
        self.opts.condition_on_previous_text
            && self
                .opts
                .vad
                .as_ref()
                .is_some_and(|v| v.condition_on_previous_window)
    }

    fn carries(&self) -> bool {
        self.opts.vad.as_ref().is_some_and(|v| v.carry_unfinished)
    }

    /// Decode `regions` laid end to end as one window, conditioned on the text before them;
    /// map the segments back (see [`Self::emit`]). With `carry`, only Whisper's first pass:
    /// returns the regions (cut where it stopped) it left undecoded.
    fn decode_regions(
        &mut self,
        regions: &[Region],
        out: &mut Vec<Segment>,
        carry: bool,
    ) -> Result<Vec<Region>> {
        let audio = self.window_audio(regions);
        let opts = self.window_opts(regions);
        let conditioned = self.prompt_tokens != initial_prompt_tokens(self.model, &self.opts)?;
        let prompt_text = self.model.decode_text(&self.prompt_tokens)?;
        let resume = StreamState {
            seek_samples: 0,
            prompt_tokens: std::mem::take(&mut self.prompt_tokens),
            language: self.language.clone(),
            last_speech_seconds: 0.0,
            vad: None,
        };
        let mut stream = LongFormStream::new(&mut *self.model, opts, Some(resume)).speech_window();
        let mut segments = stream.push(&audio)?;
        let decoded = if carry {
            segments.extend(stream.finish_first()?);
            whole_frames_done(stream.state().seek_samples as usize, audio.len())
        } else {
            segments.extend(stream.finish()?);
            audio.len()
        };
        let (regions, rest) = split_at(regions, decoded as u64);
        let copies = repeat_guard::leading_copies(&prompt_text, segments.iter().map(|s| &*s.text));
        segments.drain(..copies);
        let st = stream.state();
        self.prompt_tokens = match self.conditions_windows() {
            true => st.prompt_tokens,
            false => initial_prompt_tokens(self.model, &self.opts)?,
        };
        self.language = st.language;
        self.model.stats.speech_samples += decoded as u64;
        self.emit(&regions, segments, conditioned, out)?;
        Ok(rest)
    }

    /// A decoded window's segments (window time) mapped back to `out`. From a region Whisper
    /// skipped (`coverage.rs`) on, the window is decoded again without the earlier text: that
    /// text is what led Whisper past the speech (seen on a home-video track: a list of playing
    /// cards, "Seven of clubs.", then a sonnet that begins "I": base wrote "One." and stopped,
    /// and wrote it again when the sonnet was decoded again after the same text; without it,
    /// the sonnet). As Whisper's own prompt reset after a failed decode, only the initial
    /// prompt stays. The same from the end of the window's last word when the region holding
    /// it goes on without words (a skipped tail: "1.", then 29 s of the sonnet jumped over).
    /// An unconditioned window's first region skipped before later ones is decoded alone
    /// ([`Self::decode_first_alone`]).
    fn emit(
        &mut self,
        regions: &[Region],
        segments: Vec<Segment>,
        conditioned: bool,
        out: &mut Vec<Segment>,
    ) -> Result<()> {
        let map = TimelineMap::new(regions);
        let spans = map.speech_spans();
        let timed = self.timed_words(&segments);
        if coverage::skipped_first_of_several(regions, &spans, timed.as_deref(), conditioned) {
            return self.decode_first_alone(regions, segments, &map, &spans, out);
        }
        let skipped = coverage::first_skipped(regions, &spans, timed.as_deref(), conditioned);
        self.emit_checked(regions, segments, &map, skipped, out)
    }

    /// The window's first region decoded again in a window of its own
    /// (`coverage::skipped_first_of_several`), then the window's segments from its second
    /// region on, checked as any window's. The text conditioning the next window stays the
    /// whole window's.
    fn decode_first_alone(
        &mut self,
        regions: &[Region],
        segments: Vec<Segment>,
        map: &TimelineMap,
        spans: &[(f64, f64)],
        out: &mut Vec<Segment>,
    ) -> Result<()> {
        self.model.stats.redecoded_windows += 1;
        let prompt = std::mem::replace(
            &mut self.prompt_tokens,
            initial_prompt_tokens(self.model, &self.opts)?,
        );
        self.decode_regions(&regions[..1], out, false)?;
        self.prompt_tokens = prompt;
        let later = coverage::segments_from(segments, spans[1].0);
        let timed = self.timed_words(&later);
        let skipped = coverage::first_skipped(regions, spans, timed.as_deref(), false);
        self.emit_checked(regions, later, map, skipped, out)
    }

    /// [`Self::emit`] after the first region's check: the segments before `skipped` (window
    /// time of a skipped region or tail, if any) mapped back, the window from there decoded
    /// again (see there).
    fn emit_checked(
        &mut self,
        regions: &[Region],
        segments: Vec<Segment>,
        map: &TimelineMap,
        skipped: Option<f64>,
        out: &mut Vec<Segment>,
    ) -> Result<()> {
        let as_text = self.decodes_as_text();
        let mapped = |s| to_original(s, map, as_text);
        let Some(at) = skipped else {
            out.extend(segments.into_iter().flat_map(mapped));
            return Ok(());
        };
        let kept = coverage::segments_before(segments, at);
        self.prompt_tokens = initial_prompt_tokens(self.model, &self.opts)?;
        out.extend(kept.into_iter().flat_map(mapped));
        self.model.stats.redecoded_windows += 1;
        // At a skipped region's start the cut falls on a junction: the regions from it, whole.
        let (_, rest) = split_at(regions, window_sample(at));
        self.decode_regions(&rest, out, false).map(drop)
    }

    /// Every word's `(start, end)` in the order of `segments`, when the model times words.
    fn timed_words(&self, segments: &[Segment]) -> Option<Vec<(f64, f64)>> {
        self.model.times_words(&self.opts).then(|| {
            segments
                .iter()
                .flat_map(|s| &s.words)
                .map(|w| (w.start, w.end))
                .collect()
        })
    }

    /// The queued windows as one batch (`batch.rs`); segments mapped back, in window order.
    fn decode_queued(&mut self, out: &mut Vec<Segment>) -> Result<()> {
        if self.vad.queued.is_empty() {
            return Ok(());
        }
        let queued = std::mem::take(&mut self.vad.queued);
        let windows: Vec<BatchWindow> = queued
            .iter()
            .map(|regions| BatchWindow {
                audio: self.window_audio(regions),
                seed: self.window_opts(regions).seed,
            })
            .collect();
        // The prompt stays the initial prompt: batched windows never see each other's text.
        let opts = self.window_opts(&[]);
        let decoded = batch::decode_windows(
            self.model,
            &opts,
            &windows,
            &self.prompt_tokens,
            &mut self.language,
        )?;
        let prompt = self.prompt_tokens.clone();
        for ((regions, window), segments) in queued.iter().zip(&windows).zip(decoded) {
            self.model.stats.speech_samples += window.audio.len() as u64;
            self.emit(regions, segments, false, out)?;
            // A window decoded again must not condition the batch's later windows either.
            self.prompt_tokens = prompt.clone();
        }
        self.decoded_since_trim = true;
        Ok(())
    }

    /// A window's regions laid end to end.
    fn window_audio(&self, regions: &[Region]) -> Vec<f32> {
        let mut audio = Vec::new();
        for r in regions {
            audio.extend(self.samples(r.start, r.end));
        }
        audio
    }

    /// The long-form stream's options for a window: no VAD, no timestamp tokens unless asked
    /// for or words cannot be timed (`VadOptions::timestamp_tokens`), and a seed of its own
    /// (each window's stream starts at seek 0).
    fn window_opts(&self, regions: &[Region]) -> DecodeOptions {
        let mut opts = self.opts.clone();
        opts.without_timestamps = self.decodes_as_text();
        opts.vad = None;
        if let Some(first) = regions.first() {
            opts.seed = opts
                .seed
                .wrapping_add(first.start.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        opts
    }

    /// Whether windows are decoded without timestamp tokens: as asked, or because alignment
    /// times their words (unless `VadOptions::timestamp_tokens`).
    fn decodes_as_text(&self) -> bool {
        let tokens = self.opts.vad.as_ref().is_some_and(|v| v.timestamp_tokens);
        self.opts.without_timestamps || (!tokens && self.model.times_words(&self.opts))
    }

    /// Drop audio no longer needed: before the window, the speech in progress, and the VAD's
    /// look-back (context and start padding).
    fn trim(&mut self) {
        let lookback = self.rules.pad.max(CONTEXT as u64);
        let mut keep = self.vad.vad_pos.saturating_sub(lookback);
        if let Some(s) = self.vad.tracker.open_start(&self.rules) {
            keep = keep.min(s);
        }
        if let Some(r) = self.vad.window.first() {
            keep = keep.min(r.start);
        }
        if let Some(r) = self.vad.queued.first().and_then(|w| w.first()) {
            keep = keep.min(r.start);
        }
        // After a resume the re-sent audio may not have reached the look-back yet.
        let keep = keep.min(self.buf_end()).max(self.buf_start);
        // The seek point moves in steps of a window at least (or as far as a decoded window
        // lets it): every move is a state message to the element, and an element that pushes a
        // GAP for each would block a pipeline's preroll as often. Memory stays bounded.
        if keep < self.buf_start + N_SAMPLES as u64 && !self.decoded_since_trim {
            return;
        }
        self.decoded_since_trim = false;
        let drop = ((keep - self.buf_start) as usize).min(self.buf.len());
        self.buf.drain(..drop);
        self.buf_start = keep;
    }
}

impl WhisperModel {
    /// The speech regions (padded, in samples) the stream with these settings would decode:
    /// the same detection, without Whisper.
    pub fn speech_regions(
        &mut self,
        audio_16k_mono: &[f32],
        vad: &crate::VadOptions,
    ) -> Result<Vec<Region>> {
        let opts = DecodeOptions {
            vad: Some(vad.clone()),
            ..DecodeOptions::default()
        };
        let mut s = SpeechStream::new(self, opts, None, None);
        s.detected = Some(Vec::new());
        s.push(audio_16k_mono)?;
        s.finish()?;
        Ok(s.detected.take().unwrap_or_default())
    }
}

/// The window's sample at window time `t` (seconds).
fn window_sample(t: f64) -> u64 {
    (t * crate::mel::SAMPLE_RATE as f64).round() as u64
}

/// A segment's times (and its words') on the original timeline, cut where a silence Whisper
/// did not hear lies between two of its words (`silence_split.rs`), and, from a window decoded
/// without timestamp tokens (one segment for the window), into sentences (`sentence_split.rs`).
fn to_original(mut s: Segment, map: &TimelineMap, without_tokens: bool) -> Vec<Segment> {
    let heard: Vec<(f64, f64)> = s.words.iter().map(|w| (w.start, w.end)).collect();
    for (w, span) in s.words.iter_mut().zip(map.words_to_original(&heard)) {
        (w.start, w.end) = span;
    }
    match (s.words.first(), s.words.last()) {
        // Segments span their words (as the engine keeps them without VAD).
        (Some(first), Some(last)) => {
            s.start = first.start;
            s.end = last.end.max(s.start);
        }
        _ => {
            s.start = map.to_original(s.start, Edge::Start);
            s.end = map.to_original(s.end, Edge::End).max(s.start);
        }
    }
    let parts = silence_split::split_at_removed_silence(s, &heard);
    if !without_tokens {
        return parts;
    }
    parts
        .into_iter()
        .flat_map(sentence_split::split_into_sentences)
        .collect()
}

/// The samples of a window Whisper's first pass decoded, from the seek it reached. The seek is
/// in whole 10 ms frames, so a window it consumed to the end still leaves up to `HOP - 1`
/// samples, which are no audio left to decode. Carried, such a sliver became the next window's
/// first region, the check for skipped speech (which spares a window's first region) judged
/// the real first region instead, and a whole window was decoded twice (a home-video track,
/// tiny.en-int8: 5 encoder passes where 3 do).
fn whole_frames_done(seek_samples: usize, window_samples: usize) -> usize {
    if window_samples.saturating_sub(seek_samples) < HOP {
        window_samples
    } else {
        seek_samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_consumed_to_its_last_frame_leaves_nothing_to_carry() {
        let window = 452_600; // 28.2875 s: 2828 whole frames and 120 samples
        assert_eq!(whole_frames_done(2828 * HOP, window), window);
        assert_eq!(whole_frames_done(window - HOP, window), window - HOP);
        assert_eq!(whole_frames_done(2500 * HOP, window), 2500 * HOP);
        assert_eq!(whole_frames_done(window + 5 * HOP, window), window);
    }

    #[test]
    fn a_cut_at_a_skipped_regions_start_keeps_the_regions_from_it_whole() {
        // Odd lengths and onsets: the span's start, in seconds, maps back to the junction.
        let regions = [
            Region {
                start: 12_345,
                end: 99_991,
                onset: 18_000,
            },
            Region {
                start: 160_007,
                end: 163_211,
                onset: 166_000,
            },
            Region {
                start: 400_001,
                end: 733_339,
                onset: 406_400,
            },
        ];
        let spans = TimelineMap::new(&regions).speech_spans();
        for (k, &(start, _)) in spans.iter().enumerate() {
            let (before, rest) = split_at(&regions, window_sample(start));
            assert_eq!((&before[..], &rest[..]), regions.split_at(k), "region {k}");
        }
    }
}
