//! `arcwhisper-transcribe`: 16 kHz mono WAV or raw f32 -> SRT / text / JSON.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use whisper_engine::{DecodeOptions, EngineConfig, Segment, Task, VadOptions, WhisperModel};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Srt,
    Txt,
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "arcwhisper-transcribe",
    version,
    about = "Transcribe 16 kHz mono audio with Whisper on OpenVINO",
    after_help = "Input: a WAV file (16 kHz; several channels are averaged) or raw 16 kHz mono \
                  little-endian f32 (.f32). Convert anything else with\n  ffmpeg -i in.mp3 -ar 16000 -ac 1 out.wav"
)]
struct Args {
    /// input.wav or input.f32 (raw f32 LE, 16 kHz mono)
    input: PathBuf,
    /// Model name (tiny.en, base, ...) or a model folder
    #[arg(long, default_value = "tiny.en")]
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
    /// Write the result here instead of stdout
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "srt")]
    format: Format,
    /// Text only, no timestamp tokens
    #[arg(long)]
    without_timestamps: bool,
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
    /// Sampler seed for temperature > 0
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print timing statistics as JSON to stderr
    #[arg(long)]
    json: bool,
    /// Before the timed run, transcribe the first 5 s once (benchmarks: steady-state timing)
    #[arg(long)]
    warmup: bool,
}

fn read_audio(path: &Path) -> Result<Vec<f32>> {
    if !path.is_file() {
        bail!("input {} does not exist or is not a file", path.display());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "f32" || ext == "raw" {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.len() % 4 != 0 {
            bail!(
                "{}: {} bytes is not a whole number of f32 samples (raw 16 kHz mono f32 LE expected)",
                path.display(),
                bytes.len()
            );
        }
        return Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect());
    }
    let mut r = hound::WavReader::open(path).with_context(|| {
        format!(
            "{} is not a readable WAV file; convert it with: ffmpeg -i {} -ar 16000 -ac 1 out.wav",
            path.display(),
            path.display()
        )
    })?;
    let spec = r.spec();
    if spec.sample_rate != 16000 {
        bail!(
            "{} is {} Hz; 16000 Hz is required. Convert it with: ffmpeg -i {} -ar 16000 -ac 1 out.wav \
             (or gst-launch-1.0 ... ! audioresample ! audio/x-raw,rate=16000,channels=1 ! wavenc)",
            path.display(),
            spec.sample_rate,
            path.display()
        );
    }
    let ch = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    if ch == 1 {
        return Ok(samples);
    }
    Ok(samples
        .chunks(ch)
        .map(|c| c.iter().sum::<f32>() / ch as f32)
        .collect())
}

fn srt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

fn render(segments: &[Segment], format: Format, language: Option<&str>) -> String {
    match format {
        Format::Srt => {
            let mut s = String::new();
            for (i, seg) in segments.iter().enumerate() {
                s.push_str(&format!(
                    "{}\n{} --> {}\n{}\n\n",
                    i + 1,
                    srt_time(seg.start),
                    srt_time(seg.end),
                    seg.text.trim()
                ));
            }
            s
        }
        Format::Txt => {
            let mut s = segments
                .iter()
                .map(|x| x.text.trim())
                .collect::<Vec<_>>()
                .join("\n");
            s.push('\n');
            s
        }
        Format::Json => {
            let v = serde_json::json!({ "language": language, "segments": segments });
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
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
    let audio = read_audio(&args.input)?;
    let task: Task = args.task.parse()?;
    let dir = whisper_engine::find_model(&args.model)?;
    let cfg = EngineConfig {
        device: args.device.clone(),
        cache_dir: args.cache_dir.clone(),
        threads: args.threads,
    };
    let t_load = Instant::now();
    let mut model = WhisperModel::load(&dir, &cfg)?;
    let load_seconds = t_load.elapsed().as_secs_f64();
    let mut opts = DecodeOptions {
        language: args.language.clone(),
        task,
        initial_prompt: args.initial_prompt.clone(),
        without_timestamps: args.without_timestamps,
        condition_on_previous_text: !args.no_condition_on_previous_text,
        seed: args.seed,
        vad: (!args.no_vad).then(VadOptions::default),
        ..DecodeOptions::default()
    };
    if args.no_fallback {
        opts.temperatures = vec![0.0];
    }
    if args.warmup {
        let n = audio.len().min(16000 * 5);
        let w = DecodeOptions {
            temperatures: vec![0.0],
            ..opts.clone()
        };
        model.transcribe(&audio[..n], &w)?;
        model.reset_stats();
    }
    let t0 = Instant::now();
    let mut stream = model.stream(opts, None);
    let mut segments = stream.push(&audio)?;
    segments.extend(stream.finish()?);
    let language = stream.state().language;
    let wall = t0.elapsed().as_secs_f64();
    let text = render(&segments, args.format, language.as_deref());
    match &args.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    if args.json {
        let st = model.stats();
        let audio_seconds = audio.len() as f64 / 16000.0;
        let v = serde_json::json!({
            "model": model.name(),
            "device": model.device(),
            "language": language,
            "audio_seconds": audio_seconds,
            "wall_seconds": wall,
            "load_seconds": load_seconds,
            "rtf": if audio_seconds > 0.0 { wall / audio_seconds } else { 0.0 },
            "windows": st.windows,
            "mel_seconds": st.mel_seconds,
            "encoder_seconds": st.encoder_seconds,
            "decoder_seconds": st.decoder_seconds,
            "tokens": st.tokens,
            "decoder_calls": st.decoder_calls,
            "ms_per_token": if st.tokens > 0 { st.decoder_seconds * 1000.0 / st.tokens as f64 } else { 0.0 },
            "segments": segments.len(),
        });
        eprintln!("{v}");
    }
    Ok(())
}
