// SPDX-License-Identifier: MIT OR Apache-2.0
//! The worker's life as the element sees it: spawn and verify, feed the current stream's audio,
//! hand decoded segments back, drain, flush, restart after a death, shut down.
//!
//! - The supervisor keeps the current stream's audio from the last received
//!   `ResumeState.seek_samples` on, and writes it to the worker in ~1 s frames.
//! - A worker that dies (EOF on its stdout, a failed write) or stays silent longer than
//!   `worker-timeout` while the element waits for it (stopped, stuck: it is killed) is replaced
//!   by a new one started with `resume = last state`; the kept audio is re-sent from the seek
//!   point and a `Drain` in flight is re-sent. Segments are handed on only once received, and a
//!   received segment always lies before the resume point, so none is lost or repeated.
//! - `worker-restarts` bounds the restarts of one stream (one scene: the audio between two
//!   drains); the count starts again with each stream, so a long folder is not ended by
//!   unrelated crashes in different scenes.
//! - Every wait is bounded: it polls for flushing / stopping and gives up after
//!   `worker-timeout` without a word from the worker, saying what it waited for.

use crate::arcwhisper::settings::{Settings, DEFAULT_MODEL};
use crate::arcwhisper::worker::{describe_exit, Cmd, Event, LogSink, SendError, WorkerProcess};
use crate::verify;
use arcwhisper_worker::device::{format_cpu_list, DeviceSpec};
use arcwhisper_worker::models;
use gst::glib;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use worker_protocol::{
    DeviceReport, ErrorKind, ModelReport, Request, Response, ResumeState, SegmentMsg,
    PROTOCOL_VERSION,
};

/// Audio is written to the worker in frames of about one second.
const BATCH_SAMPLES: u64 = 16_000;
/// How often a blocking wait looks at flushing / stopping.
const POLL: Duration = Duration::from_millis(50);

/// What the supervisor needs from the element: its flags, and where to report.
pub trait Host {
    /// FLUSH_START or PAUSED->READY: a wait on the streaming thread must end.
    fn flushing(&self) -> bool;
    /// PAUSED->READY: even a restart under way gives up.
    fn stopping(&self) -> bool;
    fn post_warning(&self, text: &str);
    fn post_error(&self, err: gst::ErrorMessage);
    fn post_element_message(&self, s: gst::Structure);
    /// A worker is up: pid, verified placement, loaded model (the read-only properties).
    fn worker_started(&self, pid: u32, verified: &str, model: &str);
    /// Where the worker's log lines go (`worker_log::relay`).
    fn log_sink(&self) -> LogSink;
    fn debug(&self, level: gst::DebugLevel, text: &str);
}

/// Segments of one decoded window, in stream time.
pub struct Decoded {
    pub segments: Vec<SegmentMsg>,
    /// Everything before this sample is final.
    pub seek_samples: u64,
    /// Samples received in the stream so far (no text lies past them).
    pub received: u64,
}

/// Takes what the worker decoded (pushes text, advances the timeline).
pub type Deliver<'a> = dyn FnMut(Decoded) -> Result<(), gst::FlowError> + 'a;

/// What a worker is started with.
pub struct Launch {
    pub bin: PathBuf,
    pub spec: DeviceSpec,
    pub settings: Settings,
}

#[allow(dead_code)] // the reports are kept for debugging (`{:?}` in logs)
struct Worker {
    proc: WorkerProcess,
    device: DeviceReport,
    model: ModelReport,
}

/// The current stream's audio, from the first buffer after a drain or flush up to the next.
#[derive(Default)]
struct StreamAudio {
    /// Samples received in this stream.
    received: u64,
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
    /// Restarts in this stream, and how each worker ended.
    restarts: u32,
    deaths: Vec<String>,
}

impl StreamAudio {
    fn seek(&self) -> u64 {
        self.last_state.as_ref().map_or(0, |s| s.seek_samples)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    Drained,
    Flushed,
}

impl std::fmt::Display for Until {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Until::Drained => "Drained (the end of the stream's decoding)",
            Until::Flushed => "Flushed",
        })
    }
}

pub struct Supervisor {
    launch: Launch,
    worker: Option<Worker>,
    stream: StreamAudio,
    /// Model of the first worker: later workers warn again only when they load another.
    first_model: Option<String>,
}

/// Why a start failed: an error to post, or nothing (the element is stopping).
type StartFailure = Option<gst::ErrorMessage>;

impl Supervisor {
    pub fn new(launch: Launch) -> Self {
        Supervisor {
            launch,
            worker: None,
            stream: StreamAudio::default(),
            first_model: None,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.launch.settings
    }

    /// The device as asked (`CPU:0`, `GPU.1`).
    pub fn device(&self) -> String {
        self.launch.spec.to_string()
    }

    /// Samples received in the current stream.
    pub fn received(&self) -> u64 {
        self.stream.received
    }

    /// Samples of the current stream not yet covered by a decoded window.
    pub fn undecoded(&self) -> u64 {
        self.stream.received - self.stream.seek()
    }

    /// Starts the worker unless one runs. `Error`: an element error has been posted;
    /// `Flushing`: the element is stopping.
    pub fn ensure_started(&mut self, host: &dyn Host) -> Result<(), gst::FlowError> {
        if self.worker.is_some() {
            return Ok(());
        }
        let w = self.spawn(host, None).map_err(|e| posted(host, e))?;
        self.worker = Some(w);
        Ok(())
    }

    /// Adds audio to the current stream, sends whole frames, hands on what was decoded.
    pub fn push(
        &mut self,
        host: &dyn Host,
        samples: &[f32],
        deliver: &mut Deliver<'_>,
    ) -> Result<(), gst::FlowError> {
        self.ensure_started(host)?;
        self.stream.kept.extend_from_slice(samples);
        self.stream.received += samples.len() as u64;
        self.send_pending(host, false)?;
        self.pump(host, None, deliver)
    }

    /// Decodes everything of the current stream, hands on the last segments, and starts a new
    /// stream (and a new restart count) for what follows.
    pub fn drain(
        &mut self,
        host: &dyn Host,
        deliver: &mut Deliver<'_>,
    ) -> Result<(), gst::FlowError> {
        if self.worker.is_none() || self.stream.received == 0 {
            self.stream = StreamAudio::default();
            return Ok(());
        }
        self.stream.draining = true;
        self.stream.drain_sent = false;
        self.send_pending(host, true)?;
        if !self.stream.drain_sent {
            self.send_ctrl(host, Request::Drain)?;
        }
        self.pump(host, Some(Until::Drained), deliver)?;
        self.stream = StreamAudio::default();
        Ok(())
    }

    /// FLUSH_STOP: drops the stream here and in the worker.
    pub fn flush(&mut self, host: &dyn Host) -> Result<(), gst::FlowError> {
        self.stream = StreamAudio::default();
        let Some(pid) = self.worker.as_ref().map(|w| w.proc.pid) else {
            return Ok(());
        };
        self.send_ctrl(host, Request::Flush)?;
        if self.worker.as_ref().map(|w| w.proc.pid) != Some(pid) {
            // The worker died and a fresh one (nothing buffered) replaced it.
            return Ok(());
        }
        // Segments that arrive before `Flushed` belong to the dropped audio.
        self.pump(host, Some(Until::Flushed), &mut |_| Ok(()))?;
        self.stream = StreamAudio::default();
        Ok(())
    }

    /// Stops the worker (bounded); returns how it ended, for the log.
    pub fn shutdown(&mut self) -> Option<String> {
        self.stream = StreamAudio::default();
        let mut w = self.worker.take()?;
        let status = w.proc.shutdown(Duration::from_secs(3));
        Some(format!(
            "worker pid {} stopped: {}",
            w.proc.pid,
            describe_exit(status)
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Start

    /// Spawns a worker, sends `Start`, waits (bounded) for `Ready`, verifies its report and
    /// announces it.
    fn spawn(
        &mut self,
        host: &dyn Host,
        resume: Option<ResumeState>,
    ) -> Result<Worker, StartFailure> {
        let spec = &self.launch.spec.clone();
        let mut proc =
            WorkerProcess::spawn(&self.launch.bin, spec, host.log_sink()).map_err(|e| {
                Some(gst::error_msg!(
                    gst::ResourceError::OpenRead,
                    ("device {}: {}", spec, e)
                ))
            })?;
        self.send_start(&mut proc, resume)?;
        let (device, model, runtime, warnings) = self.await_ready(host, &mut proc)?;
        let verified = match verify::verify_report(spec, &device, Path::new("/sys/class/drm")) {
            Ok(v) => v,
            Err(e) => {
                proc.shutdown(Duration::from_secs(2));
                return Err(Some(gst::error_msg!(
                    gst::ResourceError::Settings,
                    (
                        "device verification failed for worker pid {}: {}",
                        proc.pid,
                        e
                    ),
                    ["worker report: {:?}", device]
                )));
            }
        };
        let mut notes = self.model_notes(host, warnings, &model);
        notes.extend(
            verified
                .skipped
                .iter()
                .map(|s| format!("device {spec}: verification skipped: {s}")),
        );
        self.announce_notes(host, &model.name, &notes);
        self.announce_start(host, &proc, &device, &model, &runtime, &verified.summary);
        Ok(Worker {
            proc,
            device,
            model,
        })
    }

    fn send_start(
        &self,
        proc: &mut WorkerProcess,
        resume: Option<ResumeState>,
    ) -> Result<(), StartFailure> {
        let settings = &self.launch.settings;
        let start = Request::Start {
            protocol: PROTOCOL_VERSION,
            device: self.launch.spec.to_string(),
            model_chain: settings.model_chain(),
            max_memory: settings.max_memory,
            cache_dir: settings.cache_dir.as_ref().map(PathBuf::from),
            settings: settings.decode_settings(),
            resume,
        };
        // A fresh queue has room: this never waits.
        if proc
            .send(Cmd::Control(start), &|| false, settings.worker_timeout())
            .is_ok()
        {
            return Ok(());
        }
        let how = describe_exit(proc.reap(Duration::from_secs(2)));
        Err(Some(gst::error_msg!(
            gst::LibraryError::Init,
            (
                "the worker {} (pid {}) exited before it could be started: {}",
                self.launch.bin.display(),
                proc.pid,
                how
            )
        )))
    }

    /// Waits for `Ready`, at most `worker-timeout` between two messages of the worker. Returns
    /// the reports and the worker's warnings (model choice), not yet posted.
    fn await_ready(
        &self,
        host: &dyn Host,
        proc: &mut WorkerProcess,
    ) -> Result<(DeviceReport, ModelReport, String, Vec<String>), StartFailure> {
        let mut warnings = Vec::new();
        loop {
            match self.next_start_event(host, proc)? {
                Event::Response(Response::Ready {
                    device,
                    model,
                    runtime,
                }) => return Ok((device, model, runtime, warnings)),
                Event::Response(Response::Warning { message }) => warnings.push(message),
                other => self.on_start_event(host, proc, other)?,
            }
        }
    }

    /// The worker's next message during start-up. Gives up quietly when the element stops, and
    /// with an error saying what it waited for after `worker-timeout` of silence.
    fn next_start_event(
        &self,
        host: &dyn Host,
        proc: &mut WorkerProcess,
    ) -> Result<Event, StartFailure> {
        let limit = self.launch.settings.worker_timeout();
        let deadline = Instant::now() + limit;
        loop {
            match proc.events.recv_timeout(POLL) {
                Ok(ev) => return Ok(ev),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ok(Event::ReaderClosed("reader thread gone".into()))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if host.stopping() {
                // PAUSED->READY while a worker loads.
                proc.shutdown(Duration::from_millis(200));
                return Err(None);
            }
            if Instant::now() >= deadline {
                proc.kill();
                proc.reap(Duration::from_secs(1));
                return Err(Some(gst::error_msg!(
                    gst::LibraryError::Init,
                    (
                        "the worker (pid {}, device {}) sent nothing for {} s while the element waited for Ready (model loading): killed. Raise worker-timeout for a model that takes longer to load",
                        proc.pid,
                        self.launch.spec,
                        limit.as_secs()
                    )
                )));
            }
        }
    }

    /// A start-up message other than `Ready` / `Warning`: logged, or the start's failure.
    fn on_start_event(
        &self,
        host: &dyn Host,
        proc: &mut WorkerProcess,
        ev: Event,
    ) -> Result<(), StartFailure> {
        let spec = &self.launch.spec;
        match ev {
            Event::Response(Response::Hello { pid, version }) => {
                host.debug(
                    gst::DebugLevel::Debug,
                    &format!("worker hello pid={pid} version={version}"),
                );
                if pid != proc.pid {
                    host.debug(
                        gst::DebugLevel::Warning,
                        &format!("worker says pid {pid}, spawned pid {}", proc.pid),
                    );
                }
                Ok(())
            }
            Event::Response(Response::Error { kind, message }) => {
                proc.shutdown(Duration::from_secs(2));
                Err(Some(worker_error(
                    kind,
                    &format!("worker (device {spec}): {message}"),
                )))
            }
            Event::Response(other) => {
                host.debug(
                    gst::DebugLevel::Warning,
                    &format!("unexpected message before Ready: {other:?}"),
                );
                Ok(())
            }
            Event::ReaderClosed(why) | Event::WriteFailed(why) | Event::Unresponsive(why) => {
                let how = describe_exit(proc.reap(Duration::from_secs(5)));
                Err(Some(gst::error_msg!(
                    gst::LibraryError::Init,
                    (
                        "the worker (pid {}, device {}) stopped during start-up: {} ({})",
                        proc.pid,
                        spec,
                        how,
                        why
                    )
                )))
            }
        }
    }

    /// What users must see about the model choice. Names of the default chain that are not
    /// installed are expected (the set-up converts tiny.en and base), so they are only logged;
    /// a model moved down for memory, or a name set in `model` that is missing, is a warning.
    fn model_notes(
        &self,
        host: &dyn Host,
        warnings: Vec<String>,
        model: &ModelReport,
    ) -> Vec<String> {
        let dirs = models::search_dirs();
        let only_not_installed = model
            .skipped
            .iter()
            .all(|(entry, _)| models::resolve(entry, &dirs).is_err());
        if self.launch.settings.model == DEFAULT_MODEL && only_not_installed {
            for w in warnings {
                host.debug(gst::DebugLevel::Info, &w);
            }
            return Vec::new();
        }
        if !warnings.is_empty() || model.skipped.is_empty() {
            return warnings;
        }
        let why: Vec<String> = model
            .skipped
            .iter()
            .map(|(m, r)| format!("{m}: {r}"))
            .collect();
        vec![format!(
            "loaded model {} instead of a larger one of the chain ({})",
            model.name,
            why.join("; ")
        )]
    }

    /// Posts what users must see about a start (model moved down the chain, a check that could
    /// not be made) once: a restarted worker that loads the same model only logs it again.
    fn announce_notes(&mut self, host: &dyn Host, model: &str, notes: &[String]) {
        let repeat = self.first_model.as_deref() == Some(model);
        self.first_model.get_or_insert_with(|| model.to_string());
        for n in notes {
            if repeat {
                host.debug(gst::DebugLevel::Info, &format!("(again) {n}"));
            } else {
                host.post_warning(&format!("arcwhisper (device {}): {n}", self.launch.spec));
            }
        }
    }

    fn announce_start(
        &self,
        host: &dyn Host,
        proc: &WorkerProcess,
        device: &DeviceReport,
        model: &ModelReport,
        runtime: &str,
        verified: &str,
    ) {
        let spec = &self.launch.spec;
        let mask = device.ze_affinity_mask.clone().unwrap_or_default();
        let cpus = format_cpu_list(&device.allowed_cpus);
        host.debug(
            gst::DebugLevel::Info,
            &format!(
                "worker-start pid={} device={} ZE_AFFINITY_MASK={} allowed-cpus={} model={} need={} budget={} runtime={}",
                proc.pid,
                spec,
                if mask.is_empty() { "(unset)" } else { &mask },
                cpus,
                model.name,
                model.need,
                model.budget,
                runtime
            ),
        );
        host.worker_started(proc.pid, verified, &model.name);
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
            .field("verified", verified)
            .field("runtime", runtime)
            .build();
        host.post_element_message(s);
    }

    // -----------------------------------------------------------------------------------------
    // Sending

    /// When a send that waits for room in the queue gives up. `Flush` is sent on FLUSH_STOP,
    /// while the flushing flag is still set: it gives up only when the element stops.
    fn abort_send<'a>(host: &'a dyn Host, req: Option<&Request>) -> impl Fn() -> bool + 'a {
        let flush = matches!(req, Some(Request::Flush));
        move || {
            if flush {
                host.stopping()
            } else {
                host.flushing()
            }
        }
    }

    /// Queues a message; a dead or stuck worker is restarted (which re-sends what is needed).
    fn send_ctrl(&mut self, host: &dyn Host, req: Request) -> Result<(), gst::FlowError> {
        let is_drain = matches!(req, Request::Drain);
        let limit = self.launch.settings.worker_timeout();
        let w = self.worker.as_ref().ok_or(gst::FlowError::Flushing)?;
        match w.proc.send(
            Cmd::Control(req.clone()),
            &Self::abort_send(host, Some(&req)),
            limit,
        ) {
            Ok(()) => {
                if is_drain {
                    self.stream.drain_sent = true;
                }
                Ok(())
            }
            Err(SendError::Aborted) => Err(gst::FlowError::Flushing),
            Err(SendError::Dead) => self.restart(host, "write to the worker failed", false),
            Err(SendError::Stuck) => {
                let why = format!("the worker took no {req:?} for {} s", limit.as_secs());
                self.restart(host, &why, true)
            }
        }
    }

    /// Sends the kept audio not yet sent: whole ~1 s frames, or everything when `all`.
    fn send_pending(&mut self, host: &dyn Host, all: bool) -> Result<(), gst::FlowError> {
        let limit = self.launch.settings.worker_timeout();
        loop {
            let s = &self.stream;
            let end = s.kept_start + s.kept.len() as u64;
            let avail = end - s.sent_upto;
            if avail == 0 || (!all && avail < BATCH_SAMPLES) {
                return Ok(());
            }
            let n = avail.min(BATCH_SAMPLES) as usize;
            let off = (s.sent_upto - s.kept_start) as usize;
            let chunk = s.kept[off..off + n].to_vec();
            let w = self.worker.as_ref().ok_or(gst::FlowError::Flushing)?;
            match w
                .proc
                .send(Cmd::Audio(chunk), &Self::abort_send(host, None), limit)
            {
                Ok(()) => self.stream.sent_upto += n as u64,
                Err(SendError::Aborted) => return Err(gst::FlowError::Flushing),
                // The restart re-sends from the resume point; go on from there.
                Err(SendError::Dead) => self.restart(host, "write to the worker failed", false)?,
                Err(SendError::Stuck) => {
                    let why = format!("the worker took no audio for {} s", limit.as_secs());
                    self.restart(host, &why, true)?
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Receiving

    /// Handles the worker's messages. `until = None`: what is there now, without blocking;
    /// otherwise until `Drained` / `Flushed` arrives. Restarts a dead or silent worker.
    fn pump(
        &mut self,
        host: &dyn Host,
        until: Option<Until>,
        deliver: &mut Deliver<'_>,
    ) -> Result<(), gst::FlowError> {
        loop {
            let Some(ev) = self.next_event(host, until)? else {
                return Ok(());
            };
            match ev {
                Event::Response(Response::Segments { segments, state }) => {
                    self.on_segments(segments, state, deliver)?
                }
                Event::Response(Response::Drained) if until == Some(Until::Drained) => {
                    return Ok(())
                }
                Event::Response(Response::Flushed) if until == Some(Until::Flushed) => {
                    return Ok(())
                }
                Event::Response(Response::Warning { message }) => host.post_warning(&format!(
                    "arcwhisper (device {}): {message}",
                    self.launch.spec
                )),
                Event::Response(Response::Error { kind, message }) => {
                    let dev = &self.launch.spec;
                    host.post_error(worker_error(
                        kind,
                        &format!("worker (device {dev}): {message}"),
                    ));
                    return Err(gst::FlowError::Error);
                }
                Event::Response(other) => {
                    host.debug(gst::DebugLevel::Debug, &format!("ignoring {other:?}"))
                }
                Event::ReaderClosed(why) | Event::WriteFailed(why) => {
                    self.restart(host, &why, false)?;
                    if until == Some(Until::Flushed) {
                        // A fresh worker has nothing buffered: that is flushed.
                        return Ok(());
                    }
                }
                Event::Unresponsive(why) => {
                    self.restart(host, &why, true)?;
                    if until == Some(Until::Flushed) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The next message of the worker: `None` when `until` is `None` and nothing is there.
    /// Waiting gives up on flushing (or stopping), and after `worker-timeout` of silence
    /// returns `Unresponsive` saying what it waited for.
    fn next_event(
        &mut self,
        host: &dyn Host,
        until: Option<Until>,
    ) -> Result<Option<Event>, gst::FlowError> {
        let limit = self.launch.settings.worker_timeout();
        let w = self.worker.as_mut().ok_or(gst::FlowError::Flushing)?;
        let Some(u) = until else {
            return Ok(match w.proc.events.try_recv() {
                Ok(ev) => Some(ev),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    Some(Event::ReaderClosed("reader thread gone".into()))
                }
            });
        };
        let deadline = Instant::now() + limit;
        loop {
            match w.proc.events.recv_timeout(POLL) {
                Ok(ev) => return Ok(Some(ev)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // FLUSH_STOP waits for Flushed while the flushing flag is still set.
                    let give_up = match u {
                        Until::Drained => host.flushing(),
                        Until::Flushed => host.stopping(),
                    };
                    if give_up {
                        return Err(gst::FlowError::Flushing);
                    }
                    if Instant::now() >= deadline {
                        return Ok(Some(Event::Unresponsive(format!(
                            "no message from the worker for {} s while the element waited for {u}",
                            limit.as_secs()
                        ))));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ok(Some(Event::ReaderClosed("reader thread gone".into())))
                }
            }
        }
    }

    /// Hands on one `Segments` message, records the new state, trims the kept audio.
    fn on_segments(
        &mut self,
        segments: Vec<SegmentMsg>,
        state: ResumeState,
        deliver: &mut Deliver<'_>,
    ) -> Result<(), gst::FlowError> {
        let seek = state.seek_samples;
        deliver(Decoded {
            segments,
            seek_samples: seek,
            received: self.stream.received,
        })?;
        let s = &mut self.stream;
        if seek > s.kept_start {
            let drop_n = ((seek - s.kept_start) as usize).min(s.kept.len());
            s.kept.drain(..drop_n);
            s.kept_start += drop_n as u64;
        }
        s.last_state = Some(state);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Restart

    /// The worker is gone (or, `kill`, silent): restart it (bounded per stream) and bring the
    /// new one to where the old one was.
    fn restart(&mut self, host: &dyn Host, reason: &str, kill: bool) -> Result<(), gst::FlowError> {
        let Some(mut old) = self.worker.take() else {
            return Err(gst::FlowError::Flushing);
        };
        if kill {
            old.proc.kill();
        }
        let status = old.proc.reap(Duration::from_secs(3));
        let how = describe_exit(status);
        let old_pid = old.proc.pid;
        drop(old);
        self.stream.deaths.push(format!("pid {old_pid} {how}"));
        let limit = self.launch.settings.worker_restarts;
        host.debug(
            gst::DebugLevel::Warning,
            &format!("worker pid {old_pid} died: {how} ({reason})"),
        );
        if self.stream.restarts >= limit {
            let last = format!("pid {old_pid} {how} ({reason})");
            host.post_error(self.limit_reached(&last));
            return Err(gst::FlowError::Error);
        }
        self.stream.restarts += 1;
        let resume = if self.stream.received > 0 {
            self.stream.last_state.clone()
        } else {
            None
        };
        let w = self
            .spawn(host, resume.clone())
            .map_err(|e| posted(host, e))?;
        let new_pid = w.proc.pid;
        self.worker = Some(w);
        let seek = resume.as_ref().map_or(0, |r| r.seek_samples);
        debug_assert_eq!(seek, self.stream.kept_start);
        self.stream.sent_upto = self.stream.kept_start;
        self.stream.drain_sent = false;
        self.announce_restart(host, old_pid, new_pid, &how, status, seek, reason);
        if self.stream.draining {
            self.send_pending(host, true)?;
            if !self.stream.drain_sent {
                self.send_ctrl(host, Request::Drain)?;
            }
        } else {
            self.send_pending(host, false)?;
        }
        Ok(())
    }

    fn limit_reached(&self, last: &str) -> gst::ErrorMessage {
        gst::error_msg!(
            gst::LibraryError::Failed,
            (
                "the worker (device {}) died {} time(s) in this stream, restart limit worker-restarts={} reached; last: {}",
                self.launch.spec,
                self.stream.deaths.len(),
                self.launch.settings.worker_restarts,
                last
            ),
            ["deaths: {}", self.stream.deaths.join(", ")]
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn announce_restart(
        &self,
        host: &dyn Host,
        old_pid: u32,
        new_pid: u32,
        how: &str,
        status: Option<std::process::ExitStatus>,
        seek: u64,
        reason: &str,
    ) {
        let s = &self.stream;
        let limit = self.launch.settings.worker_restarts;
        host.debug(
            gst::DebugLevel::Info,
            &format!(
                "worker-restart old-pid={old_pid} new-pid={new_pid} old-exit=\"{how}\" restarts-used={}/{limit} resume-seek={seek} resend-samples={} drain-in-flight={}",
                s.restarts,
                s.kept.len(),
                s.draining
            ),
        );
        host.post_warning(&format!(
            "arcwhisper (device {}): the worker pid {old_pid} {how} ({reason}); restarted as pid {new_pid}, resuming at {:.2} s of the stream (restart {} of {limit} for this stream)",
            self.launch.spec,
            seek as f64 / 16_000.0,
            s.restarts
        ));
        let st = gst::Structure::builder("arcwhisper-worker-restarted")
            .field("old-pid", old_pid as i64)
            .field("new-pid", new_pid as i64)
            .field("exit-status", how)
            .field("signal", status.and_then(|s| s.signal()).unwrap_or(0))
            .field("exit-code", status.and_then(|s| s.code()).unwrap_or(-1))
            .field("restarts-used", s.restarts)
            .field("worker-restarts", limit)
            .field("resume-seek-samples", seek)
            .field("drain-in-flight", s.draining)
            .field("reason", reason)
            .build();
        host.post_element_message(st);
    }
}

/// Posts a start failure: `Error` after posting, `Flushing` when the element is stopping.
fn posted(host: &dyn Host, failure: StartFailure) -> gst::FlowError {
    match failure {
        Some(e) => {
            host.post_error(e);
            gst::FlowError::Error
        }
        None => gst::FlowError::Flushing,
    }
}

/// The element error for a worker's `Error` message.
fn worker_error(kind: ErrorKind, msg: &str) -> gst::ErrorMessage {
    match kind {
        ErrorKind::Device | ErrorKind::Model => {
            gst::error_msg!(gst::ResourceError::NotFound, ("{}", msg))
        }
        ErrorKind::Memory => gst::error_msg!(gst::ResourceError::NoSpaceLeft, ("{}", msg)),
        ErrorKind::Input => gst::error_msg!(gst::StreamError::Format, ("{}", msg)),
        ErrorKind::Runtime => gst::error_msg!(gst::LibraryError::Init, ("{}", msg)),
        ErrorKind::Internal => gst::error_msg!(gst::LibraryError::Failed, ("{}", msg)),
    }
}

/// The worker's log lines go to `cat` on behalf of `element` (see `worker_log`).
pub fn log_sink(cat: gst::DebugCategory, element: glib::WeakRef<gst::Element>) -> LogSink {
    Box::new(move |pid, line| crate::arcwhisper::worker_log::relay(cat, &element, pid, line))
}
