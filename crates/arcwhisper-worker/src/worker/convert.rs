//! Protocol types <-> engine types. One function per direction, so that a new setting or
//! segment field is one line here.

use whisper_engine::{DecodeOptions, Segment, StreamState};
use worker_protocol::{languages, DecodeSettings, ResumeState, SegmentMsg, Task, WordMsg};

/// The element's settings as engine options for the OpenVINO `device` (`None` fields keep the
/// engine's defaults; an unset batch size is the device's, `default_batch_size`).
#[allow(clippy::field_reassign_with_default)]
pub fn decode_options(s: &DecodeSettings, device: &str) -> DecodeOptions {
    let mut o = DecodeOptions::default();
    o.language = s.language.clone().filter(|l| !languages::is_auto(l));
    o.task = match s.task {
        Task::Transcribe => whisper_engine::Task::Transcribe,
        Task::Translate => whisper_engine::Task::Translate,
    };
    if s.initial_prompt.is_some() {
        o.initial_prompt = s.initial_prompt.clone();
    }
    if let Some(v) = s.no_speech_threshold {
        o.no_speech_threshold = Some(v);
    }
    if let Some(v) = s.log_prob_threshold {
        o.log_prob_threshold = Some(v);
    }
    if let Some(v) = s.compression_ratio_threshold {
        o.compression_ratio_threshold = Some(v);
    }
    if let Some(v) = s.condition_on_previous_text {
        o.condition_on_previous_text = v;
    }
    if let Some(v) = &s.temperatures {
        if !v.is_empty() {
            o.temperatures = v.clone();
        }
    }
    if let Some(v) = s.seed {
        o.seed = v;
    }
    // Without speech detection there are no batches: 1, so that the memory estimate and the
    // decoder's precision (`EngineConfig::batch_size`) do not plan for one.
    o.batch_size = match s.batch_size {
        Some(v) => v.max(1) as usize,
        None if s.vad.is_some() => whisper_engine::default_batch_size(device),
        None => 1,
    };
    o.vad = s.vad.as_ref().map(|v| {
        let d = whisper_engine::VadOptions::default();
        whisper_engine::VadOptions {
            threshold: v.threshold.unwrap_or(d.threshold),
            min_silence_ms: v.min_silence_ms.unwrap_or(d.min_silence_ms),
            speech_pad_ms: v.speech_pad_ms.unwrap_or(d.speech_pad_ms),
            min_speech_ms: v.min_speech_ms.unwrap_or(d.min_speech_ms),
            ..d
        }
    });
    o
}

pub fn to_engine_state(s: &ResumeState) -> StreamState {
    StreamState {
        seek_samples: s.seek_samples,
        prompt_tokens: s.prompt_tokens.clone(),
        language: s.language.clone(),
        last_speech_seconds: s.last_speech_seconds,
        // Written by this worker's engine; unreadable only if the element changed it.
        vad: s.vad.clone().and_then(|v| serde_json::from_value(v).ok()),
    }
}

pub fn from_engine_state(s: &StreamState) -> ResumeState {
    ResumeState {
        seek_samples: s.seek_samples,
        prompt_tokens: s.prompt_tokens.clone(),
        language: s.language.clone(),
        last_speech_seconds: s.last_speech_seconds,
        vad: s.vad.as_ref().and_then(|v| serde_json::to_value(v).ok()),
    }
}

pub fn segment_msg(s: &Segment) -> SegmentMsg {
    SegmentMsg {
        start: s.start,
        end: s.end,
        text: s.text.clone(),
        tokens: s.tokens.clone(),
        avg_logprob: s.avg_logprob,
        no_speech_prob: s.no_speech_prob,
        temperature: s.temperature,
        compression_ratio: s.compression_ratio,
        words: s
            .words
            .iter()
            .map(|w| WordMsg {
                start: w.start,
                end: w.end,
                word: w.word.clone(),
                probability: w.probability,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_settings_keep_the_engine_defaults() {
        let d = DecodeOptions::default();
        let o = decode_options(&DecodeSettings::default(), "CPU");
        assert_eq!(o.language, None);
        assert_eq!(o.temperatures, d.temperatures);
        assert_eq!(o.no_speech_threshold, d.no_speech_threshold);
        assert_eq!(o.seed, d.seed);
        assert_eq!(o.batch_size, 1, "no batches without speech detection");
        let vad = DecodeSettings {
            vad: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(
            decode_options(&vad, "CPU").batch_size,
            whisper_engine::default_batch_size("CPU"),
            "a CPU's default"
        );
        assert_eq!(
            decode_options(&vad, "GPU.1").batch_size,
            1,
            "a card's default"
        );
        let asked = DecodeSettings {
            batch_size: Some(1),
            ..Default::default()
        };
        assert_eq!(decode_options(&asked, "CPU").batch_size, 1);
        let o = decode_options(
            &DecodeSettings {
                language: Some("de".into()),
                task: Task::Translate,
                temperatures: Some(vec![]),
                seed: Some(7),
                ..Default::default()
            },
            "CPU",
        );
        assert_eq!(o.language.as_deref(), Some("de"));
        assert_eq!(o.task, whisper_engine::Task::Translate);
        assert_eq!(o.temperatures, d.temperatures);
        assert_eq!(o.seed, 7);
        let auto = DecodeSettings {
            language: Some("auto".into()),
            ..Default::default()
        };
        assert_eq!(decode_options(&auto, "CPU").language, None);
    }
}
