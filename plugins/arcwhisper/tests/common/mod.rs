// SPDX-License-Identifier: MIT OR Apache-2.0
//! Shared set-up of the element tests: the plugin registered statically, the real worker binary
//! of this build (same target dir and profile as the test binary) and the real models. Missing
//! pieces FAIL the test with what to run; nothing is skipped silently.
#![allow(dead_code, unused_imports)] // each test binary uses a part of it

use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;
pub use test_support::build::build_dir;
pub use test_support::procfs::{cpus_allowed, process_alive};
pub use test_support::speech::clip as speech;
pub use test_support::srt::Cue;
pub use test_support::tempdir::tmpdir;
pub use test_support::text::words;

pub const SETUP_HINT: &str =
    "run tools/setup.sh (models, OpenVINO runtime) and `cargo build -p arcwhisper-worker` (same profile as the tests) first";

static INIT: Once = Once::new();

/// Initialises GStreamer, registers the plugin, points `ARCWHISPER_WORKER` at the worker built
/// next to this test binary. Panics with [`SETUP_HINT`] when the worker is missing.
pub fn init() {
    INIT.call_once(|| {
        gst::init().unwrap();
        gstarcwhisper::plugin_register_static().expect("register arcwhisper");
        let w = worker_binary();
        // SAFETY: set once, before any worker is spawned by this process.
        unsafe { std::env::set_var("ARCWHISPER_WORKER", &w) };
        warm_up();
    });
}

/// Starts one tiny.en worker before the tests run in parallel, so that OpenVINO's model cache
/// holds the compiled blob: two workers compiling the same model into an empty cache at the
/// same time can trip over each other's blob file. One retry covers a race with another process.
fn warm_up() {
    let _ = model_dir("tiny.en");
    let mut last = String::new();
    for _ in 0..2 {
        let p = gst::parse::launch(
            "audiotestsrc num-buffers=1 ! audio/x-raw,format=F32LE,rate=16000,channels=1 ! arcwhisper model=tiny.en ! fakesink",
        )
        .unwrap();
        let ok = p.set_state(gst::State::Paused).is_ok();
        if !ok {
            let bus = p.bus().unwrap();
            while let Some(m) = bus.pop() {
                if let gst::MessageView::Error(e) = m.view() {
                    last = e.error().to_string();
                }
            }
        }
        p.set_state(gst::State::Null).unwrap();
        if ok {
            return;
        }
    }
    panic!("the worker does not start with tiny.en: {last}; {SETUP_HINT}");
}

/// The worker binary in the target dir of this test binary (`target/<profile>/deps/..`).
pub fn worker_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ARCWHISPER_WORKER").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "ARCWHISPER_WORKER={} does not exist; {SETUP_HINT}",
            p.display()
        );
        return p;
    }
    let w = build_dir().join("arcwhisper-worker");
    assert!(
        w.is_file(),
        "worker binary {} is missing: {SETUP_HINT}",
        w.display()
    );
    w
}

/// A model directory (`tiny.en`, `base`); panics with [`SETUP_HINT`] when not installed.
pub fn model_dir(name: &str) -> PathBuf {
    arcwhisper_worker::models::resolve(name, &arcwhisper_worker::models::search_dirs())
        .unwrap_or_else(|e| panic!("model {name} is not installed ({e}); {SETUP_HINT}"))
        .path
}

/// What a pipeline run produced on its bus.
#[derive(Debug, Default)]
pub struct Outcome {
    /// `Some(message)` when the run ended with an error (or could not start).
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Element messages (structures), in order.
    pub elements: Vec<gst::Structure>,
}

impl Outcome {
    pub fn element(&self, name: &str) -> Vec<&gst::Structure> {
        self.elements.iter().filter(|s| s.name() == name).collect()
    }
}

fn error_text(err: &gst::message::Error) -> String {
    format!(
        "{} (from {}; debug: {})",
        err.error(),
        err.src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default(),
        err.debug().map(|d| d.to_string()).unwrap_or_default()
    )
}

/// Runs a pipeline to EOS or error (with a time limit), collecting warnings and element
/// messages. `during` is called once the pipeline is PLAYING.
pub fn run(pipeline: &gst::Pipeline, timeout: Duration) -> Outcome {
    run_with(pipeline, timeout, |_| {})
}

pub fn run_with(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    mut on_message: impl FnMut(&gst::Message),
) -> Outcome {
    let bus = pipeline.bus().unwrap();
    let mut out = Outcome::default();
    let collect = |msg: &gst::Message, out: &mut Outcome| -> bool {
        use gst::MessageView;
        match msg.view() {
            MessageView::Error(e) => {
                out.error = Some(error_text(e));
                true
            }
            MessageView::Eos(_) => true,
            MessageView::Warning(w) => {
                out.warnings.push(format!(
                    "{} (debug: {})",
                    w.error(),
                    w.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
                false
            }
            MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    out.elements.push(s.to_owned());
                }
                false
            }
            _ => false,
        }
    };
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The error message says why.
        while let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            on_message(&msg);
            collect(&msg, &mut out);
        }
        if out.error.is_none() {
            out.error = Some("state change to PLAYING failed without an error message".into());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        return out;
    }
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "pipeline did not finish within {timeout:?}"
        );
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
        else {
            continue;
        };
        on_message(&msg);
        if collect(&msg, &mut out) {
            break;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

pub fn launch(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("cannot build {desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// Parses SRT (numbering from 1 without holes, start <= end: [`test_support::srt`]) and checks
/// its form further: cues in increasing time order, no empty text.
pub fn parse_srt(srt: &str) -> Vec<Cue> {
    let cues = test_support::srt::parse_srt(srt);
    for (i, c) in cues.iter().enumerate() {
        assert!(!c.text.trim().is_empty(), "empty cue {} in\n{srt}", c.index);
        if i > 0 {
            assert!(
                c.start_ms >= cues[i - 1].start_ms
                    && c.start_ms >= cues[i - 1].end_ms.min(c.start_ms),
                "cue {} starts before cue {} in\n{srt}",
                c.index,
                i
            );
        }
    }
    cues
}

/// Decodes a clip to 16 kHz mono F32LE samples with a real pipeline.
pub fn decode_f32(clip: &Path) -> Vec<f32> {
    let out = tmpdir(&format!(
        "raw-{}",
        clip.file_stem().unwrap().to_string_lossy()
    ))
    .join("audio.raw");
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved ! filesink location={}",
        clip.display(),
        out.display()
    ));
    let o = run(&p, Duration::from_secs(120));
    assert!(o.error.is_none(), "{:?}", o.error);
    std::fs::read(&out)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
