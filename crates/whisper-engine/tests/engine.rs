//! The engine on real models and real speech. The models must be installed (tools/setup.sh):
//! when they are not, these tests fail and say so.

mod common;

use common::*;
use whisper_engine::{DecodeOptions, Segment, Task};

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

#[test]
fn runtime_loads_and_is_idempotent() {
    let a = whisper_engine::load_runtime().expect("OpenVINO runtime (run tools/setup.sh)");
    let b = whisper_engine::load_runtime().unwrap();
    assert_eq!(a, b);
    assert!(a.to_string_lossy().contains("openvino_c"));
    // openvino's own loader must now be satisfied.
    openvino::Core::new().expect("Core::new after load_runtime");
}

#[test]
fn missing_and_corrupt_models_are_clear_errors() {
    let cfg = whisper_engine::EngineConfig::default();
    let e = whisper_engine::WhisperModel::load(std::path::Path::new("/nonexistent/tiny.en"), &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent/tiny.en") && e.contains("setup.sh"),
        "{e}"
    );

    let e = whisper_engine::find_model("no-such-model")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such-model") && e.contains("models"), "{e}");

    // A folder with the JSON files but a corrupt encoder IR.
    let src = model_dir("tiny.en");
    let tmp = std::env::temp_dir().join(format!("aw-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for f in [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "openvino_decoder_model.xml",
        "openvino_decoder_model.bin",
    ] {
        std::fs::copy(src.join(f), tmp.join(f)).unwrap();
    }
    std::fs::write(tmp.join("openvino_encoder_model.xml"), "<net>not an IR").unwrap();
    std::fs::write(tmp.join("openvino_encoder_model.bin"), b"xx").unwrap();
    let e = whisper_engine::WhisperModel::load(&tmp, &cfg)
        .unwrap_err()
        .to_string();
    assert!(e.contains("openvino_encoder_model.xml"), "{e}");
    std::fs::remove_file(tmp.join("openvino_encoder_model.bin")).unwrap();
    let e = whisper_engine::WhisperModel::load(&tmp, &cfg)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("openvino_encoder_model.bin") && e.contains("missing"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn jfk_tiny_en_and_determinism() {
    let mut m = load("tiny.en");
    assert!(!m.is_multilingual());
    let audio = decode_audio(&speech_dir().join("jfk/jfk.flac"));
    let a = m.transcribe(&audio, &opts()).unwrap();
    let text = text_of(&a).to_lowercase();
    for w in [
        "fellow americans",
        "ask not",
        "what your country can do for you",
        "for your country",
    ] {
        assert!(text.contains(w), "missing '{w}' in {text:?}");
    }
    assert!(a[0].start < 0.5 && a.last().unwrap().end <= 11.1, "{a:?}");
    let b = m.transcribe(&audio, &opts()).unwrap();
    assert_eq!(a, b, "two runs differ");
}

#[test]
fn silence_and_noise_give_no_text() {
    let mut m = load("tiny.en");
    let silence = vec![0.0f32; 16000 * 35];
    let s = m.transcribe(&silence, &opts()).unwrap();
    assert!(text_of(&s).trim().is_empty(), "silence gave {s:?}");
    let noise = white_noise(16000 * 20, 0.05, 42);
    let n = m.transcribe(&noise, &opts()).unwrap();
    assert!(text_of(&n).trim().is_empty(), "white noise gave {n:?}");
}

fn check_timeline(segs: &[Segment], duration: f64) {
    assert!(!segs.is_empty());
    for w in segs.windows(2) {
        assert!(
            w[1].start > w[0].start,
            "start not increasing: {:?} then {:?}",
            w[0],
            w[1]
        );
        assert!(
            w[1].start >= w[0].end - 1e-9,
            "overlap / reset: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    for s in segs {
        assert!(s.end > s.start, "{s:?}");
        // The last window's closing timestamp may overshoot the content a little (Whisper does
        // not clamp it; neither does faster-whisper).
        assert!(
            s.start < duration && s.end <= duration + 2.0,
            "{s:?} beyond {duration}"
        );
    }
}

#[test]
fn long_form_stream_and_resume() {
    let mut m = load("tiny.en");
    let audio = long_audio(300.0);
    let duration = audio.len() as f64 / 16000.0;
    let full = m.transcribe(&audio, &opts()).unwrap();
    check_timeline(&full, duration);
    let last = full.last().unwrap();
    assert!(
        last.end > duration - 60.0,
        "ends early at {} of {duration}",
        last.end
    );
    // Timestamps cross several 30 s window boundaries without resetting.
    for boundary in [30.0, 60.0, 120.0, 240.0] {
        assert!(
            full.iter().any(|s| s.start > boundary),
            "nothing after {boundary}s"
        );
    }
    let text = text_of(&full).to_lowercase();
    assert!(
        text.contains("printing") && text.contains("fellow americans"),
        "{text}"
    );

    // Streaming in odd-sized chunks gives the same segments (one code path, deterministic).
    let mut streamed = Vec::new();
    {
        let mut st = m.stream(opts(), None);
        for chunk in audio.chunks(16000 * 7 + 123) {
            streamed.extend(st.push(chunk).unwrap());
            assert!(st.buffered_samples() < 480_000, "audio not dropped");
        }
        streamed.extend(st.finish().unwrap());
    }
    assert_eq!(full, streamed, "chunked stream differs from transcribe()");

    // Interrupt after a few windows, resume from state() in a new stream.
    let mut first_part = Vec::new();
    let state = {
        let mut st = m.stream(opts(), None);
        for chunk in audio[..16000 * 100].chunks(16000 * 10) {
            first_part.extend(st.push(chunk).unwrap());
        }
        st.state()
    };
    assert!(state.seek_samples > 0 && state.seek_samples % 160 == 0);
    let json = serde_json::to_string(&state).unwrap();
    let state: whisper_engine::StreamState = serde_json::from_str(&json).unwrap();
    let seek = state.seek_samples as usize;
    let mut resumed = first_part.clone();
    {
        let mut st = m.stream(opts(), Some(state));
        for chunk in audio[seek..].chunks(16000 * 13) {
            resumed.extend(st.push(chunk).unwrap());
        }
        resumed.extend(st.finish().unwrap());
    }
    assert_eq!(
        full, resumed,
        "resumed stream differs from the uninterrupted run"
    );
}

#[test]
fn language_detection_and_translate_with_base() {
    let mut m = load("base");
    assert!(m.is_multilingual());
    for (clip, lang, words) in [
        (
            "picovoice_leopard/test_es.wav",
            "es",
            &["arenas", "grano"][..],
        ),
        (
            "picovoice_leopard/test_de.wav",
            "de",
            &["portal", "raum"][..],
        ),
    ] {
        let audio = decode_audio(&speech_dir().join(clip));
        let mut st = m.stream(opts(), None);
        let mut segs = st.push(&audio).unwrap();
        segs.extend(st.finish().unwrap());
        assert_eq!(st.state().language.as_deref(), Some(lang), "{clip}");
        let text = text_of(&segs).to_lowercase();
        assert!(words.iter().any(|w| text.contains(w)), "{clip}: {text}");

        let tr = DecodeOptions {
            task: Task::Translate,
            ..opts()
        };
        let segs = m.transcribe(&audio, &tr).unwrap();
        let text = text_of(&segs).to_lowercase();
        let english = [
            "the ", " of ", " is ", " was ", " has ", " as ", "sand", "room", "hall",
        ];
        assert!(
            english.iter().any(|w| text.contains(w)),
            "{clip} translate: {text}"
        );
        assert!(
            !words.iter().any(|w| text.contains(w)) || text.contains("the"),
            "{clip} not translated: {text}"
        );
    }
}
