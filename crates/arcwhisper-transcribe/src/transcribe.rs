//! The engine's stream fed window by window, so that progress (and `--verbose` segments) can be
//! shown as the work goes; the segments are those of one `push` of the whole audio.

use crate::decode::RATE;
use crate::progress::Progress;
use anyhow::Result;
use std::time::Instant;
use whisper_engine::{DecodeOptions, Segment, SpeechProbabilities, WhisperModel};

/// One window of audio: a push decodes at most one window, then progress is shown.
const CHUNK: usize = 30 * RATE as usize;

pub struct Transcript {
    pub segments: Vec<Segment>,
    pub language: Option<String>,
    pub wall_seconds: f64,
}

pub fn transcribe(
    model: &mut WhisperModel,
    audio: &[f32],
    opts: DecodeOptions,
    ahead: Option<SpeechProbabilities>,
    progress: &mut Progress,
) -> Result<Transcript> {
    let t0 = Instant::now();
    let total = audio.len() as f64 / RATE as f64;
    progress.begin("transcribing", total);
    let mut stream = match ahead {
        Some(a) => model.stream_with_speech(opts, None, a),
        None => model.stream(opts, None),
    };
    let mut segments = Vec::new();
    for chunk in audio.chunks(CHUNK) {
        let new = stream.push(chunk)?;
        show(progress, &new);
        segments.extend(new);
        progress.update(stream.state().seek_samples as f64 / RATE as f64);
    }
    let new = stream.finish()?;
    show(progress, &new);
    segments.extend(new);
    let language = stream.state().language;
    progress.update(total);
    progress.end();
    Ok(Transcript {
        segments,
        language,
        wall_seconds: t0.elapsed().as_secs_f64(),
    })
}

/// `--verbose`: each segment as it is decoded, as openai-whisper prints them.
fn show(progress: &Progress, segments: &[Segment]) {
    for s in segments {
        progress.detail(&format!(
            "[{} --> {}] {}",
            clock(s.start),
            clock(s.end),
            s.text.trim()
        ));
    }
}

/// mm:ss.mmm
fn clock(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}
