//! `--json`: timing statistics on stderr, one JSON line (the benchmarks read it).

use crate::transcribe::Transcript;
use whisper_engine::WhisperModel;

pub fn stats_line(
    model: &WhisperModel,
    audio_seconds: f64,
    load_seconds: f64,
    t: &Transcript,
) -> String {
    let st = model.stats();
    let per = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
    serde_json::json!({
        "model": model.name(),
        "device": model.device(),
        "precision": {
            "encoder": model.precision().encoder,
            "decoder": model.precision().decoder,
        },
        "language": t.language,
        "audio_seconds": audio_seconds,
        "wall_seconds": t.wall_seconds,
        "load_seconds": load_seconds,
        "rtf": per(t.wall_seconds, audio_seconds),
        "windows": st.windows,
        "mel_seconds": st.mel_seconds,
        "encoder_seconds": st.encoder_seconds,
        "decoder_seconds": st.decoder_seconds,
        "alignment_seconds": st.alignment_seconds,
        "vad_seconds": st.vad_seconds,
        "tokens": st.tokens,
        "decoder_calls": st.decoder_calls,
        "decoder_requests": st.decoder_requests,
        "prompt_seconds": st.prompt_seconds,
        "prompt_tokens": st.prompt_tokens,
        // Speech windows decoded again from a region Whisper skipped (coverage.rs).
        "redecoded_windows": st.redecoded_windows,
        "ms_per_token": per(st.decoder_seconds * 1000.0, st.tokens as f64),
        // A generated token's share of the decoder time once prompts and word timing are
        // taken out: the step and the sampling rules (language detection too when it ran),
        // the figure decoder_token_time.py measures for the step alone.
        "ms_per_step": per(
            (st.decoder_seconds - st.alignment_seconds - st.prompt_seconds) * 1000.0,
            st.tokens as f64
        ),
        "segments": t.segments.len(),
    })
    .to_string()
}
