//! `whisper_engine`: OpenAI Whisper on Intel OpenVINO, with no GStreamer.
//!
//! 16 kHz mono `f32` in, timed segments out. The decoding follows faster-whisper's rules
//! (greedy with a KV cache, Whisper's timestamp rules, suppressed tokens, no-speech
//! probability, temperature fallback, long-form seeking over 30 s windows, language detection,
//! translate, initial prompt), and is deterministic.
//!
//! ```no_run
//! use whisper_engine::{DecodeOptions, EngineConfig, WhisperModel};
//! let dir = whisper_engine::find_model("tiny.en")?;
//! let mut model = WhisperModel::load(&dir, &EngineConfig::default())?;
//! let audio = vec![0f32; 16000];
//! for s in model.transcribe(&audio, &DecodeOptions::default())? {
//!     println!("{:.2} --> {:.2} {}", s.start, s.end, s.text);
//! }
//! # Ok::<(), whisper_engine::Error>(())
//! ```

mod alignment;
mod batch;
mod config;
mod coverage;
mod decode;
mod decode_attention;
mod dtw;
mod error;
mod hallucination;
mod heap;
mod median_filter;
pub mod mel;
mod ov;
mod precision;
mod repeat_guard;
mod runtime;
mod sentence_split;
mod silence_split;
mod softmax;
mod speech_regions;
mod speech_stream;
mod stream;
#[cfg(test)]
mod test_segments;
mod timeline;
mod token_budget;
pub mod vad;
mod vad_ahead;
mod vad_level;
mod vad_mirror;

pub use error::{Error, Result};
pub use precision::{cpuinfo_has_native_bf16, CpuCapabilities, DecoderUse, Precision};
pub use runtime::{
    arcwhisper_home, find_model, load_runtime, model_name_candidates, model_search_dirs,
    INT8_SUFFIX,
};
pub use speech_regions::{Region, RegionTracker, VadOptions};
pub use speech_stream::{Stream, VadState};
pub use timeline::{Edge, TimelineMap};
pub use vad_ahead::SpeechProbabilities;
pub use vad_mirror::VadMirror;

use config::{GenerationConfig, ModelConfig, SpecialTokens};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how to run the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// OpenVINO device name: "CPU", "GPU", "AUTO", ...
    pub device: String,
    /// OpenVINO `CACHE_DIR`; default `$ARCWHISPER_HOME/cache`.
    pub cache_dir: Option<PathBuf>,
    /// OpenVINO `INFERENCE_NUM_THREADS` (CPU only); default: OpenVINO's choice.
    pub threads: Option<usize>,
    /// The decoder's precision (`f32`, `bf16`, `f16`) instead of the machine's choice (tests
    /// comparing paths at one precision); `ARCWHISPER_DECODER_PRECISION` and
    /// `ARCWHISPER_INFERENCE_PRECISION` still win.
    pub decoder_precision: Option<String>,
    /// The batch size the streams of this model will use (`DecodeOptions::batch_size`): on a
    /// CPU with bf16, an IR from before converter 1.8.0 then gets an f32 decoder (`precision.rs`).
    pub batch_size: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            device: "CPU".into(),
            cache_dir: None,
            threads: None,
            decoder_precision: None,
            batch_size: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    #[default]
    Transcribe,
    Translate,
}

impl std::str::FromStr for Task {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "transcribe" => Ok(Task::Transcribe),
            "translate" => Ok(Task::Translate),
            _ => Err(Error::Options(format!(
                "unknown task '{s}' (transcribe or translate)"
            ))),
        }
    }
}

/// Decoding options; the defaults are faster-whisper's (greedy: beam_size = best_of = 1).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DecodeOptions {
    /// Language code ("en", "de", ...); `None` detects it on the first window (multilingual
    /// models). English-only models always use "en".
    pub language: Option<String>,
    pub task: Task,
    pub initial_prompt: Option<String>,
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: Option<f32>,
    pub log_prob_threshold: Option<f32>,
    pub no_speech_threshold: Option<f32>,
    pub condition_on_previous_text: bool,
    pub prompt_reset_on_temperature: f32,
    pub without_timestamps: bool,
    pub max_initial_timestamp: f32,
    pub suppress_blank: bool,
    /// Token ids to suppress; -1 expands to the model's list (generation_config.json).
    pub suppress_tokens: Vec<i64>,
    /// Seed of the sampler at temperature > 0 (combined with the window's seek).
    pub seed: u64,
    /// Word timestamps from the alignment heads (models without them: segment timing, a warning).
    pub word_timestamps: bool,
    /// With word timestamps: drop a possible hallucination (improbable, too short or too long
    /// words) surrounded by at least this much silence (seconds), and skip the silence before it.
    pub hallucination_silence_threshold: Option<f32>,
    /// Punctuation merged into the following word / the preceding word (word timestamps).
    pub prepend_punctuations: String,
    pub append_punctuations: String,
    /// Speech detection: only the speech regions Silero finds are decoded (`None`: the whole
    /// audio, in 30 s windows).
    pub vad: Option<VadOptions>,
    /// With speech detection: closed windows decoded together, this many at a time (see
    /// `batch.rs`); batched windows are conditioned on the initial prompt only, never on an
    /// earlier window's text (as faster-whisper's batched pipeline). 1 (or 0) decodes each
    /// window as it closes (on the initial prompt too, unless
    /// `VadOptions::condition_on_previous_window`). The CLI and the worker default
    /// to [`default_batch_size`] for their device.
    pub batch_size: usize,
}

/// Speech windows decoded together when the caller leaves it to the device: 8 on a CPU that
/// computes bf16 natively (AVX-512 BF16 or AMX), the fastest setting measured there for both
/// int8 models with a WER within 0.11 points of 1 (BENCHMARKS.md, "The default batch size");
/// 1 on a CPU that runs f32, where a batch saves little or nothing: every row reads its own
/// cross-attention keys and values each step (18 MB for tiny.en, 37 MB for base in f32), and
/// batched windows cannot carry their unfinished ends into the next (AVX2 EPYC, two runs of
/// 20 home-video tracks: base-int8 7-8 % faster at 1 than at 8, tiny.en-int8 within 2 % either
/// way, mean WER 8.74 / 9.73 against 9.03 / 9.90 %: BENCHMARKS.md, top section); 1 on other
/// devices, where batches are unmeasured.
pub fn default_batch_size(device: &str) -> usize {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    batch_size_for(device, &cpuinfo)
}

fn batch_size_for(device: &str, cpuinfo: &str) -> usize {
    let cpu = device
        .get(..3)
        .is_some_and(|d| d.eq_ignore_ascii_case("CPU"));
    if cpu && precision::cpuinfo_has_native_bf16(cpuinfo) {
        8
    } else {
        1
    }
}

impl DecodeOptions {
    /// Whether windows are decoded in batches: speech detection on and `batch_size` > 1.
    pub fn decodes_in_batches(&self) -> bool {
        self.vad.is_some() && self.batch_size > 1
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            language: None,
            task: Task::Transcribe,
            initial_prompt: None,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            log_prob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: true,
            prompt_reset_on_temperature: 0.5,
            without_timestamps: false,
            max_initial_timestamp: 1.0,
            suppress_blank: true,
            suppress_tokens: vec![-1],
            seed: 0,
            word_timestamps: true,
            // Home video is mostly room noise and long quiet stretches, where Whisper invents
            // text; 2 s of silence around an anomalous segment is a pause no real exchange of
            // short words has, and stays well below the gaps between utterances.
            hallucination_silence_threshold: Some(2.0),
            prepend_punctuations: "\"'“¿([{-".into(),
            append_punctuations: "\"'.。,，!！?？:：”)]}、".into(),
            vad: None,
            batch_size: 1,
        }
    }
}

/// A transcribed segment; times in seconds from the start of the stream. With word timestamps
/// its start and end are those of its words.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub temperature: f32,
    pub compression_ratio: f32,
    /// Empty when word timestamps are off or the model has no alignment output.
    #[serde(default)]
    pub words: Vec<Word>,
}

impl Segment {
    /// Words `from..to` as a segment of their own: it spans them, its text is theirs, and its
    /// `tokens` are empty (which tokens make which word is not kept); scores stay.
    pub(crate) fn words_part(&self, from: usize, to: usize) -> Segment {
        let words = self.words[from..to].to_vec();
        Segment {
            start: words[0].start,
            end: words[words.len() - 1].end,
            text: words.iter().map(|w| w.word.as_str()).collect(),
            tokens: Vec::new(),
            words,
            ..self.clone()
        }
    }
}

/// A word with its time (seconds from the start of the stream); `word` keeps its leading space
/// and the punctuation merged into it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub word: String,
    /// Mean probability of the word's tokens.
    pub probability: f32,
}

/// Where a stream is: enough to resume it in a new process (see the resumability contract).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct StreamState {
    /// Absolute sample index (16 kHz) of the next window's start.
    pub seek_samples: u64,
    /// Previous-text tokens for the next window's prompt (at most the last 223 are used).
    pub prompt_tokens: Vec<u32>,
    /// The language in use (detected on the first window, or given).
    pub language: Option<String>,
    /// End of the last word emitted (seconds): the word-timing rules for the first word after
    /// a pause and the hallucination rules look back to it.
    #[serde(default)]
    pub last_speech_seconds: f64,
    /// Speech detection's own state (streams with `DecodeOptions::vad`).
    #[serde(default)]
    pub vad: Option<VadState>,
}

/// Time spent and work done, for benchmarks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stats {
    pub windows: u64,
    pub encoder_seconds: f64,
    pub decoder_seconds: f64,
    /// The part of `decoder_seconds` spent in word timing (forced-alignment passes, DTW).
    pub alignment_seconds: f64,
    pub mel_seconds: f64,
    /// Tokens sampled (EOT included), over all temperature attempts.
    pub tokens: u64,
    pub decoder_calls: u64,
    /// The part of `decoder_seconds` spent on prompts (each attempt's first call, with a fresh
    /// request's cross-attention K/V), and the prompt tokens those calls ran.
    pub prompt_seconds: f64,
    pub prompt_tokens: u64,
    /// Fresh decoder requests: each computes its window's cross-attention K/V. One per window
    /// with a rewinding IR; one per pass (attempt, word timing, language detection) before.
    pub decoder_requests: u64,
    /// Time in speech detection, and the audio it passed to Whisper (16 kHz samples).
    pub vad_seconds: f64,
    /// VAD blocks the stream read from probabilities computed apart ([`SpeechProbabilities`])
    /// instead of running Silero itself.
    pub vad_blocks_ahead: u64,
    pub speech_samples: u64,
    /// Windows decoded again from a speech region Whisper skipped (`coverage.rs`).
    pub redecoded_windows: u64,
}

impl Stats {
    /// What one decoding (a window's attempt, or a batch's first attempts) counted.
    pub(crate) fn add_decoding(&mut self, c: &decode::DecodeCounters) {
        self.tokens += c.tokens;
        self.decoder_calls += c.forward_calls;
        self.prompt_tokens += c.prompt_tokens;
        self.prompt_seconds += c.prompt_seconds;
    }
}

/// A loaded Whisper model (encoder + decoder IR compiled for one device).
pub struct WhisperModel {
    name: String,
    dir: PathBuf,
    tokenizer: tokenizers::Tokenizer,
    special: SpecialTokens,
    config: ModelConfig,
    vocab_size: usize,
    ov: ov::OvWhisper,
    /// The decoder IR rewinds: one request serves every pass over a window (`ov/window_decoder.rs`).
    decoder_rewinds: bool,
    /// Word timing from the decode's own alignment scores (`decode_attention.rs`); off: the
    /// forced-alignment pass, for tests that compare the two.
    words_from_decode: bool,
    mel: mel::LogMel,
    stats: Stats,
    /// Silero VAD, loaded when a stream first runs it itself (one fed probabilities computed
    /// apart runs it only for a block they lack).
    vad: Option<vad::SileroVad>,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("device", &self.ov.device)
            .finish()
    }
}

fn read_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        msg: format!("cannot be parsed ({e}); re-run tools/setup.sh to rewrite it"),
    })
}

impl WhisperModel {
    /// Whether decoding with `opts` gives words their times (the option, and an IR with the
    /// alignment output).
    pub(crate) fn times_words(&self, opts: &DecodeOptions) -> bool {
        opts.word_timestamps && self.ov.alignment_heads > 0
    }

    /// Load a model folder (optimum-intel layout) and compile it for `cfg.device`.
    pub fn load(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Model {
                path: dir.to_path_buf(),
                msg: format!(
                    "no such model folder. Run tools/setup.sh to convert tiny.en and base, or \
                     give a folder exported with `optimum-cli export openvino`. Model names are \
                     looked up in: {}",
                    runtime::model_search_dirs()
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let config = ModelConfig::read(dir)?;
        let gen = GenerationConfig::read(dir)?;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(Error::Model {
                path: tok_path,
                msg: "is missing; re-run tools/setup.sh (the converter writes it)".into(),
            });
        }
        let cache_dir = cfg
            .cache_dir
            .clone()
            .unwrap_or_else(|| runtime::arcwhisper_home().join("cache"));
        // Parsing tokenizer.json (~90 ms) overlaps compiling the model.
        let (tokenizer, ov) = std::thread::scope(|s| {
            let tokenizer = s.spawn(|| read_tokenizer(&tok_path));
            let ov = ov::OvWhisper::load(dir, cfg, &cache_dir, config.num_mel_bins);
            (tokenizer.join(), ov)
        });
        let tokenizer = tokenizer.map_err(|_| Error::Model {
            path: tok_path.clone(),
            msg: "reading it panicked; re-run tools/setup.sh to rewrite it".into(),
        })??;
        let ov = ov?;
        let special = SpecialTokens::resolve(&tokenizer, &gen, &tok_path)?;
        let vocab_size = if config.vocab_size > 0 {
            config.vocab_size
        } else {
            tokenizer.get_vocab_size(true)
        };
        if ov.alignment_heads == 0 {
            eprintln!(
                "whisper-engine: {} has no alignment output ({}); words get no timestamps and \
                 segments keep Whisper's own timing. Re-convert it with tools/convert \
                 (tools/setup.sh does) for word timestamps",
                dir.display(),
                ov::ALIGNMENT_OUTPUT
            );
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            tokenizer,
            special,
            mel: mel::LogMel::new(config.num_mel_bins),
            config,
            vocab_size,
            ov,
            decoder_rewinds: config::decoder_rewinds(dir),
            words_from_decode: true,
            stats: Stats::default(),
            vad: None,
        })
    }

    pub fn is_multilingual(&self) -> bool {
        self.special.multilingual
    }

    /// The model's name (its folder name, e.g. "tiny.en").
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The OpenVINO device the model was compiled for.
    pub fn device(&self) -> &str {
        &self.ov.device
    }

    /// The precision the encoder and the decoder were compiled with, and why.
    pub fn precision(&self) -> &Precision {
        &self.ov.precision
    }

    /// Number of mel bins the encoder expects (80 or 128).
    pub fn n_mels(&self) -> usize {
        self.mel.n_mels()
    }

    /// Accumulated timing statistics since load (or the last `reset_stats`).
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether this model compiled its own Silero VAD (tests: a stream fed probabilities
    /// computed apart compiles it only for a block they lack).
    #[doc(hidden)]
    pub fn runs_own_vad(&self) -> bool {
        self.vad.is_some()
    }

    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Transcribe a whole recording (16 kHz mono). Same code path as [`Stream`].
    pub fn transcribe(
        &mut self,
        audio_16k_mono: &[f32],
        opts: &DecodeOptions,
    ) -> Result<Vec<Segment>> {
        let mut s = self.stream(opts.clone(), None);
        let mut out = s.push(audio_16k_mono)?;
        out.extend(s.finish()?);
        Ok(out)
    }

    /// A streaming transcription; `resume` continues from a saved [`StreamState`] (feed it the
    /// audio from `state.seek_samples` on).
    pub fn stream(&mut self, opts: DecodeOptions, resume: Option<StreamState>) -> Stream<'_> {
        Stream::new(self, opts, resume, None)
    }

    /// A stream ([`WhisperModel::stream`]) with speech detection (`opts.vad`) that reads the
    /// speech probabilities computed apart ([`SpeechProbabilities::compute`] before, its
    /// `spawn_compute` beside the stream, or a [`VadMirror`] fed the same audio) instead of
    /// running the VAD where it can; the result is the same as [`WhisperModel::stream`]'s.
    pub fn stream_with_speech(
        &mut self,
        opts: DecodeOptions,
        resume: Option<StreamState>,
        ahead: SpeechProbabilities,
    ) -> Stream<'_> {
        Stream::new(self, opts, resume, Some(ahead))
    }

    /// Text of tokens (timestamps and special tokens dropped).
    pub fn decode_text(&self, tokens: &[u32]) -> Result<String> {
        let text: Vec<u32> = tokens
            .iter()
            .copied()
            .filter(|&t| t < self.special.eot)
            .collect();
        self.tokenizer
            .decode(&text, true)
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Whether one decoder request serves every pass over a window (language detection,
    /// temperature fallback, word timing): the model's decoder IR rewinds (converter 1.3.0).
    #[doc(hidden)]
    pub fn decoder_rewinds(&self) -> bool {
        self.decoder_rewinds
    }

    /// Turn the request reuse off (`false`: a fresh request per pass, as for older IRs) or back
    /// on where the IR allows it. For tests that compare the two paths.
    #[doc(hidden)]
    pub fn set_decoder_rewinds(&mut self, on: bool) {
        self.decoder_rewinds = on && config::decoder_rewinds(&self.dir);
    }

    /// Time words from the decode's own alignment scores (the default) or, `false`, by the
    /// forced-alignment pass over the text. For tests that compare the two.
    #[doc(hidden)]
    pub fn set_words_from_decode(&mut self, on: bool) {
        self.words_from_decode = on;
    }

    /// Alignment heads whose scores a decode keeps for word timing (0: none, the forced pass).
    pub(crate) fn decode_alignment_heads(&self, opts: &DecodeOptions) -> usize {
        if self.words_from_decode && self.times_words(opts) {
            self.ov.alignment_heads
        } else {
            0
        }
    }

    /// The decoder of one window's encoder output: see [`ov::WindowDecoder`].
    pub(crate) fn window_decoder<'e>(
        &self,
        encoder_out: &'e openvino::Tensor,
    ) -> ov::WindowDecoder<'e> {
        ov::WindowDecoder::new(encoder_out, self.decoder_rewinds)
    }

    /// Load the speech-detection model if it is not loaded yet.
    pub(crate) fn ensure_vad(&mut self) -> Result<()> {
        if self.vad.is_none() {
            self.vad = Some(vad::SileroVad::load()?);
        }
        Ok(())
    }

    pub(crate) fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    pub(crate) fn add_time(&mut self, which: u8, d: Duration) {
        let s = d.as_secs_f64();
        match which {
            0 => self.stats.mel_seconds += s,
            1 => self.stats.encoder_seconds += s,
            _ => self.stats.decoder_seconds += s,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn model_is_send() {
        fn is_send<T: Send>() {}
        is_send::<super::WhisperModel>();
        is_send::<super::StreamState>();
    }

    #[test]
    fn a_bf16_cpu_decodes_in_batches_of_eight_an_f32_cpu_and_other_devices_one_by_one() {
        let flags = |f: &str| format!("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma {f}\n");
        for bf16 in [flags("avx512f avx512_bf16"), flags("amx_bf16 amx_tile")] {
            for cpu in ["CPU", "cpu", "CPU.0"] {
                assert_eq!(super::batch_size_for(cpu, &bf16), 8, "{cpu} {bf16}");
            }
            for other in ["GPU", "GPU.1", "AUTO", "NPU", ""] {
                assert_eq!(super::batch_size_for(other, &bf16), 1, "{other}");
            }
        }
        for f32_cpu in [flags(""), flags("avx512f avx512_vnni"), String::new()] {
            assert_eq!(super::batch_size_for("CPU", &f32_cpu), 1, "{f32_cpu}");
        }
    }
}
