//! Any audio or video file GStreamer can decode -> 16 kHz mono f32, through the pipeline of
//! `gst-file-audio`. The first audio stream is used; the others (video, ...) are not decoded,
//! only followed to see how far they reach (`reach.rs`).

use crate::progress::Progress;
use crate::reach::{self, Reach};
use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;
use gst_file_audio::downmix::StereoDownmix;
use gst_file_audio::{BuildError, FileAudio, NoAudio, Streams};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RATE: u32 = 16_000;

/// A decoder that yields no audio for this long has failed (decodebin drops some demuxer errors
/// while it is still autoplugging; the pipeline then never delivers anything).
const STALL: Duration = Duration::from_secs(30);

/// Sets the pipeline to NULL however decoding ends.
struct Running(gst::Pipeline);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// The whole audio of `path` as 16 kHz mono f32; a clear error naming the file otherwise. Audio
/// that ends well before the duration the file declares is an error (a truncated file must not
/// give a transcript that looks complete) unless `allow_partial`, then a warning.
pub fn decode_file(path: &Path, allow_partial: bool, progress: &mut Progress) -> Result<Vec<f32>> {
    check_input(path)?;
    if is_raw_f32(path) {
        return read_raw_f32(path);
    }
    gst::init().context("GStreamer failed to initialise")?;
    progress.note(&format!("decoding {}", path.display()));
    let t0 = Instant::now();
    let others_reach = Reach::default();
    let FileAudio {
        pipeline,
        appsink,
        streams,
    } = build(path, &others_reach)?;
    let running = Running(pipeline);
    if running.0.set_state(gst::State::Playing).is_err() {
        return Err(bus_error(path, &running.0)
            .unwrap_or_else(|| anyhow!("{}: GStreamer could not start decoding", path.display())));
    }
    let decoded = pull_all(path, &running.0, &appsink, &streams, progress)?;
    drop(running);
    progress.end();
    check_complete(
        path,
        &decoded,
        others_reach.seconds(),
        allow_partial,
        progress,
    )?;
    if let Some(note) = out_of_phase_note(&decoded.downmix) {
        progress.note(&note);
    }
    let samples = decoded.samples;
    if samples.is_empty() {
        bail!(
            "{}: its audio track holds no audio (0 samples decoded)",
            path.display()
        );
    }
    progress.note(&format!(
        "decoded {:.1} s of audio in {:.1} s",
        samples.len() as f64 / RATE as f64,
        t0.elapsed().as_secs_f64()
    ));
    Ok(samples)
}

/// A truncated file fails (or, with `allow_partial`, warns) rather than give a transcript that
/// looks complete.
fn check_complete(
    path: &Path,
    decoded: &Decoded,
    others_reach: f64,
    allow_partial: bool,
    progress: &Progress,
) -> Result<()> {
    let audio_seconds = decoded.samples.len() as f64 / RATE as f64;
    let declared = decoded.declared_seconds;
    let Some(short) = reach::shortfall(
        path,
        audio_seconds,
        others_reach,
        declared,
        &decoded.warnings,
    ) else {
        return Ok(());
    };
    if !allow_partial {
        bail!("{short}; --allow-partial transcribes what decodes");
    }
    progress.warn(&format!(
        "{short}; transcribing what decodes (--allow-partial)"
    ));
    Ok(())
}

/// Errors GStreamer would report less clearly (or not at all) for a path that is not a file.
fn check_input(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("input {} does not exist", path.display()),
        _ => anyhow!("cannot read input {}: {e}", path.display()),
    })?;
    if meta.is_dir() {
        bail!(
            "input {} is a folder; give one audio or video file",
            path.display()
        );
    }
    if !meta.is_file() {
        bail!(
            "input {} is not a regular file (a FIFO or device?)",
            path.display()
        );
    }
    std::fs::File::open(path).with_context(|| format!("cannot read input {}", path.display()))?;
    if meta.len() == 0 {
        bail!("input {} is empty (0 bytes)", path.display());
    }
    Ok(())
}

fn is_raw_f32(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("f32"))
}

/// Raw 16 kHz mono f32 LE (`.f32`): no container for GStreamer to recognise, so read directly.
fn read_raw_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() % 4 != 0 {
        bail!(
            "{}: {} bytes is not a whole number of f32 samples (.f32 means raw 16 kHz mono f32 LE)",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The decoding pipeline; the streams it does not use are followed to see how far they reach.
fn build(path: &Path, others_reach: &Reach) -> Result<FileAudio> {
    let reach = others_reach.clone();
    gst_file_audio::build(path, RATE, move |pad| reach.track(pad)).map_err(|e| match e {
        BuildError::Missing(factory) => anyhow!(
            "GStreamer element {factory} is missing (apt-get install gstreamer1.0-plugins-base)"
        ),
        BuildError::Link(e) => anyhow!("{}: {e}", path.display()),
    })
}

/// What a finished decode gives besides the samples: what the file declared, what GStreamer
/// warned about on the way.
#[derive(Default)]
struct Decoded {
    samples: Vec<f32>,
    declared_seconds: Option<f64>,
    warnings: Vec<String>,
    downmix: StereoDownmix,
}

/// Says how much of a stereo file was mixed from the channels' difference (a channel out of
/// phase: summed, its speech would have cancelled), when that is a tenth of it or more: blocks of
/// noise that happen to be anti-correlated in an ordinary recording are not worth a note.
fn out_of_phase_note(downmix: &StereoDownmix) -> Option<String> {
    let summary = downmix.summary(RATE)?;
    (downmix.inverted_frames() * 10 >= downmix.stereo_frames())
        .then(|| format!("the two channels are {summary} (summed, that speech would cancel)"))
}

fn pull_all(
    path: &Path,
    pipeline: &gst::Pipeline,
    appsink: &gst_app::AppSink,
    streams: &Arc<Mutex<Streams>>,
    progress: &mut Progress,
) -> Result<Decoded> {
    let mut decoded = Decoded::default();
    let mut last_audio = Instant::now();
    let mut started = false;
    loop {
        if let Some(sample) = appsink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            append(&mut decoded, &sample)?;
            last_audio = Instant::now();
            if !started {
                started = true;
                decoded.declared_seconds = duration_seconds(pipeline);
                progress.begin("decoding", decoded.declared_seconds.unwrap_or(0.0));
            }
            progress.update(decoded.samples.len() as f64 / RATE as f64);
            continue;
        }
        if let Some(e) = bus_error(path, pipeline) {
            return Err(no_audio_error(path, streams).unwrap_or(e));
        }
        decoded.warnings.extend(bus_warnings(pipeline));
        if appsink.is_eos() {
            if let Some(e) = no_audio_error(path, streams).filter(|_| decoded.samples.is_empty()) {
                return Err(e);
            }
            // Asked again at the end: parsers refine the duration as they read.
            decoded.declared_seconds = duration_seconds(pipeline).or(decoded.declared_seconds);
            return Ok(decoded);
        }
        if let Some(e) = no_audio_error(path, streams) {
            return Err(e);
        }
        if last_audio.elapsed() > STALL {
            bail!(
                "{}: decoding stalled, no audio for {} s (a corrupt or truncated file?)",
                path.display(),
                STALL.as_secs()
            );
        }
    }
}

fn duration_seconds(pipeline: &gst::Pipeline) -> Option<f64> {
    pipeline
        .query_duration::<gst::ClockTime>()
        .map(|d| d.seconds_f64())
}

fn append(decoded: &mut Decoded, sample: &gst::Sample) -> Result<()> {
    let buffer =
        gst_file_audio::mono_buffer(sample, &mut decoded.downmix).map_err(|e| anyhow!(e))?;
    let Some(buffer) = buffer else {
        return Ok(());
    };
    let map = buffer
        .map_readable()
        .context("mapping a decoded audio buffer")?;
    decoded
        .samples
        .extend(gst_file_audio::f32_samples(map.as_slice()));
    Ok(())
}

/// Every stream was exposed and none is decodable audio.
fn no_audio_error(path: &Path, streams: &Arc<Mutex<Streams>>) -> Option<anyhow::Error> {
    let no_audio = streams.lock().unwrap().no_audio()?;
    Some(match no_audio {
        NoAudio::Undecodable(_) => anyhow!("{}: {no_audio}", path.display()),
        NoAudio::NoTrack(_) => anyhow!("{}: {no_audio}; nothing to transcribe", path.display()),
    })
}

/// Warnings GStreamer posted since the last call (decoders skipping corrupt frames, ...).
fn bus_warnings(pipeline: &gst::Pipeline) -> Vec<String> {
    let Some(bus) = pipeline.bus() else {
        return Vec::new();
    };
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning]))
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

/// The first error on the bus, said in terms of the file.
fn bus_error(path: &Path, pipeline: &gst::Pipeline) -> Option<anyhow::Error> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    let gst::MessageView::Error(e) = msg.view() else {
        return None;
    };
    let err = e.error();
    let what = if err.kind::<gst::StreamError>() == Some(gst::StreamError::TypeNotFound) {
        "not an audio or video file GStreamer recognises"
    } else if err.kind::<gst::CoreError>() == Some(gst::CoreError::MissingPlugin)
        || err.kind::<gst::StreamError>() == Some(gst::StreamError::CodecNotFound)
    {
        "needs a GStreamer plugin that is not installed (apt-get install gstreamer1.0-libav \
         gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)"
    } else if matches!(
        err.kind::<gst::StreamError>(),
        Some(gst::StreamError::Decode | gst::StreamError::Demux | gst::StreamError::Format)
    ) {
        "cannot be decoded (corrupt or truncated?)"
    } else {
        "cannot be decoded"
    };
    // GStreamer's debug text names the element and source line: useful for a decoder's failure,
    // noise for a file that is simply not media.
    let type_not_found = err.kind::<gst::StreamError>() == Some(gst::StreamError::TypeNotFound);
    let detail = e
        .debug()
        .filter(|_| !type_not_found)
        .and_then(|d| d.lines().last().map(|l| format!(" ({})", l.trim())))
        .unwrap_or_default();
    Some(anyhow!("{}: {what}: {err}{detail}", path.display()))
}
