// SPDX-License-Identifier: MIT OR Apache-2.0
//! Implementation of the `arcwhisper` element.
//!
//! Life of an instance:
//!
//! - READY→PAUSED: the worker binary is looked up, the `device` parsed and checked, the worker
//!   spawned pinned (`ZE_AFFINITY_MASK` / `sched_setaffinity` before exec), `Start` sent, and
//!   `Ready` awaited; its `DeviceReport` is verified against what was asked. Any failure is an
//!   element error and the state change fails, so `gst-launch-1.0` stops before any data flows.
//! - Streaming thread: audio is appended to the audio kept for the current stream (everything
//!   from the last received `ResumeState.seek_samples` on) and written to the worker in ~1 s
//!   frames through a writer thread; segments are picked up from the reader thread's channel and
//!   pushed as `text/x-raw` buffers (PTS = PTS of the stream's first sample + segment start).
//!   After each state advance a GAP event covers the time up to the new seek point.
//! - EOS / `sceneckpt-scene-end` / a new segment: `Drain`, wait for `Drained` (pushing the last
//!   segments), then forward the event. The next buffer starts a new stream.
//! - Worker death (EOF on its stdout, write failure): reaped, restarted with `resume = last
//!   state`, the kept audio re-sent from the seek point (and a `Drain` in flight re-sent), up to
//!   `worker-restarts` times. Segments are only pushed once received, and a received segment
//!   always lies before the resume point, so none is lost or repeated.
//! - Every wait polls for worker death and for flushing, never blocks forever.

use crate::arcwhisper::worker::{describe_exit, Cmd, Event, SendError, WorkerProcess};
use crate::arcwhisper::ArcWhisperTask;
use crate::verify;
use arcwhisper_worker::device::{
    check_cpus_exist, format_cpu_list, machine_online_cpus, DeviceSpec,
};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::Duration;
use worker_protocol::{
    DecodeSettings, DeviceReport, ErrorKind, ModelReport, Request, Response, ResumeState,
    SegmentMsg, Task, VadSettings, PROTOCOL_VERSION,
};

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "arcwhisper",
        gst::DebugColorFlags::empty(),
        Some("Whisper on OpenVINO in a worker process"),
    )
});

const RATE: u64 = 16_000;
/// Audio is written to the worker in frames of about one second.
const BATCH_SAMPLES: usize = RATE as usize;
/// A jump in buffer timestamps larger than this is filled with silence.
const DISCONT_TOLERANCE: gst::ClockTime = gst::ClockTime::from_mseconds(100);
/// At most this much silence is inserted for one timestamp jump.
const MAX_SILENCE_FILL: gst::ClockTime = gst::ClockTime::from_seconds(600);
/// Whisper decodes 30 s windows: the latency reported when the `latency` property is unset.
const WINDOW_LATENCY: gst::ClockTime = gst::ClockTime::from_seconds(30);

const DEFAULT_DEVICE: &str = "CPU";
const DEFAULT_MODEL: &str = "medium,small,base,tiny";
const DEFAULT_RESTARTS: u32 = 3;
const DEFAULT_NO_SPEECH: f32 = 0.6;

/// The engine's speech-detection defaults (the reasons are in whisper-engine's `VadOptions`).
struct VadDefaults {
    threshold: f32,
    min_silence_ms: u32,
    speech_pad_ms: u32,
}
const DEFAULT_VAD: VadDefaults = VadDefaults {
    threshold: 0.5,
    min_silence_ms: 2000,
    speech_pad_ms: 300,
};

#[derive(Debug, Clone)]
struct Settings {
    device: String,
    model: String,
    language: String,
    task: ArcWhisperTask,
    max_memory: u64,
    cache_dir: Option<String>,
    worker_restarts: u32,
    worker_path: Option<String>,
    initial_prompt: Option<String>,
    no_speech_threshold: f32,
    latency: u64,
    preload: bool,
    /// Speech detection: `vad`, `vad-threshold`, `min-silence` and `speech-pad` (ms).
    vad: bool,
    vad_threshold: f32,
    min_silence_ms: u32,
    speech_pad_ms: u32,
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
            worker_path: None,
            initial_prompt: None,
            no_speech_threshold: DEFAULT_NO_SPEECH,
            latency: 0,
            preload: false,
            vad: true,
            vad_threshold: DEFAULT_VAD.threshold,
            min_silence_ms: DEFAULT_VAD.min_silence_ms,
            speech_pad_ms: DEFAULT_VAD.speech_pad_ms,
        }
    }
}

impl Settings {
    fn model_chain(&self) -> Vec<String> {
        self.model
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn decode_settings(&self) -> DecodeSettings {
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
            ..Default::default()
        }
    }
}

/// What the read-only properties show.
#[derive(Debug, Default)]
struct Info {
    pid: i64,
    verified_device: String,
    loaded_model: String,
}

#[allow(dead_code)] // the reports are kept for debugging (`{:?}` in logs)
struct Worker {
    proc: WorkerProcess,
    device: DeviceReport,
    model: ModelReport,
}

/// The current stream: from the first buffer after start / drain / flush up to the next drain.
#[derive(Default)]
struct StreamTrack {
    /// PTS of the stream's first sample.
    base_pts: Option<gst::ClockTime>,
    /// Samples received in this stream.
    samples: u64,
    /// Audio from `kept_start` on: not yet covered by a received state.
    kept: Vec<f32>,
    kept_start: u64,
    /// Samples handed to the current worker.
    sent_upto: u64,
    /// Last state received (resume point for a restart).
    last_state: Option<ResumeState>,
    /// A drain is in progress, and whether its `Drain` went to the current worker.
    draining: bool,
    drain_sent: bool,
}

impl StreamTrack {
    fn seek(&self) -> u64 {
        self.last_state.as_ref().map_or(0, |s| s.seek_samples)
    }
}

#[derive(Default)]
struct State {
    worker: Option<Worker>,
    worker_bin: Option<PathBuf>,
    spec: Option<DeviceSpec>,
    settings: Settings,
    restarts_used: u32,
    deaths: Vec<String>,
    stream: StreamTrack,
    /// End of the last text buffer or GAP pushed.
    last_end: Option<gst::ClockTime>,
}

pub struct ArcWhisper {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    info: Mutex<Info>,
    flushing: AtomicBool,
    /// Set from PAUSED->READY until the next READY->PAUSED.
    stopping: AtomicBool,
}

fn samples_to_time(n: u64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(n * (1_000_000_000 / RATE))
}

fn time_to_samples(t: gst::ClockTime) -> u64 {
    t.nseconds() / (1_000_000_000 / RATE)
}

fn secs_to_time(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s.max(0.0) * 1e9).round() as u64)
}

/// Path of the file this code was loaded from (the plugin `.so`, or the executable it is
/// linked into).
fn own_file() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: dladdr fills a Dl_info for an address inside this object; the name it returns
    // lives as long as the object is loaded.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let addr = own_file as *const libc::c_void;
        if libc::dladdr(addr, &mut info) != 0 && !info.dli_fname.is_null() {
            let name = std::ffi::CStr::from_ptr(info.dli_fname).to_bytes();
            let p = PathBuf::from(std::ffi::OsStr::from_bytes(name));
            if p.is_absolute() {
                return Some(p);
            }
        }
    }
    std::env::current_exe().ok()
}

impl ArcWhisper {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_flushing(&self) -> bool {
        self.flushing.load(Ordering::SeqCst)
    }

    fn plugin_file(&self) -> Option<PathBuf> {
        self.obj()
            .factory()
            .and_then(|f| f.plugin())
            .and_then(|p| p.filename())
            .or_else(own_file)
    }

    fn post_worker_error(&self, kind: ErrorKind, msg: &str) {
        match kind {
            ErrorKind::Device => {
                gst::element_imp_error!(self, gst::ResourceError::NotFound, ("{}", msg))
            }
            ErrorKind::Model => {
                gst::element_imp_error!(self, gst::ResourceError::NotFound, ("{}", msg))
            }
            ErrorKind::Memory => {
                gst::element_imp_error!(self, gst::ResourceError::NoSpaceLeft, ("{}", msg))
            }
            ErrorKind::Input => {
                gst::element_imp_error!(self, gst::StreamError::Format, ("{}", msg))
            }
            ErrorKind::Runtime => {
                gst::element_imp_error!(self, gst::LibraryError::Init, ("{}", msg))
            }
            ErrorKind::Internal => {
                gst::element_imp_error!(self, gst::LibraryError::Failed, ("{}", msg))
            }
        }
    }

    fn post_warning(&self, msg: &str) {
        gst::warning!(CAT, imp = self, "{msg}");
        gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", msg));
    }

    // -----------------------------------------------------------------------------------------
    // Worker start

    /// READY→PAUSED: find, spawn, handshake, verify. Errors are posted as element errors.
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        let fail = |domain_err: &dyn Fn()| {
            domain_err();
            gst::StateChangeError
        };
        let spec = DeviceSpec::parse(&settings.device).map_err(|e| {
            fail(&|| gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", e)))
        })?;
        if let DeviceSpec::CpuSet(cpus) = &spec {
            check_cpus_exist(cpus, &machine_online_cpus()).map_err(|e| {
                fail(&|| {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::NotFound,
                        ("device {}: {}", settings.device, e)
                    )
                })
            })?;
        }
        if settings.model_chain().is_empty() {
            return Err(fail(&|| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Settings,
                    ("the model property is empty")
                )
            }));
        }
        let env = std::env::var(verify::WORKER_ENV).ok();
        let path_env = std::env::var("PATH").ok();
        let bin = verify::find_worker(
            settings.worker_path.as_deref(),
            env.as_deref(),
            self.plugin_file().as_deref(),
            path_env.as_deref(),
        )
        .map_err(|e| {
            fail(&|| gst::element_imp_error!(self, gst::ResourceError::NotFound, ("{}", e)))
        })?;
        gst::debug!(CAT, imp = self, "worker binary {}", bin.display());

        let mut st = self.lock_state();
        *st = State {
            worker_bin: Some(bin),
            spec: Some(spec),
            settings,
            ..Default::default()
        };
        {
            let mut info = self.info.lock().unwrap();
            *info = Info::default();
        }
        // By default the worker starts with the first audio: a pipeline whose scenes are all
        // done (a rerun) or a card that finds no scene left never loads a model.
        if st.settings.preload {
            let w = self
                .spawn_worker(&st, None)
                .map_err(|_| gst::StateChangeError)?;
            st.worker = Some(w);
        }
        Ok(())
    }

    /// Spawns and hands-shakes a worker. On failure an element error has been posted.
    fn spawn_worker(&self, st: &State, resume: Option<ResumeState>) -> Result<Worker, ()> {
        let settings = &st.settings;
        let spec = st.spec.as_ref().expect("started");
        let bin = st.worker_bin.as_ref().expect("started");
        let mut proc = WorkerProcess::spawn(bin, spec).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::OpenRead,
                ("device {}: {}", spec, e)
            )
        })?;
        let start = Request::Start {
            protocol: PROTOCOL_VERSION,
            device: spec.to_string(),
            model_chain: settings.model_chain(),
            max_memory: settings.max_memory,
            cache_dir: settings.cache_dir.as_ref().map(PathBuf::from),
            settings: settings.decode_settings(),
            resume,
        };
        if proc.send(Cmd::Control(start), &|| false).is_err() {
            let how = describe_exit(proc.reap(Duration::from_secs(2)));
            gst::element_imp_error!(
                self,
                gst::LibraryError::Init,
                (
                    "the worker {} (pid {}) exited before it could be started: {}",
                    bin.display(),
                    proc.pid,
                    how
                )
            );
            return Err(());
        }
        let mut warned = false;
        let (device, model, runtime) = loop {
            let ev = match proc.events.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.stopping.load(Ordering::SeqCst) {
                        // PAUSED->READY while a restarted worker loads: give up quietly.
                        proc.shutdown(Duration::from_millis(200));
                        return Err(());
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    Event::ReaderClosed("reader thread gone".into())
                }
            };
            match ev {
                Event::Response(Response::Hello { pid, version }) => {
                    gst::debug!(CAT, imp = self, "worker hello pid={pid} version={version}");
                    if pid != proc.pid {
                        gst::warning!(
                            CAT,
                            imp = self,
                            "worker says pid {pid}, spawned pid {}",
                            proc.pid
                        );
                    }
                }
                Event::Response(Response::Ready {
                    device,
                    model,
                    runtime,
                }) => break (device, model, runtime),
                Event::Response(Response::Warning { message }) => {
                    warned = true;
                    self.post_warning(&format!("worker (device {spec}): {message}"));
                }
                Event::Response(Response::Error { kind, message }) => {
                    proc.shutdown(Duration::from_secs(2));
                    self.post_worker_error(kind, &format!("worker (device {spec}): {message}"));
                    return Err(());
                }
                Event::Response(other) => {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "unexpected message before Ready: {other:?}"
                    );
                }
                Event::ReaderClosed(why) | Event::WriteFailed(why) => {
                    let how = describe_exit(proc.reap(Duration::from_secs(5)));
                    gst::element_imp_error!(
                        self,
                        gst::LibraryError::Init,
                        (
                            "the worker (pid {}, device {}) stopped during start-up: {} ({})",
                            proc.pid,
                            spec,
                            how,
                            why
                        )
                    );
                    return Err(());
                }
            }
        };

        // Verify what the worker got against what was asked.
        let verified = match verify::verify_report(spec, &device, Path::new("/sys/class/drm")) {
            Ok(v) => v,
            Err(e) => {
                proc.shutdown(Duration::from_secs(2));
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Settings,
                    (
                        "device verification failed for worker pid {}: {}",
                        proc.pid,
                        e
                    ),
                    ["worker report: {:?}", device]
                );
                return Err(());
            }
        };
        for s in &verified.skipped {
            gst::info!(CAT, imp = self, "verification skipped: {s}");
            eprintln!("arcwhisper: verification skipped: {s}");
        }
        if !model.skipped.is_empty() && !warned {
            let why: Vec<String> = model
                .skipped
                .iter()
                .map(|(m, r)| format!("{m}: {r}"))
                .collect();
            self.post_warning(&format!(
                "loaded model {} instead of a larger one of the chain ({})",
                model.name,
                why.join("; ")
            ));
        }

        let mask = device.ze_affinity_mask.clone().unwrap_or_default();
        let cpus = format_cpu_list(&device.allowed_cpus);
        let line = format!(
            "worker-start pid={} device={} ZE_AFFINITY_MASK={} allowed-cpus={} model={} need={} budget={} runtime={}",
            proc.pid,
            spec,
            if mask.is_empty() { "(unset)" } else { &mask },
            cpus,
            model.name,
            model.need,
            model.budget,
            runtime
        );
        gst::info!(CAT, imp = self, "{line}");
        eprintln!("arcwhisper: {line}");
        {
            let mut info = self.info.lock().unwrap();
            info.pid = proc.pid as i64;
            info.verified_device = verified.summary.clone();
            info.loaded_model = model.name.clone();
        }
        let s = gst::Structure::builder("arcwhisper-worker-started")
            .field("pid", proc.pid as i64)
            .field("device", spec.to_string())
            .field("openvino-device", device.openvino_device.as_str())
            .field("ze-affinity-mask", mask.as_str())
            .field("allowed-cpus", cpus.as_str())
            .field("model", model.name.as_str())
            .field("model-path", model.path.to_string_lossy().as_ref())
            .field("full-name", device.full_name.as_str())
            .field("memory-free", device.memory_free)
            .field("need", model.need)
            .field("budget", model.budget)
            .field("verified", verified.summary.as_str())
            .field("runtime", runtime.as_str())
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        Ok(Worker {
            proc,
            device,
            model,
        })
    }

    /// PAUSED→READY (or a failed start): shut the worker down.
    fn stop(&self) {
        let mut st = self.lock_state();
        if let Some(mut w) = st.worker.take() {
            let status = w.proc.shutdown(Duration::from_secs(3));
            gst::debug!(
                CAT,
                imp = self,
                "worker pid {} stopped: {}",
                w.proc.pid,
                describe_exit(status)
            );
        }
        st.stream = StreamTrack::default();
        st.last_end = None;
    }

    // -----------------------------------------------------------------------------------------
    // Talking to the worker from the streaming thread

    /// Queues a message; a dead worker is restarted (which re-sends what is needed).
    fn send_ctrl(&self, st: &mut State, req: Request) -> Result<(), gst::FlowError> {
        let is_drain = matches!(req, Request::Drain);
        let w = st.worker.as_ref().ok_or(gst::FlowError::Flushing)?;
        match w
            .proc
            .send(Cmd::Control(req.clone()), &|| self.is_flushing())
        {
            Ok(()) => {
                if is_drain {
                    st.stream.drain_sent = true;
                }
                Ok(())
            }
            Err(SendError::Aborted) => Err(gst::FlowError::Flushing),
            Err(SendError::Dead) => self.restart(st, "write to the worker failed"),
        }
    }

    /// Sends the kept audio not yet sent: whole ~1 s frames, or everything when `all`.
    fn send_pending(&self, st: &mut State, all: bool) -> Result<(), gst::FlowError> {
        loop {
            let end = st.stream.kept_start + st.stream.kept.len() as u64;
            let avail = end - st.stream.sent_upto;
            if avail == 0 || (!all && avail < BATCH_SAMPLES as u64) {
                return Ok(());
            }
            let n = avail.min(BATCH_SAMPLES as u64) as usize;
            let off = (st.stream.sent_upto - st.stream.kept_start) as usize;
            let chunk = st.stream.kept[off..off + n].to_vec();
            let w = st.worker.as_ref().ok_or(gst::FlowError::Flushing)?;
            match w.proc.send(Cmd::Audio(chunk), &|| self.is_flushing()) {
                Ok(()) => st.stream.sent_upto += n as u64,
                Err(SendError::Aborted) => return Err(gst::FlowError::Flushing),
                // The restart re-sends from the resume point; go on from there.
                Err(SendError::Dead) => self.restart(st, "write to the worker failed")?,
            }
        }
    }

    /// The worker is gone: restart it (bounded) and bring the new one to where the old one was.
    fn restart(&self, st: &mut State, reason: &str) -> Result<(), gst::FlowError> {
        let Some(mut old) = st.worker.take() else {
            return Err(gst::FlowError::Flushing);
        };
        let status = old.proc.reap(Duration::from_secs(3));
        let how = describe_exit(status);
        let old_pid = old.proc.pid;
        drop(old);
        st.deaths.push(format!("pid {old_pid} {how}"));
        let limit = st.settings.worker_restarts;
        gst::warning!(
            CAT,
            imp = self,
            "worker pid {old_pid} died: {how} ({reason})"
        );
        eprintln!("arcwhisper: worker pid {old_pid} died: {how} ({reason})");
        if st.restarts_used >= limit {
            gst::element_imp_error!(
                self,
                gst::LibraryError::Failed,
                (
                    "the worker (device {}) died {} time(s), restart limit worker-restarts={} reached; last: pid {} {}",
                    st.spec.as_ref().map(|s| s.to_string()).unwrap_or_default(),
                    st.deaths.len(),
                    limit,
                    old_pid,
                    how
                ),
                ["deaths: {}; last reason: {}", st.deaths.join(", "), reason]
            );
            return Err(gst::FlowError::Error);
        }
        st.restarts_used += 1;
        let resume = if st.stream.samples > 0 {
            st.stream.last_state.clone()
        } else {
            None
        };
        let w = self.spawn_worker(st, resume.clone()).map_err(|_| {
            if self.stopping.load(Ordering::SeqCst) {
                gst::FlowError::Flushing
            } else {
                gst::FlowError::Error
            }
        })?;
        let new_pid = w.proc.pid;
        st.worker = Some(w);
        let seek = resume.as_ref().map_or(0, |r| r.seek_samples);
        debug_assert_eq!(seek, st.stream.kept_start);
        st.stream.sent_upto = st.stream.kept_start;
        st.stream.drain_sent = false;
        let line = format!(
            "worker-restart old-pid={old_pid} new-pid={new_pid} old-exit=\"{how}\" restarts-used={}/{limit} resume-seek={seek} resend-samples={} drain-in-flight={}",
            st.restarts_used,
            st.stream.kept.len(),
            st.stream.draining
        );
        gst::info!(CAT, imp = self, "{line}");
        eprintln!("arcwhisper: {line}");
        let s = gst::Structure::builder("arcwhisper-worker-restarted")
            .field("old-pid", old_pid as i64)
            .field("new-pid", new_pid as i64)
            .field("exit-status", how.as_str())
            .field("signal", status.and_then(|s| s.signal()).unwrap_or(0))
            .field("exit-code", status.and_then(|s| s.code()).unwrap_or(-1))
            .field("restarts-used", st.restarts_used)
            .field("worker-restarts", limit)
            .field("resume-seek-samples", seek)
            .field("drain-in-flight", st.stream.draining)
            .field("reason", reason)
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());

        if st.stream.draining {
            self.send_pending(st, true)?;
            if !st.stream.drain_sent {
                self.send_ctrl(st, Request::Drain)?;
            }
        } else {
            self.send_pending(st, false)?;
        }
        Ok(())
    }

    /// Handles the worker's messages. `until = None`: what is there now, without blocking;
    /// otherwise until `Drained` / `Flushed` arrives (segments seen while waiting for `Flushed`
    /// are dropped). Restarts a dead worker.
    fn pump(&self, st: &mut State, until: Option<Until>) -> Result<(), gst::FlowError> {
        loop {
            let ev = {
                let Some(w) = st.worker.as_mut() else {
                    return Err(gst::FlowError::Flushing);
                };
                match until {
                    None => match w.proc.events.try_recv() {
                        Ok(ev) => ev,
                        Err(mpsc::TryRecvError::Empty) => return Ok(()),
                        Err(mpsc::TryRecvError::Disconnected) => {
                            Event::ReaderClosed("reader thread gone".into())
                        }
                    },
                    Some(u) => match w.proc.events.recv_timeout(Duration::from_millis(50)) {
                        Ok(ev) => ev,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if u == Until::Drained && self.is_flushing() {
                                return Err(gst::FlowError::Flushing);
                            }
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            Event::ReaderClosed("reader thread gone".into())
                        }
                    },
                }
            };
            match ev {
                Event::Response(Response::Segments { segments, state }) => {
                    if until != Some(Until::Flushed) {
                        self.on_segments(st, segments, state)?;
                    }
                }
                Event::Response(Response::Drained) => {
                    if until == Some(Until::Drained) {
                        return Ok(());
                    }
                    gst::debug!(CAT, imp = self, "stray Drained");
                }
                Event::Response(Response::Flushed) => {
                    if until == Some(Until::Flushed) {
                        return Ok(());
                    }
                    gst::debug!(CAT, imp = self, "stray Flushed");
                }
                Event::Response(Response::Warning { message }) => {
                    let dev = st.spec.as_ref().map(|s| s.to_string()).unwrap_or_default();
                    self.post_warning(&format!("worker (device {dev}): {message}"));
                }
                Event::Response(Response::Error { kind, message }) => {
                    let dev = st.spec.as_ref().map(|s| s.to_string()).unwrap_or_default();
                    self.post_worker_error(kind, &format!("worker (device {dev}): {message}"));
                    return Err(gst::FlowError::Error);
                }
                Event::Response(other) => {
                    gst::debug!(CAT, imp = self, "ignoring {other:?}");
                }
                Event::ReaderClosed(why) | Event::WriteFailed(why) => {
                    self.restart(st, &why)?;
                    if until == Some(Until::Flushed) {
                        // A fresh worker has nothing buffered: that is flushed.
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Pushes the segments of one `Segments` message, records the new state, trims the kept
    /// audio and covers the time up to the new seek point with a GAP.
    fn on_segments(
        &self,
        st: &mut State,
        segments: Vec<SegmentMsg>,
        state: ResumeState,
    ) -> Result<(), gst::FlowError> {
        let base = st.stream.base_pts.unwrap_or(gst::ClockTime::ZERO);
        for seg in segments {
            let text = seg.text.trim();
            if text.is_empty() {
                continue;
            }
            let mut pts = base + secs_to_time(seg.start);
            let end = base + secs_to_time(seg.end.max(seg.start));
            if let Some(le) = st.last_end {
                pts = pts.max(le);
            }
            let duration = end.saturating_sub(pts);
            let mut buf = gst::Buffer::from_mut_slice(text.as_bytes().to_vec());
            {
                let b = buf.get_mut().unwrap();
                b.set_pts(pts);
                b.set_duration(duration);
            }
            gst::debug!(CAT, imp = self, "segment {pts} +{duration}: {text}");
            st.last_end = Some(pts + duration);
            self.srcpad.push(buf)?;
        }
        // Everything before the seek point is done.
        let seek = state.seek_samples;
        if seek > st.stream.kept_start {
            let drop_n = ((seek - st.stream.kept_start) as usize).min(st.stream.kept.len());
            st.stream.kept.drain(..drop_n);
            st.stream.kept_start += drop_n as u64;
        }
        st.stream.last_state = Some(state);
        self.push_gap_until(st, base + samples_to_time(seek));
        Ok(())
    }

    fn push_gap_until(&self, st: &mut State, until: gst::ClockTime) {
        let from = st
            .last_end
            .unwrap_or(st.stream.base_pts.unwrap_or(gst::ClockTime::ZERO));
        if until > from {
            let ev = gst::event::Gap::builder(from)
                .duration(until - from)
                .build();
            st.last_end = Some(until);
            let _ = self.srcpad.push_event(ev);
        }
    }

    /// Decodes everything of the current stream, pushes the last segments, and starts a new
    /// stream for what follows.
    fn drain(&self, st: &mut State) -> Result<(), gst::FlowError> {
        if st.worker.is_none() {
            return Ok(());
        }
        if st.stream.samples == 0 {
            st.stream = StreamTrack::default();
            return Ok(());
        }
        st.stream.draining = true;
        st.stream.drain_sent = false;
        self.send_pending(st, true)?;
        if !st.stream.drain_sent {
            self.send_ctrl(st, Request::Drain)?;
        }
        self.pump(st, Some(Until::Drained))?;
        let base = st.stream.base_pts.unwrap_or(gst::ClockTime::ZERO);
        let end = base + samples_to_time(st.stream.samples);
        self.push_gap_until(st, end);
        st.stream = StreamTrack::default();
        Ok(())
    }

    /// FLUSH_STOP: drop the stream here and in the worker.
    fn flush(&self, st: &mut State) -> Result<(), gst::FlowError> {
        st.stream = StreamTrack::default();
        st.last_end = None;
        if st.worker.is_none() {
            return Ok(());
        }
        let pid = st.worker.as_ref().map(|w| w.proc.pid);
        self.send_ctrl(st, Request::Flush)?;
        if st.worker.as_ref().map(|w| w.proc.pid) != pid {
            // The worker died and a fresh one (nothing buffered) replaced it.
            return Ok(());
        }
        self.pump(st, Some(Until::Flushed))
    }

    // -----------------------------------------------------------------------------------------
    // Pads

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.is_flushing() {
            return Err(gst::FlowError::Flushing);
        }
        let mut st = self.lock_state();
        if st.worker.is_none() {
            if st.worker_bin.is_none() {
                return Err(gst::FlowError::Flushing);
            }
            let w = self
                .spawn_worker(&st, None)
                .map_err(|_| gst::FlowError::Error)?;
            st.worker = Some(w);
        }
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot map buffer"));
            gst::FlowError::Error
        })?;
        let bytes = map.as_slice();
        if bytes.len() % 4 != 0 {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("buffer of {} bytes is not whole F32 samples", bytes.len())
            );
            return Err(gst::FlowError::Error);
        }
        match (st.stream.base_pts, buffer.pts()) {
            (None, pts) => {
                st.stream.base_pts = Some(pts.unwrap_or(gst::ClockTime::ZERO));
                gst::debug!(CAT, imp = self, "stream starts at {:?}", st.stream.base_pts);
            }
            (Some(base), Some(pts)) => {
                let expected = base + samples_to_time(st.stream.samples);
                if pts > expected + DISCONT_TOLERANCE {
                    let gap = (pts - expected).min(MAX_SILENCE_FILL);
                    let n = time_to_samples(gap) as usize;
                    gst::debug!(
                        CAT,
                        imp = self,
                        "timestamp jump of {gap}: {n} samples of silence"
                    );
                    let len = st.stream.kept.len();
                    st.stream.kept.resize(len + n, 0.0);
                    st.stream.samples += n as u64;
                }
            }
            (Some(_), None) => {}
        }
        st.stream.kept.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        st.stream.samples += (bytes.len() / 4) as u64;
        drop(map);

        self.send_pending(&mut st, false)?;
        self.pump(&mut st, None)?;

        // Live: bound the delay by draining when the undecoded audio exceeds `latency`.
        let latency = st.settings.latency;
        if latency > 0 {
            let pending = st.stream.samples - st.stream.seek();
            if samples_to_time(pending).nseconds() >= latency {
                gst::debug!(CAT, imp = self, "latency bound reached: draining");
                self.drain(&mut st)?;
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Drains, logging why a drain did not complete; `false` when the event must not go on.
    fn drain_for_event(&self, what: &str) -> bool {
        let mut st = self.lock_state();
        match self.drain(&mut st) {
            Ok(()) => true,
            Err(gst::FlowError::Flushing) => {
                gst::debug!(CAT, imp = self, "flushing during drain for {what}");
                false
            }
            Err(e) => {
                gst::debug!(CAT, imp = self, "drain for {what} failed: {e:?}");
                false
            }
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::Caps(_) => {
                let caps = gst::Caps::builder("text/x-raw")
                    .field("format", "utf8")
                    .build();
                self.srcpad.push_event(gst::event::Caps::new(&caps))
            }
            EventView::Eos(_) => {
                if !self.drain_for_event("EOS") {
                    return false;
                }
                self.srcpad.push_event(event)
            }
            EventView::Segment(_) => {
                // A new segment starts a new stream: finish the current one first.
                if !self.drain_for_event("segment") {
                    return false;
                }
                self.srcpad.push_event(event)
            }
            EventView::FlushStart(_) => {
                self.flushing.store(true, Ordering::SeqCst);
                self.srcpad.push_event(event)
            }
            EventView::FlushStop(_) => {
                {
                    let mut st = self.lock_state();
                    if let Err(e) = self.flush(&mut st) {
                        gst::warning!(CAT, imp = self, "flush failed: {e:?}");
                    }
                }
                self.flushing.store(false, Ordering::SeqCst);
                self.srcpad.push_event(event)
            }
            // Upstream gaps are not forwarded: text for earlier audio may still be pending.
            // The element sends its own GAPs as decoding advances.
            EventView::Gap(_) => true,
            EventView::CustomDownstream(_) | EventView::CustomDownstreamSticky(_) => {
                let name = event
                    .structure()
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                match name.as_str() {
                    "sceneckpt-scene-end" => {
                        if !self.drain_for_event(&name) {
                            return false;
                        }
                        let mut s = event.structure().unwrap().to_owned();
                        {
                            let st = self.lock_state();
                            let info = self.info.lock().unwrap();
                            s.set(
                                "device",
                                st.spec.as_ref().map(|d| d.to_string()).unwrap_or_default(),
                            );
                            s.set("model", info.loaded_model.as_str());
                            s.set("worker-pid", info.pid);
                        }
                        let ev = if event.is_sticky() {
                            gst::event::CustomDownstreamSticky::builder(s).build()
                        } else {
                            gst::event::CustomDownstream::builder(s).build()
                        };
                        self.srcpad.push_event(ev)
                    }
                    "sceneckpt-scene-start" => {
                        if !self.drain_for_event(&name) {
                            return false;
                        }
                        self.srcpad.push_event(event)
                    }
                    _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
                }
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::AcceptCaps(q) = query.view_mut() {
            let caps = q.caps_owned();
            let ok = caps.can_intersect(&pad.pad_template_caps());
            if !ok {
                gst::info!(
                    CAT,
                    imp = self,
                    "refusing {caps}: arcwhisper takes audio/x-raw, format=F32LE, rate=16000, channels=1 (put audioconvert ! audioresample before it)"
                );
            }
            q.set_result(ok);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let mut upstream = gst::query::Latency::new();
            if !self.sinkpad.peer_query(&mut upstream) {
                return false;
            }
            let (live, min, max) = upstream.result();
            let ours = self.reported_latency();
            gst::debug!(
                CAT,
                imp = self,
                "latency: upstream live={live} min={min} max={max:?}, ours {ours}"
            );
            q.set(live, min + ours, max.map(|m| m + ours));
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    /// The `latency` property, or one 30 s window when it is unset.
    fn reported_latency(&self) -> gst::ClockTime {
        let l = self.settings.lock().unwrap().latency;
        if l > 0 {
            gst::ClockTime::from_nseconds(l)
        } else {
            WINDOW_LATENCY
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    Drained,
    Flushed,
}

#[glib::object_subclass]
impl ObjectSubclass for ArcWhisper {
    const NAME: &'static str = "GstArcWhisper";
    type Type = super::ArcWhisper;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").unwrap();
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                ArcWhisper::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                ArcWhisper::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                ArcWhisper::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_query(pad, query),
                )
            })
            .build();
        let templ = klass.pad_template("src").unwrap();
        let srcpad = gst::Pad::builder_from_template(&templ)
            .query_function(|pad, parent, query| {
                ArcWhisper::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .build();
        ArcWhisper {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            info: Mutex::new(Info::default()),
            flushing: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }
}

impl ObjectImpl for ArcWhisper {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: Lazy<Vec<glib::ParamSpec>> = Lazy::new(|| {
            vec![
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Where the worker runs: CPU (every core), CPU:<list> (worker pinned to those cores, e.g. CPU:0-3,8), GPU.N (Intel card N, worker started with ZE_AFFINITY_MASK=N), GPU, AUTO")
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Model directory, name (tiny, tiny.en, base, ...; looked up in $ARCWHISPER_MODEL_DIR, $ARCWHISPER_HOME/models, /usr/local/share/arcwhisper/models, /usr/share/arcwhisper/models), or a comma-separated chain tried largest first: the largest installed one that fits the memory budget is loaded")
                    .default_value(Some(DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("language")
                    .nick("Language")
                    .blurb("Spoken language code (en, de, es, ...); empty or \"auto\" to detect it (multilingual models)")
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("task", ArcWhisperTask::Transcribe)
                    .nick("Task")
                    .blurb("Transcribe in the spoken language, or translate to English")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("max-memory")
                    .nick("Maximum memory")
                    .blurb("Cap in bytes on the memory the model may use on its device (0 = no cap beyond what is free); models of the chain that need more are skipped")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("cache-dir")
                    .nick("Cache directory")
                    .blurb("OpenVINO model cache directory (default: $ARCWHISPER_HOME/cache)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("worker-restarts")
                    .nick("Worker restarts")
                    .blurb("How many times a worker that dies is restarted (resuming where it was, no text lost or repeated) before the element fails")
                    .default_value(DEFAULT_RESTARTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("preload")
                    .nick("Preload")
                    .blurb("Start the worker and load the model when going to PAUSED instead of at the first audio (live pipelines that must not wait for the model; by default a pipeline with nothing to transcribe never loads one)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("worker-path")
                    .nick("Worker path")
                    .blurb("The arcwhisper-worker binary; default: $ARCWHISPER_WORKER, beside the plugin file, the cargo target dir next to it, then PATH")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("initial-prompt")
                    .nick("Initial prompt")
                    .blurb("Text given to the decoder as previous context of the first window (spelling of names, style)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("no-speech-threshold")
                    .nick("No-speech threshold")
                    .blurb("A window whose no-speech probability is above this (and whose average log-probability is low) is treated as silence")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NO_SPEECH)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("vad")
                    .nick("Speech detection")
                    .blurb("Decode only the speech Silero VAD finds (long silences and room noise are never decoded, and cues start when people speak); false decodes all audio in 30 s windows")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("vad-threshold")
                    .nick("Speech threshold")
                    .blurb("Speech probability (0-1) from which a 32 ms frame counts as speech; lower finds quieter speech and more noise")
                    .minimum(0.05)
                    .maximum(0.95)
                    .default_value(DEFAULT_VAD.threshold)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-silence")
                    .nick("Minimum silence (ms)")
                    .blurb("Silence, in milliseconds, that ends a speech region: shorter pauses are decoded as heard, longer silences are cut out of what Whisper hears")
                    .minimum(32)
                    .maximum(10_000)
                    .default_value(DEFAULT_VAD.min_silence_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("speech-pad")
                    .nick("Speech padding (ms)")
                    .blurb("Audio, in milliseconds, kept before and after each speech region")
                    .maximum(2_000)
                    .default_value(DEFAULT_VAD.speech_pad_ms)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("latency")
                    .nick("Latency")
                    .blurb("For live pipelines, ns: the most audio held undecoded before a forced drain (decode what is there as final); reported in the latency query. 0 = decode whole 30 s windows only and report 30 s")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt64::builder("worker-pid")
                    .nick("Worker pid")
                    .blurb("Process id of the current worker (0 before it starts)")
                    .minimum(0)
                    .default_value(0)
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("verified-device")
                    .nick("Verified device")
                    .blurb("What the worker verified about its placement (mask, allowed CPUs, card identity, device name)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("loaded-model")
                    .nick("Loaded model")
                    .blurb("Name of the model the worker loaded (the first of the chain that fits)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let opt = |v: Option<String>| v.filter(|s| !s.is_empty());
        match pspec.name() {
            "device" => {
                s.device = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_DEVICE.into())
            }
            "model" => {
                s.model = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_MODEL.into())
            }
            "language" => s.language = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            "task" => s.task = value.get().unwrap(),
            "max-memory" => s.max_memory = value.get().unwrap(),
            "cache-dir" => s.cache_dir = opt(value.get().unwrap()),
            "worker-restarts" => s.worker_restarts = value.get().unwrap(),
            "worker-path" => s.worker_path = opt(value.get().unwrap()),
            "preload" => s.preload = value.get().unwrap(),
            "initial-prompt" => s.initial_prompt = opt(value.get().unwrap()),
            "no-speech-threshold" => s.no_speech_threshold = value.get().unwrap(),
            "vad" => s.vad = value.get().unwrap(),
            "vad-threshold" => s.vad_threshold = value.get().unwrap(),
            "min-silence" => s.min_silence_ms = value.get().unwrap(),
            "speech-pad" => s.speech_pad_ms = value.get().unwrap(),
            "latency" => {
                s.latency = value.get().unwrap();
                drop(s);
                let _ = self
                    .obj()
                    .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
            }
            other => unimplemented!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "device" => s.device.to_value(),
            "model" => s.model.to_value(),
            "language" => s.language.to_value(),
            "task" => s.task.to_value(),
            "max-memory" => s.max_memory.to_value(),
            "cache-dir" => s.cache_dir.to_value(),
            "worker-restarts" => s.worker_restarts.to_value(),
            "worker-path" => s.worker_path.to_value(),
            "preload" => s.preload.to_value(),
            "initial-prompt" => s.initial_prompt.to_value(),
            "no-speech-threshold" => s.no_speech_threshold.to_value(),
            "vad" => s.vad.to_value(),
            "vad-threshold" => s.vad_threshold.to_value(),
            "min-silence" => s.min_silence_ms.to_value(),
            "speech-pad" => s.speech_pad_ms.to_value(),
            "latency" => s.latency.to_value(),
            "worker-pid" => self.info.lock().unwrap().pid.to_value(),
            "verified-device" => self.info.lock().unwrap().verified_device.to_value(),
            "loaded-model" => self.info.lock().unwrap().loaded_model.to_value(),
            other => unimplemented!("property {other}"),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for ArcWhisper {}

impl ElementImpl for ArcWhisper {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: Lazy<gst::subclass::ElementMetadata> = Lazy::new(|| {
            gst::subclass::ElementMetadata::new(
                "Whisper speech recognition (OpenVINO worker)",
                "Filter/Audio/Text",
                "Transcribes 16 kHz mono speech with Whisper on OpenVINO in a pinned worker process (one per instance: GPU.N sets ZE_AFFINITY_MASK=N), restarting it on a crash without losing or repeating text",
                "arcwhisper developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: Lazy<Vec<gst::PadTemplate>> = Lazy::new(|| {
            let sink_caps = gst::Caps::builder("audio/x-raw")
                .field("format", "F32LE")
                .field("rate", 16_000i32)
                .field("channels", 1i32)
                .field("layout", "interleaved")
                .build();
            let src_caps = gst::Caps::builder("text/x-raw")
                .field("format", "utf8")
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink_caps,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src_caps,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "{transition:?}");
        match transition {
            gst::StateChange::ReadyToPaused => {
                self.flushing.store(false, Ordering::SeqCst);
                self.stopping.store(false, Ordering::SeqCst);
                self.start()?;
            }
            gst::StateChange::PausedToReady => {
                // Unblocks a streaming thread waiting on the worker.
                self.flushing.store(true, Ordering::SeqCst);
                self.stopping.store(true, Ordering::SeqCst);
            }
            _ => {}
        }
        let ret = self.parent_change_state(transition);
        match transition {
            gst::StateChange::ReadyToPaused if ret.is_err() => self.stop(),
            gst::StateChange::PausedToReady => self.stop(),
            _ => {}
        }
        ret
    }
}
