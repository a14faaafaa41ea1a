//! The engine leaves where its threads run to the process's affinity mask: OpenVINO's own
//! pinning narrowed each process's inference threads to the first CPUs of the mask, so two
//! processes side by side shared CPU 0 while CPU 1 stayed idle. Its own test binary: every
//! thread of this process is looked at.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use whisper_engine::{DecodeOptions, EngineConfig, VadOptions, WhisperModel};

/// `Cpus_allowed_list` of the process (its mask) and of each of its threads.
fn allowed_cpus() -> (String, Vec<String>) {
    let of = |status: &str| {
        std::fs::read_to_string(status)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_string())
    };
    let process = of("/proc/self/status").expect("/proc/self/status");
    let threads = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| of(&format!("{}/status", t.ok()?.path().display())))
        .collect();
    (process, threads)
}

#[test]
fn inference_threads_keep_the_whole_affinity_mask() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        eprintln!("SKIP: this process may run on {cpus} CPU; thread placement needs 2 or more");
        return;
    }
    // One inference thread, the case that went to CPU 0 in every process; speech detection on,
    // whose Silero model has an OpenVINO core of its own.
    let cfg = EngineConfig {
        threads: Some(1),
        ..EngineConfig::default()
    };
    let mut m = WhisperModel::load(&model_dir("tiny.en-int8"), &cfg).expect("loading");
    let opts = DecodeOptions {
        vad: Some(VadOptions::default()),
        ..DecodeOptions::default()
    };
    let audio = decode_audio(&speech_dir().join("jfk/jfk.flac"));
    // A first transcription loads Silero: OpenVINO compiles on a short-lived thread of its own,
    // pinned to the first CPU whatever the property says (strace: a few tens of ms per model,
    // once per load). What runs a model afterwards is what this test is about.
    m.transcribe(&audio[..16_000 * 3], &opts)
        .expect("loading speech detection");
    // OpenVINO pinned a thread only while it ran an inference (and put its mask back after),
    // so the threads are looked at all through a transcription.
    let done = AtomicBool::new(false);
    let (segs, narrowed) = std::thread::scope(|s| {
        let work = s.spawn(|| {
            let r = m.transcribe(&audio, &opts);
            done.store(true, Ordering::Release);
            r
        });
        let mut narrowed = BTreeSet::new();
        let mut looks = 0;
        while !done.load(Ordering::Acquire) {
            let (process, threads) = allowed_cpus();
            narrowed.extend(threads.into_iter().filter(|t| *t != process));
            looks += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(looks > 10, "only {looks} looks during the transcription");
        (work.join().unwrap().expect("transcribing"), narrowed)
    });
    assert!(text_of(&segs).contains("country"), "{segs:?}");
    assert!(
        narrowed.is_empty(),
        "inference threads narrowed from the process's CPUs to {narrowed:?}"
    );
}
