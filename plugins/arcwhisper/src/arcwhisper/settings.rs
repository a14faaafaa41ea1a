// SPDX-License-Identifier: MIT OR Apache-2.0
//! The element's properties as plain values: what `imp.rs` reads and writes, and what the
//! supervisor needs to start a worker (`Start` request, restart limit, reply bound).

use crate::arcwhisper::ArcWhisperTask;
use std::time::Duration;
use subtitle_cues::CueOptions;
use worker_protocol::{DecodeSettings, Task, VadSettings};

pub const DEFAULT_DEVICE: &str = "CPU";
/// Largest first; each model's int8 variant (less memory, same accuracy within 0.5 WER points)
/// right after it, so that a tight budget walks base -> base-int8 -> tiny -> tiny-int8.
pub const DEFAULT_MODEL: &str = "medium,small,base-int8,base,tiny-int8,tiny";
pub const DEFAULT_RESTARTS: u32 = 3;
pub const DEFAULT_NO_SPEECH: f32 = 0.6;
/// Longest silence of a worker the element accepts while it waits for it (loading a model,
/// decoding a window): generous enough for a large model compiling on a slow CPU.
pub const DEFAULT_WORKER_TIMEOUT_S: u32 = 300;
/// Speech windows decoded together (the engine's `DecodeOptions::batch_size`); 0 leaves it to
/// the worker: 8 on a CPU with bf16 (AVX-512 BF16, AMX), 1 on an f32 CPU and on a card
/// (`whisper_engine::default_batch_size`).
pub const DEFAULT_BATCH_SIZE: u32 = 0;

/// The engine's speech-detection defaults (the reasons are in whisper-engine's `VadOptions`).
pub struct VadDefaults {
    pub threshold: f32,
    pub min_silence_ms: u32,
    pub speech_pad_ms: u32,
}
pub const DEFAULT_VAD: VadDefaults = VadDefaults {
    threshold: 0.5,
    min_silence_ms: 2000,
    speech_pad_ms: 400,
};

#[derive(Debug, Clone)]
pub struct Settings {
    pub device: String,
    pub model: String,
    pub language: String,
    pub task: ArcWhisperTask,
    pub max_memory: u64,
    pub cache_dir: Option<String>,
    pub worker_restarts: u32,
    pub worker_timeout_s: u32,
    pub worker_path: Option<String>,
    pub initial_prompt: Option<String>,
    pub no_speech_threshold: f32,
    pub latency: u64,
    pub preload: bool,
    /// Speech detection: `vad`, `vad-threshold`, `min-silence` and `speech-pad` (ms).
    pub vad: bool,
    pub vad_threshold: f32,
    pub min_silence_ms: u32,
    pub speech_pad_ms: u32,
    /// `batch-size`: speech windows decoded together.
    pub batch_size: u32,
    /// Cue shape (`max-line-length`, `max-lines`, `max-cue-duration`, `reading-speed`).
    pub cues: CueOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device: DEFAULT_DEVICE.into(),
            model: DEFAULT_MODEL.into(),
            language: String::new(),
            task: ArcWhisperTask::Transcribe,
            max_memory: 0,
            cache_dir: None,
            worker_restarts: DEFAULT_RESTARTS,
            worker_timeout_s: DEFAULT_WORKER_TIMEOUT_S,
            worker_path: None,
            initial_prompt: None,
            no_speech_threshold: DEFAULT_NO_SPEECH,
            latency: 0,
            preload: false,
            vad: true,
            vad_threshold: DEFAULT_VAD.threshold,
            min_silence_ms: DEFAULT_VAD.min_silence_ms,
            speech_pad_ms: DEFAULT_VAD.speech_pad_ms,
            batch_size: DEFAULT_BATCH_SIZE,
            cues: CueOptions::default(),
        }
    }
}

impl Settings {
    pub fn model_chain(&self) -> Vec<String> {
        self.model
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn worker_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.worker_timeout_s.max(1)))
    }

    pub fn decode_settings(&self) -> DecodeSettings {
        let lang = self.language.trim();
        DecodeSettings {
            language: if lang.is_empty() || lang.eq_ignore_ascii_case("auto") {
                None
            } else {
                Some(lang.to_string())
            },
            task: match self.task {
                ArcWhisperTask::Transcribe => Task::Transcribe,
                ArcWhisperTask::Translate => Task::Translate,
            },
            initial_prompt: self.initial_prompt.clone().filter(|s| !s.trim().is_empty()),
            no_speech_threshold: Some(self.no_speech_threshold),
            vad: self.vad.then_some(VadSettings {
                threshold: Some(self.vad_threshold),
                min_silence_ms: Some(self.min_silence_ms),
                speech_pad_ms: Some(self.speech_pad_ms),
                min_speech_ms: None,
            }),
            batch_size: (self.batch_size > 0).then_some(self.batch_size),
            ..Default::default()
        }
    }
}
