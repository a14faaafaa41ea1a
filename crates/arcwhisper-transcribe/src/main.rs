//! `arcwhisper-transcribe`: any audio or video file GStreamer decodes -> Whisper on OpenVINO ->
//! SRT / text / JSON. GStreamer decodes here; the engine crate never sees it.

mod decode;
mod output;
mod progress;
mod reach;
mod timing;
mod transcribe;

use anyhow::Result;
use clap::Parser;
use output::Format;
use progress::{Progress, Verbosity};
use std::path::PathBuf;
use std::time::Instant;
use subtitle_cues::CueOptions;
use whisper_engine::{
    default_batch_size, DecodeOptions, EngineConfig, SpeechProbabilities, Task, VadOptions,
    WhisperModel,
};

#[derive(Parser, Debug)]
#[command(
    name = "arcwhisper-transcribe",
    version,
    about = "Transcribe an audio or video file with Whisper on OpenVINO",
    after_help = "Input: any audio or video file GStreamer decodes (WAV, FLAC, MP3, Opus, AAC, MP4, \
                  MKV, WebM, ...; the first audio track is used), or raw 16 kHz mono f32 LE (.f32).\n\
                  Progress goes to stderr (a bar on a terminal, plain lines otherwise); the result \
                  to stdout or --output."
)]
struct Args {
    /// Audio or video file
    input: PathBuf,
    /// Model name (tiny.en-int8, tiny.en, base, base-int8, ...) or a model folder; the default
    /// int8 tiny.en is faster than tiny.en at the same or better WER
    #[arg(long, default_value = "tiny.en-int8")]
    model: String,
    /// OpenVINO device (CPU, GPU, AUTO, ...)
    #[arg(long, default_value = "CPU")]
    device: String,
    /// Language code (multilingual models); detected when omitted
    #[arg(long)]
    language: Option<String>,
    /// transcribe or translate (to English)
    #[arg(long, default_value = "transcribe")]
    task: String,
    /// Text to condition the first window on
    #[arg(long)]
    initial_prompt: Option<String>,
    /// INFERENCE_NUM_THREADS for the CPU
    #[arg(long)]
    threads: Option<usize>,
    /// OpenVINO cache folder (default $ARCWHISPER_HOME/cache)
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Write the result here (atomically) instead of stdout
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Output format [default: from the --output extension, else srt]
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Subtitles (srt, vtt): characters per line; a longer single word gets a line of its own
    #[arg(long, default_value_t = CueOptions::default().max_line_length)]
    max_line_length: usize,
    /// Subtitles: lines per cue
    #[arg(long, default_value_t = CueOptions::default().max_lines)]
    max_lines: usize,
    /// Subtitles: longest time one cue stays on screen, seconds
    #[arg(long, default_value_t = CueOptions::default().max_cue_duration)]
    max_cue_duration: f64,
    /// Subtitles: characters per second a viewer reads; short cues stay up longer, but only
    /// into the silence after them
    #[arg(long, default_value_t = CueOptions::default().min_reading_cps)]
    reading_speed: f64,
    /// Text only, no timestamp tokens
    #[arg(long)]
    without_timestamps: bool,
    /// Segment times only, no word timing (no alignment pass: faster; subtitles then keep
    /// Whisper's segments instead of cues shaped at word boundaries)
    #[arg(long)]
    no_word_timestamps: bool,
    /// Only temperature 0 (no fallback)
    #[arg(long)]
    no_fallback: bool,
    /// Do not condition a window on the previous window's text
    #[arg(long)]
    no_condition_on_previous_text: bool,
    /// Decode only the speech Silero VAD finds (the default)
    #[arg(long, overrides_with = "no_vad")]
    vad: bool,
    /// Decode all audio in 30 s windows (no speech detection)
    #[arg(long, overrides_with = "vad")]
    no_vad: bool,
    /// Speech detection: speech probability (0-1) that starts speech
    #[arg(long, default_value_t = VadOptions::default().threshold, value_parser = unit_interval)]
    vad_threshold: f32,
    /// Speech detection: silence (ms) that ends a stretch of speech; shorter pauses stay in it
    #[arg(long, default_value_t = VadOptions::default().min_silence_ms)]
    min_silence: u32,
    /// Speech detection: audio (ms) kept before and after each stretch of speech
    #[arg(long, default_value_t = VadOptions::default().speech_pad_ms)]
    speech_pad: u32,
    /// With speech detection: decode the speech windows with Whisper's timestamp tokens, as
    /// before 2026-12 (slower; the words' times are the subtitles' times either way)
    #[arg(long)]
    timestamp_tokens: bool,
    /// With speech detection: condition each speech window on the previous window's text, as
    /// before 2026-12-03 (slower; by default every window is decoded on the initial prompt alone)
    #[arg(long)]
    condition_speech_windows: bool,
    /// With speech detection: decode this many speech windows together (batched windows are not
    /// conditioned on earlier windows' text); 1 decodes each as it closes. Default: 8 on a CPU
    /// with bf16 (AVX-512 BF16, AMX), 1 on an f32 CPU and other devices (the fastest measured
    /// on each, BENCHMARKS.md)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=32))]
    batch_size: Option<u16>,
    /// Sampler seed for temperature > 0
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print timing statistics as one JSON line on stderr (last line)
    #[arg(long)]
    json: bool,
    /// Before the timed run, transcribe the first 5 s once (benchmarks: steady-state timing)
    #[arg(long)]
    warmup: bool,
    /// A file that ends before the duration it declares (truncated, corrupt): transcribe what
    /// decodes, with a warning, instead of failing
    #[arg(long)]
    allow_partial: bool,
    /// No progress and no notes on stderr (errors and --json still)
    #[arg(long, short, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print each segment as it is decoded, and the model's details
    #[arg(long, short)]
    verbose: bool,
}

impl Args {
    fn verbosity(&self) -> Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }

    fn decode_options(&self) -> Result<DecodeOptions> {
        let task: Task = self.task.parse()?;
        let mut opts = DecodeOptions {
            language: self.language.clone(),
            task,
            initial_prompt: self.initial_prompt.clone(),
            without_timestamps: self.without_timestamps,
            word_timestamps: !self.no_word_timestamps,
            condition_on_previous_text: !self.no_condition_on_previous_text,
            seed: self.seed,
            vad: (!self.no_vad).then(|| self.vad_options()),
            batch_size: self.batch_size(),
            ..DecodeOptions::default()
        };
        if self.no_fallback {
            opts.temperatures = vec![0.0];
        }
        Ok(opts)
    }

    /// `--batch-size`, else the device's default; 1 without speech detection (no batches, so
    /// that the decoder's precision does not plan for one).
    fn batch_size(&self) -> usize {
        match self.batch_size {
            _ if self.no_vad => 1,
            Some(b) => usize::from(b),
            None => default_batch_size(&self.device),
        }
    }

    fn vad_options(&self) -> VadOptions {
        VadOptions {
            threshold: self.vad_threshold,
            min_silence_ms: self.min_silence,
            speech_pad_ms: self.speech_pad,
            timestamp_tokens: self.timestamp_tokens,
            condition_on_previous_window: self.condition_speech_windows,
            ..VadOptions::default()
        }
    }

    fn cue_options(&self) -> CueOptions {
        CueOptions {
            max_line_length: self.max_line_length,
            max_lines: self.max_lines,
            max_cue_duration: self.max_cue_duration,
            min_reading_cps: self.reading_speed,
            ..CueOptions::default()
        }
    }

    fn format(&self) -> Format {
        self.format
            .or_else(|| self.output.as_deref().and_then(Format::from_extension))
            .unwrap_or(Format::Srt)
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("arcwhisper-transcribe: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let mut progress = Progress::new(args.verbosity());
    // Cheap checks first: a bad option or a missing model fails before any decoding.
    let opts = args.decode_options()?;
    let model_dir = whisper_engine::find_model(&args.model)?;
    // The model compiles while GStreamer decodes the file; Silero then finds its speech on a
    // thread of its own, during the rest of the compile and beside the encoder and decoder.
    let (audio, ahead, loaded) = std::thread::scope(|s| {
        let loading = s.spawn(|| {
            let t_load = Instant::now();
            load_model(&args, &model_dir).map(|m| (m, t_load.elapsed().as_secs_f64()))
        });
        let audio = decode::decode_file(&args.input, args.allow_partial, &mut progress)
            .map(std::sync::Arc::new);
        let ahead = match (&audio, &opts.vad) {
            (Ok(a), Some(_)) => Some(SpeechProbabilities::spawn_compute(a.clone())),
            _ => None,
        };
        (audio, ahead, loading.join())
    });
    let audio = audio?;
    let (mut model, load_seconds) =
        loaded.map_err(|_| anyhow::anyhow!("loading the model panicked"))??;
    let audio_seconds = audio.len() as f64 / decode::RATE as f64;
    progress.note(&format!(
        "model {} on {} loaded in {load_seconds:.1} s",
        model.name(),
        model.device()
    ));
    progress.detail(&format!("model folder {}", model_dir.display()));
    progress.detail(&format!("precision {}", model.precision().describe()));
    if args.warmup {
        warm_up(&mut model, &audio, &opts)?;
    }

    let transcript = transcribe::transcribe(&mut model, &audio, opts, ahead, &mut progress)?;
    progress.note(&format!(
        "transcribed {audio_seconds:.1} s of audio in {:.1} s ({} segments, language {})",
        transcript.wall_seconds,
        transcript.segments.len(),
        transcript.language.as_deref().unwrap_or("?")
    ));
    let text = output::render(
        &transcript.segments,
        args.format(),
        transcript.language.as_deref(),
        &output::Subtitles {
            audio_seconds,
            cues: args.cue_options(),
        },
    )?;
    output::write(args.output.as_deref(), &text)?;
    if let Some(p) = &args.output {
        progress.note(&format!("wrote {}", p.display()));
    }
    if args.json {
        eprintln!(
            "{}",
            timing::stats_line(&model, audio_seconds, load_seconds, &transcript)
        );
    }
    // The process ends here: the OS frees the compiled model at once, OpenVINO's teardown took
    // ~35 ms of every run (the output is already written and renamed).
    std::mem::forget(model);
    Ok(())
}

fn load_model(args: &Args, dir: &std::path::Path) -> Result<WhisperModel> {
    let cfg = EngineConfig {
        device: args.device.clone(),
        cache_dir: args.cache_dir.clone(),
        threads: args.threads,
        batch_size: args.batch_size(),
        ..EngineConfig::default()
    };
    Ok(WhisperModel::load(dir, &cfg)?)
}

/// Benchmarks: one short run so that the timed run sees compiled, warm kernels.
fn warm_up(model: &mut WhisperModel, audio: &[f32], opts: &DecodeOptions) -> Result<()> {
    let n = audio.len().min(decode::RATE as usize * 5);
    let warm = DecodeOptions {
        temperatures: vec![0.0],
        ..opts.clone()
    };
    model.transcribe(&audio[..n], &warm)?;
    model.reset_stats();
    Ok(())
}

/// A probability argument: 0 to 1.
fn unit_interval(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}
