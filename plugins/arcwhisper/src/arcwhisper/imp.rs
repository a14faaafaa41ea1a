// SPDX-License-Identifier: MIT OR Apache-2.0
//! Implementation of the `arcwhisper` element: pads, events, properties, states, timestamps.
//! The worker process and its life are the [`Supervisor`]'s; text buffers are made in `cues`.
//!
//! Life of an instance:
//!
//! - READY→PAUSED: the worker binary is looked up, the `device` parsed and checked; with
//!   `preload` the worker starts here, otherwise with the first audio buffer. A failure is an
//!   element error and the state change (or the first buffer) fails before any data flows.
//! - Streaming thread: each buffer's samples go to the supervisor (silence is inserted for
//!   timestamp jumps); decoded segments come back, their words are shaped into cues (`cues`),
//!   and each cue is pushed as one `text/x-raw` buffer with PTS = PTS of the stream's first
//!   sample + cue start, clamped to the stream's audio. GAP events cover the time before each
//!   cue and, after each decoded window, up to the new seek point or the first word still
//!   waiting for its cue.
//! - EOS / `sceneckpt-scene-end` / `sceneckpt-scene-start` / a new segment: drain (the last
//!   cues are pushed), then the event is forwarded. The next buffer starts a new stream
//!   whose times depend on nothing before it.
//! - FLUSH_START unblocks the streaming thread; FLUSH_STOP drops the stream here and in the
//!   worker.

use crate::arcwhisper::cues::{self, CueBounds, StreamCues};
use crate::arcwhisper::input_audio::InputAudio;
use crate::arcwhisper::settings::{
    Settings, DEFAULT_BATCH_SIZE, DEFAULT_DEVICE, DEFAULT_MODEL, DEFAULT_NO_SPEECH,
    DEFAULT_RESTARTS, DEFAULT_VAD, DEFAULT_WORKER_TIMEOUT_S,
};
use crate::arcwhisper::supervisor::{self, Decoded, Host, Launch, Supervisor};
use crate::arcwhisper::worker::LogSink;
use crate::arcwhisper::ArcWhisperTask;
use crate::verify;
use arcwhisper_worker::device::{check_cpus_exist, machine_online_cpus, DeviceSpec};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use once_cell::sync::Lazy;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use subtitle_cues::{Cue, CueOptions};
use worker_protocol::languages;

static CAT: Lazy<gst::DebugCategory> = Lazy::new(|| {
    gst::DebugCategory::new(
        "arcwhisper",
        gst::DebugColorFlags::empty(),
        Some("Whisper on OpenVINO in a worker process (and the worker's own log)"),
    )
});

const RATE: u64 = 16_000;
/// A jump in buffer timestamps larger than this is filled with silence.
const DISCONT_TOLERANCE: gst::ClockTime = gst::ClockTime::from_mseconds(100);
/// At most this much silence is inserted for one timestamp jump.
const MAX_SILENCE_FILL: gst::ClockTime = gst::ClockTime::from_seconds(600);
/// Whisper decodes 30 s windows: the latency reported when the `latency` property is unset.
const WINDOW_LATENCY: gst::ClockTime = gst::ClockTime::from_seconds(30);

/// What the read-only properties show.
#[derive(Debug, Default)]
struct Info {
    pid: i64,
    verified_device: String,
    loaded_model: String,
}

/// The output timeline of the current stream (reset with each stream, so that a scene's times
/// never depend on the scenes before it).
#[derive(Default)]
struct Timeline {
    /// PTS of the stream's first sample.
    base_pts: Option<gst::ClockTime>,
    /// End of the stream's last text buffer or GAP pushed.
    last_end: Option<gst::ClockTime>,
    /// Words waiting for their cue.
    cues: StreamCues,
    /// The negotiated channels and the stereo mix.
    input: InputAudio,
}

impl Timeline {
    fn new(opts: &CueOptions) -> Self {
        Timeline {
            cues: StreamCues::new(opts),
            ..Timeline::default()
        }
    }

    /// A new stream: its times count from its own first sample, no words of the old one kept.
    fn reset(&mut self) {
        self.base_pts = None;
        self.last_end = None;
        let _dropped = self.cues.finish(gst::ClockTime::ZERO);
    }

    fn base(&self) -> gst::ClockTime {
        self.base_pts.unwrap_or(gst::ClockTime::ZERO)
    }

    /// Where the next output may start.
    fn floor(&self) -> gst::ClockTime {
        self.last_end.unwrap_or_else(|| self.base())
    }
}

#[derive(Default)]
struct State {
    /// Set from READY→PAUSED to PAUSED→READY.
    supervisor: Option<Supervisor>,
    timeline: Timeline,
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

impl Host for ArcWhisper {
    fn flushing(&self) -> bool {
        self.flushing.load(Ordering::SeqCst)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn post_warning(&self, text: &str) {
        gst::warning!(CAT, imp = self, "{text}");
        gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", text));
    }

    fn post_error(&self, err: gst::ErrorMessage) {
        self.obj().post_error_message(err);
    }

    fn post_element_message(&self, s: gst::Structure) {
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    fn worker_started(&self, pid: u32, verified: &str, model: &str) {
        let mut info = self.info.lock().unwrap();
        info.pid = pid as i64;
        info.verified_device = verified.to_string();
        info.loaded_model = model.to_string();
    }

    fn log_sink(&self) -> LogSink {
        let element = self.obj().upcast_ref::<gst::Element>().downgrade();
        supervisor::log_sink(*CAT, element)
    }

    fn debug(&self, level: gst::DebugLevel, text: &str) {
        gst::log_with_level!(CAT, level, imp = self, "{text}");
    }
}

impl ArcWhisper {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plugin_file(&self) -> Option<PathBuf> {
        self.obj()
            .factory()
            .and_then(|f| f.plugin())
            .and_then(|p| p.filename())
            .or_else(own_file)
    }

    // -----------------------------------------------------------------------------------------
    // States

    /// READY→PAUSED: checks what can be checked without a worker and prepares the supervisor.
    /// Errors are posted as element errors.
    fn start(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        let cue_options = settings.cues.clone();
        let launch = self.launch(settings).map_err(|e| {
            self.post_error(e);
            gst::StateChangeError
        })?;
        gst::debug!(CAT, imp = self, "worker binary {}", launch.bin.display());
        *self.info.lock().unwrap() = Info::default();
        let preload = launch.settings.preload;
        let mut sup = Supervisor::new(launch);
        // By default the worker starts with the first audio: a pipeline whose scenes are all
        // done (a rerun) or a card that finds no scene left never loads a model.
        if preload {
            sup.ensure_started(self)
                .map_err(|_| gst::StateChangeError)?;
        }
        *self.lock_state() = State {
            supervisor: Some(sup),
            timeline: Timeline::new(&cue_options),
        };
        Ok(())
    }

    /// The device parsed and checked, the model chain not empty, the worker binary found.
    fn launch(&self, settings: Settings) -> Result<Launch, gst::ErrorMessage> {
        let spec = DeviceSpec::parse(&settings.device)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        if let DeviceSpec::CpuSet(cpus) = &spec {
            check_cpus_exist(cpus, &machine_online_cpus()).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::NotFound,
                    ("device {}: {}", settings.device, e)
                )
            })?;
        }
        if let Err(e) = languages::parse_setting(&settings.language) {
            return Err(gst::error_msg!(gst::ResourceError::Settings, ("{}", e)));
        }
        if settings.model_chain().is_empty() {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                ("the model property is empty")
            ));
        }
        let env = std::env::var(verify::WORKER_ENV).ok();
        let path_env = std::env::var("PATH").ok();
        let bin = verify::find_worker(
            settings.worker_path.as_deref(),
            env.as_deref(),
            self.plugin_file().as_deref(),
            path_env.as_deref(),
        )
        .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ("{}", e)))?;
        Ok(Launch {
            bin,
            spec,
            settings,
        })
    }

    /// PAUSED→READY (or a failed start): shut the worker down.
    fn stop(&self) {
        let mut st = self.lock_state();
        if let Some(how) = st.supervisor.as_mut().and_then(|s| s.shutdown()) {
            gst::debug!(CAT, imp = self, "{how}");
        }
        *st = State::default();
    }

    // -----------------------------------------------------------------------------------------
    // Timestamps: decoded segments to text buffers and GAPs

    /// Pushes the cues one decoded window settled and covers the time up to its seek point, or
    /// up to the first word still waiting for its cue.
    fn push_decoded(&self, tl: &mut Timeline, d: Decoded) -> Result<(), gst::FlowError> {
        let settled = tl.cues.push(&d.segments);
        self.push_cues(tl, &settled, samples_to_time(d.received))?;
        let free = tl.cues.settled_until(samples_to_time(d.seek_samples));
        self.push_gap_until(tl, tl.base() + free);
        Ok(())
    }

    /// One text buffer per cue, inside the stream's `received` audio, each after a GAP over the
    /// time without text before it.
    fn push_cues(
        &self,
        tl: &mut Timeline,
        settled: &[Cue],
        received: gst::ClockTime,
    ) -> Result<(), gst::FlowError> {
        let base = tl.base();
        for cue in settled {
            let bounds = CueBounds {
                base,
                floor: tl.floor(),
                audio_end: base + received,
            };
            let Some(buf) = cues::cue_buffer(cue, bounds) else {
                continue;
            };
            let (pts, dur) = (
                buf.pts().unwrap_or(base),
                buf.duration().unwrap_or_default(),
            );
            gst::debug!(CAT, imp = self, "cue {pts} +{dur}: {:?}", cue.text());
            // The silence before the cue is final now: downstream need not wait through it.
            self.push_gap_until(tl, pts);
            tl.last_end = Some(pts + dur);
            self.srcpad.push(buf)?;
        }
        Ok(())
    }

    fn push_gap_until(&self, tl: &mut Timeline, until: gst::ClockTime) {
        let from = tl.floor();
        if until > from {
            let ev = gst::event::Gap::builder(from)
                .duration(until - from)
                .build();
            tl.last_end = Some(until);
            let _ = self.srcpad.push_event(ev);
        }
    }

    /// Decodes everything of the current stream, pushes the last text and a GAP up to the
    /// stream's end, and starts a new stream (timeline and restart count) for what follows.
    fn drain(&self, st: &mut State) -> Result<(), gst::FlowError> {
        let State {
            supervisor,
            timeline,
        } = st;
        let Some(sup) = supervisor.as_mut() else {
            return Ok(());
        };
        let received = sup.received();
        sup.drain(self, &mut |d| self.push_decoded(timeline, d))?;
        if received > 0 {
            let audio = samples_to_time(received);
            let last = timeline.cues.finish(audio);
            self.push_cues(timeline, &last, audio)?;
            self.push_gap_until(timeline, timeline.base() + audio);
        }
        if let Some(summary) = timeline.input.take_downmix().summary(RATE as u32) {
            gst::info!(CAT, imp = self, "the stream's two channels are {summary}");
        }
        timeline.reset();
        Ok(())
    }

    /// FLUSH_STOP: drop the stream here and in the worker.
    fn flush(&self, st: &mut State) -> Result<(), gst::FlowError> {
        st.timeline.reset();
        match st.supervisor.as_mut() {
            Some(sup) => sup.flush(self),
            None => Ok(()),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Pads

    /// The buffer's samples, with silence in front for a jump in its timestamp.
    fn buffer_samples(
        &self,
        tl: &mut Timeline,
        received: u64,
        buffer: &gst::Buffer,
    ) -> Result<Vec<f32>, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("cannot map buffer"));
            gst::FlowError::Error
        })?;
        let mut samples = Vec::new();
        match (tl.base_pts, buffer.pts()) {
            (None, pts) => {
                tl.base_pts = Some(pts.unwrap_or(gst::ClockTime::ZERO));
                gst::debug!(CAT, imp = self, "stream starts at {:?}", tl.base_pts);
            }
            (Some(base), Some(pts)) => {
                let expected = base + samples_to_time(received);
                if pts > expected + DISCONT_TOLERANCE {
                    let gap = (pts - expected).min(MAX_SILENCE_FILL);
                    let n = time_to_samples(gap) as usize;
                    gst::debug!(
                        CAT,
                        imp = self,
                        "timestamp jump of {gap}: {n} samples of silence"
                    );
                    samples.resize(n, 0.0);
                }
            }
            (Some(_), None) => {}
        }
        if let Err(e) = tl.input.append(map.as_slice(), &mut samples) {
            gst::element_imp_error!(self, gst::StreamError::Format, ("{e}"));
            return Err(gst::FlowError::Error);
        }
        Ok(samples)
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if Host::flushing(self) {
            return Err(gst::FlowError::Flushing);
        }
        let mut guard = self.lock_state();
        let st = &mut *guard;
        let Some(sup) = st.supervisor.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        let samples = self.buffer_samples(&mut st.timeline, sup.received(), &buffer)?;
        let tl = &mut st.timeline;
        sup.push(self, &samples, &mut |d| self.push_decoded(tl, d))?;

        // Live: bound the delay by draining when the undecoded audio exceeds `latency`.
        let latency = sup.settings().latency;
        if latency > 0 && samples_to_time(sup.undecoded()).nseconds() >= latency {
            gst::debug!(CAT, imp = self, "latency bound reached: draining");
            self.drain(st)?;
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

    /// `sceneckpt-scene-end` after the drain: with the device, model and worker pid added.
    fn annotated_scene_end(&self, event: &gst::Event) -> gst::Event {
        let mut s = event.structure().expect("a custom event").to_owned();
        let device = self
            .lock_state()
            .supervisor
            .as_ref()
            .map(|sup| sup.device())
            .unwrap_or_default();
        let info = self.info.lock().unwrap();
        s.set("device", device);
        s.set("model", info.loaded_model.as_str());
        s.set("worker-pid", info.pid);
        if event.is_sticky() {
            gst::event::CustomDownstreamSticky::builder(s).build()
        } else {
            gst::event::CustomDownstream::builder(s).build()
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {event:?}");
        match event.view() {
            EventView::Caps(c) => {
                self.lock_state().timeline.input.set_caps(c.caps());
                let caps = gst::Caps::builder("text/x-raw")
                    .field("format", "utf8")
                    .build();
                self.srcpad.push_event(gst::event::Caps::new(&caps))
            }
            // A new segment starts a new stream: finish the current one first.
            EventView::Eos(_) | EventView::Segment(_) => {
                let what = if event.type_() == gst::EventType::Eos {
                    "EOS"
                } else {
                    "segment"
                };
                self.drain_for_event(what) && self.srcpad.push_event(event)
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
                        self.drain_for_event(&name)
                            && self.srcpad.push_event(self.annotated_scene_end(&event))
                    }
                    "sceneckpt-scene-start" => {
                        self.drain_for_event(&name) && self.srcpad.push_event(event)
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
                    "refusing {caps}: arcwhisper takes audio/x-raw, format=F32LE, rate=16000, channels=1 or 2 (put audioconvert ! audioresample before it)"
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
                    .blurb("Spoken language: a Whisper code (en, de, es, ...) or its English name (German); empty or \"auto\" to detect it. Other values are refused; an English-only model (tiny.en) accepts only en")
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
                    .blurb("How many times a worker that dies is restarted (resuming where it was, no text lost or repeated) within one stream (one scene: the audio between two drains) before the element fails; the count starts again with each stream")
                    .default_value(DEFAULT_RESTARTS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("worker-timeout")
                    .nick("Worker timeout")
                    .blurb("Seconds the element waits for a word from its worker (loading the model, decoding a window, taking audio) before it counts the worker as stuck: a stuck worker is killed and restarted like a dead one, or at start-up is an error")
                    .minimum(1)
                    .maximum(86_400)
                    .default_value(DEFAULT_WORKER_TIMEOUT_S)
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
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("With speech detection: this many speech windows are decoded together (batched windows are not conditioned on earlier windows' text, and their text comes out when the batch is decoded); 1 decodes each window as it closes; 0 = the device's default: 8 on a CPU with bf16 (AVX-512 BF16, AMX), 1 on an f32 CPU and on a card (the fastest measured on each: BENCHMARKS.md)")
                    .minimum(0)
                    .maximum(32)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("latency")
                    .nick("Latency")
                    .blurb("For live pipelines, ns: the most audio held undecoded before a forced drain (decode what is there as final); reported in the latency query. 0 = decode whole 30 s windows only and report 30 s")
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-line-length")
                    .nick("Maximum line length")
                    .blurb("Characters (as seen on screen, spaces included) per subtitle line; a single word longer than this gets a line of its own")
                    .minimum(8)
                    .maximum(200)
                    .default_value(CueOptions::default().max_line_length as u32)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-lines")
                    .nick("Maximum lines")
                    .blurb("Lines per cue (joined with a newline in the text buffer); longer speech is split into more cues")
                    .minimum(1)
                    .maximum(4)
                    .default_value(CueOptions::default().max_lines as u32)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("max-cue-duration")
                    .nick("Maximum cue duration")
                    .blurb("Longest time, seconds, one cue stays on screen; longer speech is split into more cues")
                    .minimum(1.0)
                    .maximum(60.0)
                    .default_value(CueOptions::default().max_cue_duration)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("reading-speed")
                    .nick("Reading speed")
                    .blurb("Characters per second a viewer reads: a short cue stays up at least its length divided by this, extended only into the silence after it, never over the next speech")
                    .minimum(5.0)
                    .maximum(40.0)
                    .default_value(CueOptions::default().min_reading_cps)
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
            "language" => {
                // A code or name Whisper does not know is refused now (and kept, so that the
                // start fails too rather than detect a language the user did not ask for).
                let v = value.get::<Option<String>>().unwrap().unwrap_or_default();
                s.language = languages::parse_setting(&v).unwrap_or_else(|e| {
                    glib::g_warning!("arcwhisper", "{e}");
                    v
                });
            }
            "task" => s.task = value.get().unwrap(),
            "max-memory" => s.max_memory = value.get().unwrap(),
            "cache-dir" => s.cache_dir = opt(value.get().unwrap()),
            "worker-restarts" => s.worker_restarts = value.get().unwrap(),
            "worker-timeout" => s.worker_timeout_s = value.get().unwrap(),
            "worker-path" => s.worker_path = opt(value.get().unwrap()),
            "preload" => s.preload = value.get().unwrap(),
            "initial-prompt" => s.initial_prompt = opt(value.get().unwrap()),
            "no-speech-threshold" => s.no_speech_threshold = value.get().unwrap(),
            "vad" => s.vad = value.get().unwrap(),
            "vad-threshold" => s.vad_threshold = value.get().unwrap(),
            "min-silence" => s.min_silence_ms = value.get().unwrap(),
            "speech-pad" => s.speech_pad_ms = value.get().unwrap(),
            "batch-size" => s.batch_size = value.get().unwrap(),
            "max-line-length" => s.cues.max_line_length = value.get::<u32>().unwrap() as usize,
            "max-lines" => s.cues.max_lines = value.get::<u32>().unwrap() as usize,
            "max-cue-duration" => s.cues.max_cue_duration = value.get().unwrap(),
            "reading-speed" => s.cues.min_reading_cps = value.get().unwrap(),
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
            "worker-timeout" => s.worker_timeout_s.to_value(),
            "worker-path" => s.worker_path.to_value(),
            "preload" => s.preload.to_value(),
            "initial-prompt" => s.initial_prompt.to_value(),
            "no-speech-threshold" => s.no_speech_threshold.to_value(),
            "vad" => s.vad.to_value(),
            "vad-threshold" => s.vad_threshold.to_value(),
            "min-silence" => s.min_silence_ms.to_value(),
            "speech-pad" => s.speech_pad_ms.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "max-line-length" => (s.cues.max_line_length as u32).to_value(),
            "max-lines" => (s.cues.max_lines as u32).to_value(),
            "max-cue-duration" => s.cues.max_cue_duration.to_value(),
            "reading-speed" => s.cues.min_reading_cps.to_value(),
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
            let sink_caps = gst_file_audio::f32_caps(RATE as u32);
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
