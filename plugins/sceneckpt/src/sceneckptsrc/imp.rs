// SPDX-License-Identifier: MIT OR Apache-2.0
//! `sceneckpt`: a `PushSrc` that walks a folder of scenes, skips the done ones, claims the next
//! free one just before decoding it, decodes its audio in a private pipeline
//! (`filesrc ! decodebin ! audioconvert ! audioresample ! appsink`) and pushes it as one
//! continuous F32LE 16 kHz mono stream, framed by the `sceneckpt-scene-*` custom events.
//! A scene that cannot be decoded gets a `.failed` marker and the walk goes on.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::device;
use super::report::{self, Summary};
use super::scene_decoder::{self, Pulled, SceneDecoder};
use crate::events;
use crate::fatal::{ErrorRepost, FatalError};
use crate::fsutil;
use crate::liveness;
use crate::markers::{self, Claim, ClaimInfo, ClaimResult, DoneState};
use crate::names;
use crate::scenes::{self, ScenePaths};
use crate::stats::{StatsLine, STATS_FILE};

mod walk;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "sceneckpt",
        gst::DebugColorFlags::empty(),
        Some("Checkpointed scene source"),
    )
});

const RATE: u64 = 16_000;
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Longest `task`: it is part of every marker name, which must stay within the name limit.
const TASK_MAX: usize = 64;

#[derive(Debug, Clone)]
struct Settings {
    location: Option<PathBuf>,
    task: String,
    markers_dir: Option<PathBuf>,
    output_dir: Option<PathBuf>,
    output_extension: String,
    claim: bool,
    device_label: String,
    stale_seconds: u32,
    decode_timeout: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            location: None,
            task: "subtitles".into(),
            markers_dir: None,
            output_dir: None,
            output_extension: "srt".into(),
            claim: true,
            device_label: String::new(),
            stale_seconds: 60,
            decode_timeout: 30,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Counters {
    total: u32,
    done: u32,
    skipped: u32,
    failed: u32,
    in_progress: u32,
    /// Files named like scenes that are not taken as scenes (hidden, not files, dangling links).
    ignored: u32,
    audio_done: f64,
    wall_done: f64,
}

struct Current {
    index: usize,
    paths: ScenePaths,
    decoder: SceneDecoder,
    claim: Option<Claim>,
    base_pts: u64,
    samples: u64,
    started_unix: f64,
    started: Instant,
}

/// A scene found free and claimed (or free, with `claim=false`), not started yet.
struct Claimed {
    index: usize,
    paths: ScenePaths,
    claim: Option<Claim>,
}

/// Why the walk gave no scene.
enum WalkStop {
    Flushing,
    /// The markers folder cannot be worked in (a claim cannot be written): the run must end.
    Fatal(FatalError),
}

/// Claim errors that concern the whole markers folder rather than one scene.
fn folder_wide(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENOSPC
                | libc::EDQUOT
                | libc::EROFS
                | libc::EACCES
                | libc::EPERM
                | libc::EIO
                | libc::ENOENT
                | libc::ENOTDIR
        )
    )
}

#[derive(Default)]
struct State {
    settings: Option<Settings>,
    /// The device of the transcriber downstream (written into claims), or `device-label`.
    device: String,
    /// The first scene, claimed when the source starts (so that a folder where no claim can be
    /// written fails the state change itself, before any data flows).
    first: Option<Claimed>,
    summary_posted: bool,
    scenes: Vec<PathBuf>,
    next: usize,
    /// Scenes found claimed by others in the first pass: looked at once more at the end, so a
    /// claim left by a pipeline that died meanwhile is taken over by one still running.
    busy: Vec<usize>,
    revisit: std::collections::VecDeque<usize>,
    second_pass: bool,
    current: Option<Current>,
    /// Samples pushed so far (the running PTS is derived from it).
    samples: u64,
    /// Claims of scenes whose end was sent: the heartbeat goes on until the sink commits and
    /// removes the claim; released at stop if still there.
    pending_claims: Vec<Claim>,
    started: Option<Instant>,
    first_buffer: bool,
}

#[derive(Default)]
pub struct SceneCkptSrc {
    settings: Mutex<Settings>,
    counters: Mutex<Counters>,
    state: Mutex<State>,
    /// We sent the first segment ourselves: drop BaseSrc's duplicate (see `push_custom`).
    /// Events sent before BaseSrc's first segment (see `push_custom`).
    pre_events: Arc<Mutex<Vec<gst::Event>>>,
    flushing: AtomicBool,
    /// Fatal streaming errors are posted again until the pipeline is stopped (see crate::fatal).
    repost: ErrorRepost,
}

#[glib::object_subclass]
impl ObjectSubclass for SceneCkptSrc {
    const NAME: &'static str = "GstSceneCkptSrc";
    type Type = super::SceneCkptSrc;
    type ParentType = gst_base::PushSrc;
}

fn samples_to_ns(s: u64) -> u64 {
    gst::ClockTime::SECOND
        .nseconds()
        .mul_div_floor(s, RATE)
        .unwrap_or(0)
}

trait MulDiv {
    fn mul_div_floor(self, num: u64, den: u64) -> Option<u64>;
}
impl MulDiv for u64 {
    fn mul_div_floor(self, num: u64, den: u64) -> Option<u64> {
        u64::try_from((self as u128) * (num as u128) / (den as u128)).ok()
    }
}

impl SceneCkptSrc {
    fn post_scene_msg(
        &self,
        paths: &ScenePaths,
        index: usize,
        state: &str,
        extra: Option<(&str, String)>,
    ) {
        let mut s = gst::Structure::builder(events::MSG_SCENE)
            .field("scene", fsutil::path_str(&paths.scene))
            .field("stem", paths.stem.to_string_lossy().as_ref())
            .field("index", index as u32)
            .field("state", state);
        if let Some((k, v)) = extra {
            s = s.field(k, v);
        }
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(s.build()).src(&*obj).build());
    }

    fn post_progress(&self, state: &State, current: Option<&str>) {
        let c = self.counters.lock().unwrap().clone();
        let elapsed = state
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        let finished = c.done + c.skipped + c.failed + c.in_progress;
        let remaining = c.total.saturating_sub(finished) as f64;
        // ETA: mean wall time per audio second so far x mean audio per scene x scenes left.
        let eta = if c.done > 0 && c.audio_done > 0.0 {
            let per_audio = c.wall_done / c.audio_done;
            let audio_per_scene = c.audio_done / c.done as f64;
            remaining * audio_per_scene * per_audio
        } else {
            -1.0
        };
        let s = gst::Structure::builder(events::MSG_PROGRESS)
            .field("total", c.total)
            .field("done", c.done)
            .field("skipped", c.skipped)
            .field("failed", c.failed)
            .field("in-progress-elsewhere", c.in_progress)
            .field("current", current.unwrap_or(""))
            .field("elapsed", elapsed)
            .field("eta", eta)
            .build();
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
    }

    /// Push a custom event downstream from the streaming thread, in order with the audio.
    /// BaseSrc sends its segment only just before the first buffer (and its `send_event` queue
    /// drops sticky custom events): events that come before it are queued and pushed by a
    /// buffer probe right after that segment, before the first buffer.
    fn push_custom(&self, ev: gst::Event) {
        let pad = self.obj().static_pad("src").unwrap();
        if pad.sticky_event::<gst::event::Segment>(0).is_none() {
            self.pre_events.lock().unwrap().push(ev);
            return;
        }
        if !pad.push_event(ev) {
            gst::debug!(CAT, imp = self, "custom event not handled downstream");
        }
    }

    /// At EOS without any buffer (every scene skipped or failed), BaseSrc sent no segment:
    /// send it and the queued events ourselves.
    fn flush_pre_events(&self) {
        let evs = std::mem::take(&mut *self.pre_events.lock().unwrap());
        if evs.is_empty() {
            return;
        }
        let pad = self.obj().static_pad("src").unwrap();
        if pad.sticky_event::<gst::event::Segment>(0).is_none() {
            let _ = pad.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()));
        }
        for e in evs {
            let _ = pad.push_event(e);
        }
    }

    fn check_writable(&self, s: &Settings, scene_dir: &Path) -> Result<(), gst::ErrorMessage> {
        let probe = |dir: &Path, what: &str, hint: &str| -> Result<(), gst::ErrorMessage> {
            if let Err(e) = std::fs::create_dir_all(dir) {
                return Err(gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    ("{} folder {} cannot be created: {}", what, dir.display(), e)
                ));
            }
            fsutil::dir_writable(dir).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    (
                        "{} folder {} is not writable ({}){}",
                        what,
                        dir.display(),
                        e,
                        hint
                    )
                )
            })
        };
        match &s.markers_dir {
            Some(m) => probe(m, "markers", "")?,
            None => probe(
                scene_dir,
                "scene",
                "; set markers-dir (and output-dir) to a writable folder to process a read-only scene folder",
            )?,
        }
        match &s.output_dir {
            Some(o) => probe(o, "output", "")?,
            None => probe(
                scene_dir,
                "scene",
                "; set output-dir (and markers-dir) to a writable folder",
            )?,
        }
        Ok(())
    }

    fn stats_line(&self, device: &str, cur: &Current, result: &str) -> StatsLine {
        let now = fsutil::now_unix();
        let audio = cur.samples as f64 / RATE as f64;
        let wall = now - cur.started_unix;
        StatsLine {
            scene: fsutil::path_str(&cur.paths.scene),
            device: device.to_string(),
            host: fsutil::hostname(),
            model: String::new(),
            audio_seconds: audio,
            wall_seconds: wall,
            rtf: if audio > 0.0 { wall / audio } else { 0.0 },
            worker_pid: 0,
            result: result.into(),
            started: fsutil::rfc3339(cur.started_unix),
            finished: fsutil::rfc3339(now),
        }
    }

    fn fail_scene(&self, state: &mut State, mut cur: Current, error: String) {
        let s = state.settings.clone().unwrap();
        self.stop_decoder(&cur);
        gst::warning!(
            CAT,
            imp = self,
            "scene {} failed: {}",
            cur.paths.scene.display(),
            error
        );
        if let Err(e) = markers::write_failed(&cur.paths, &s.task, &error) {
            gst::warning!(CAT, imp = self, "cannot write failed marker: {}", e);
        }
        let line = self.stats_line(&state.device, &cur, "failed");
        if let Ok(l) = serde_json::to_string(&line) {
            let _ = fsutil::append_line(&cur.paths.markers_dir.join(STATS_FILE), &l);
        }
        if let Some(c) = cur.claim.take() {
            c.release();
        }
        self.counters.lock().unwrap().failed += 1;
        gst::element_imp_warning!(
            self,
            gst::StreamError::Decode,
            ("scene {} failed: {}", cur.paths.scene.display(), error)
        );
        self.post_scene_msg(
            &cur.paths,
            cur.index,
            "failed",
            Some(("error", error.clone())),
        );
        self.push_custom(
            gst::event::CustomDownstream::builder(
                gst::Structure::builder(events::SCENE_FAILED)
                    .field("scene", fsutil::path_str(&cur.paths.scene))
                    .field("index", cur.index as u32)
                    .field("error", error)
                    .build(),
            )
            .build(),
        );
        self.post_progress(state, None);
    }

    fn finish_scene(&self, state: &mut State, mut cur: Current) {
        let s = state.settings.clone().unwrap();
        self.stop_decoder(&cur);
        if let Some(summary) = cur.decoder.downmix().summary(RATE as u32) {
            let scene = cur.paths.scene.display();
            gst::info!(CAT, imp = self, "{scene}: its two channels are {summary}");
        }
        let audio_ns = samples_to_ns(cur.samples);
        {
            let mut c = self.counters.lock().unwrap();
            c.done += 1;
            c.audio_done += cur.samples as f64 / RATE as f64;
            c.wall_done += cur.started.elapsed().as_secs_f64();
        }
        let claim_path = cur
            .claim
            .as_ref()
            .map(|c| fsutil::path_str(&c.path))
            .unwrap_or_default();
        if let Some(c) = cur.claim.take() {
            state.pending_claims.push(c);
        }
        self.push_custom(
            gst::event::CustomDownstream::builder(
                gst::Structure::builder(events::SCENE_END)
                    .field("scene", fsutil::path_str(&cur.paths.scene))
                    .field("index", cur.index as u32)
                    .field("stem", cur.paths.stem.to_string_lossy().as_ref())
                    .field("task", s.task.as_str())
                    .field("output", fsutil::path_str(&cur.paths.output))
                    .field("markers-dir", fsutil::path_str(&cur.paths.markers_dir))
                    .field("claim", claim_path)
                    .field("audio-duration", audio_ns)
                    .field("base-pts", cur.base_pts)
                    .build(),
            )
            .build(),
        );
        self.post_scene_msg(&cur.paths, cur.index, "done", None);
        self.post_progress(state, None);
    }

    /// Drop heartbeats of claims the sink has removed (or someone took over).
    fn prune_claims(state: &mut State) {
        state.pending_claims.retain(|c| c.still_ours());
    }

    /// Stop the scene's decoder, bounded (see decoder_stop.rs); a stuck one is a bus warning.
    fn stop_decoder(&self, cur: &Current) {
        if let Err(e) = super::decoder_stop::stop(cur.decoder.pipeline(), &cur.paths.scene) {
            gst::element_imp_warning!(self, gst::ResourceError::Close, ("{}", e));
        }
    }

    /// Start decoding a claimed scene. Ok(false) when it failed (marked, the walk goes on).
    fn begin_scene(&self, state: &mut State, claimed: Claimed) -> Result<bool, FatalError> {
        let s = state.settings.clone().unwrap();
        let Claimed {
            index,
            paths,
            claim,
        } = claimed;
        let decoder = match SceneDecoder::build(&paths.scene, RATE) {
            Ok(d) => d,
            Err(e) => {
                if let Some(c) = claim {
                    c.release();
                }
                return Err(FatalError::new(gst::CoreError::MissingPlugin, &e, &e));
            }
        };
        let base_pts = samples_to_ns(state.samples);
        let started_unix = fsutil::now_unix();
        let cur = Current {
            index,
            paths: paths.clone(),
            decoder,
            claim,
            base_pts,
            samples: 0,
            started_unix,
            started: Instant::now(),
        };
        let claim_path = cur
            .claim
            .as_ref()
            .map(|c| fsutil::path_str(&c.path))
            .unwrap_or_default();
        let total = state.scenes.len() as u32;
        self.push_custom(
            gst::event::CustomDownstreamSticky::builder(
                gst::Structure::builder(events::SCENE_START)
                    .field("scene", fsutil::path_str(&paths.scene))
                    .field("stem", paths.stem.to_string_lossy().as_ref())
                    .field("index", index as u32)
                    .field("total", total)
                    .field("task", s.task.as_str())
                    .field("output", fsutil::path_str(&paths.output))
                    .field("markers-dir", fsutil::path_str(&paths.markers_dir))
                    .field("claim", claim_path)
                    .field("base-pts", base_pts)
                    .field("device-label", s.device_label.as_str())
                    .field("started-unix", started_unix)
                    .build(),
            )
            .build(),
        );
        self.post_scene_msg(&paths, index, "started", None);
        let stem = paths.stem.to_string_lossy().into_owned();
        self.post_progress(state, Some(&stem));
        if let Err(msg) = cur.decoder.play() {
            self.fail_scene(state, cur, msg);
            return Ok(false);
        }
        state.current = Some(cur);
        Ok(true)
    }

    /// The end-of-run summary, once per run.
    fn post_summary_once(&self, state: &mut State, finished: bool) {
        if state.summary_posted || state.settings.is_none() {
            return;
        }
        state.summary_posted = true;
        let c = self.counters.lock().unwrap().clone();
        let summary = Summary {
            total: c.total,
            done: c.done,
            skipped: c.skipped,
            failed: c.failed,
            claimed_elsewhere: c.in_progress,
            ignored: c.ignored,
            finished,
        };
        report::post_summary(self.obj().upcast_ref(), *CAT, &summary);
    }

    /// Checks made when the source starts: task usable in file names, decoder elements present.
    fn check_settings(s: &Settings) -> Result<(), gst::ErrorMessage> {
        if s.task.is_empty() || s.task.contains('/') || s.task.len() > TASK_MAX {
            return Err(gst::error_msg!(
                gst::LibraryError::Settings,
                (
                    "invalid task {:?}: a name of 1 to {} bytes without '/'",
                    s.task,
                    TASK_MAX
                )
            ));
        }
        if let Some(missing) = scene_decoder::ELEMENTS
            .iter()
            .find(|f| gst::ElementFactory::find(f).is_none())
        {
            return Err(gst::error_msg!(
                gst::CoreError::MissingPlugin,
                (
                    "GStreamer element {} is missing (sceneckpt decodes scenes with it): \
                     install gstreamer1.0-plugins-base",
                    missing
                )
            ));
        }
        Ok(())
    }
}

impl ObjectImpl for SceneCkptSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Folder of scene files (video/audio extensions), or a glob such as /x/tape1_*.mp4")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("task")
                    .nick("Task")
                    .blurb("Task name used in marker and claim names")
                    .default_value(Some("subtitles"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("markers-dir")
                    .nick("Markers folder")
                    .blurb("Folder for markers, claims and stats (default: beside each scene)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("output-dir")
                    .nick("Output folder")
                    .blurb("Folder for <stem>.srt (default: beside each scene)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("output-extension")
                    .nick("Output extension")
                    .blurb("Extension of the output file name (srt, vtt, ...)")
                    .default_value(Some("srt"))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("claim")
                    .nick("Claim")
                    .blurb("Claim each scene before decoding it so that parallel pipelines share the folder")
                    .default_value(true)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device-label")
                    .nick("Device label")
                    .blurb("Written into claims (and used in stats when downstream adds no device)")
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("stale-seconds")
                    .nick("Stale seconds")
                    .blurb("A claim whose heartbeat is older than this is taken over")
                    .minimum(1)
                    .default_value(60)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("decode-timeout")
                    .nick("Decode timeout")
                    .blurb("A scene whose decoder yields no audio for this many seconds fails (a stalled, corrupt file)")
                    .minimum(1)
                    .default_value(30)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("scenes-total").nick("Scenes total").blurb("Scenes listed").read_only().build(),
                glib::ParamSpecUInt::builder("scenes-done").nick("Scenes done").blurb("Scenes decoded to the end by this pipeline").read_only().build(),
                glib::ParamSpecUInt::builder("scenes-skipped").nick("Scenes skipped").blurb("Scenes already done").read_only().build(),
                glib::ParamSpecUInt::builder("scenes-failed").nick("Scenes failed").blurb("Scenes that could not be decoded").read_only().build(),
                glib::ParamSpecUInt::builder("scenes-in-progress")
                    .nick("Scenes in progress elsewhere")
                    .blurb("Scenes claimed by other pipelines")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let path = |v: &glib::Value| -> Option<PathBuf> {
            v.get::<Option<String>>()
                .ok()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        };
        match pspec.name() {
            "location" => s.location = path(value),
            "task" => {
                s.task = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| "subtitles".into())
            }
            "markers-dir" => s.markers_dir = path(value),
            "output-dir" => s.output_dir = path(value),
            "output-extension" => {
                s.output_extension = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| "srt".into())
            }
            "claim" => s.claim = value.get().unwrap(),
            "device-label" => {
                s.device_label = value.get::<Option<String>>().unwrap().unwrap_or_default()
            }
            "stale-seconds" => s.stale_seconds = value.get().unwrap(),
            "decode-timeout" => s.decode_timeout = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let p = |o: &Option<PathBuf>| o.as_ref().map(|p| fsutil::path_str(p)).to_value();
        match pspec.name() {
            "scenes-total" | "scenes-done" | "scenes-skipped" | "scenes-failed"
            | "scenes-in-progress" => {
                let c = self.counters.lock().unwrap();
                match pspec.name() {
                    "scenes-total" => c.total,
                    "scenes-done" => c.done,
                    "scenes-skipped" => c.skipped,
                    "scenes-failed" => c.failed,
                    _ => c.in_progress,
                }
                .to_value()
            }
            _ => {
                let s = self.settings.lock().unwrap();
                match pspec.name() {
                    "location" => p(&s.location),
                    "task" => s.task.to_value(),
                    "markers-dir" => p(&s.markers_dir),
                    "output-dir" => p(&s.output_dir),
                    "output-extension" => s.output_extension.to_value(),
                    "claim" => s.claim.to_value(),
                    "device-label" => s.device_label.to_value(),
                    "stale-seconds" => s.stale_seconds.to_value(),
                    "decode-timeout" => s.decode_timeout.to_value(),
                    _ => unimplemented!(),
                }
            }
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_format(gst::Format::Time);
        obj.set_live(false);
        // Events queued before BaseSrc's segment go out right after it, before the first buffer.
        let pre = self.pre_events.clone();
        obj.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, _info| {
                let evs = std::mem::take(&mut *pre.lock().unwrap());
                for ev in evs {
                    let _ = pad.push_event(ev);
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
}

impl GstObjectImpl for SceneCkptSrc {}

impl ElementImpl for SceneCkptSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Checkpointed scene folder source",
                "Source/Audio",
                "Decodes the audio of each not-yet-done scene of a folder, claiming scenes so that parallel pipelines share the work, and frames each scene with sceneckpt-scene-* events",
                "arcwhisper developers",
            )
        });
        Some(&*M)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("audio/x-raw")
                .field("format", "F32LE")
                .field("rate", RATE as i32)
                .field("channels", 1i32)
                .field("layout", "interleaved")
                .build();
            vec![gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &caps,
            )
            .unwrap()]
        });
        T.as_ref()
    }
}

impl BaseSrcImpl for SceneCkptSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let Some(location) = s.location.clone() else {
            return Err(gst::error_msg!(
                gst::ResourceError::NotFound,
                ("no location set")
            ));
        };
        Self::check_settings(&s)?;
        let listing = scenes::list_scenes(&location).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                ("cannot list scenes in {}: {}", location.display(), e)
            )
        })?;
        let list = listing.scenes;
        let scene_dir = if location.is_dir() {
            location.clone()
        } else {
            list.first()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| {
                    location
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| ".".into())
                })
        };
        self.check_writable(&s, &scene_dir)?;
        gst::info!(
            CAT,
            imp = self,
            "{} scenes in {}",
            list.len(),
            location.display()
        );
        report::post_ignored(self.obj().upcast_ref(), *CAT, &listing.ignored);
        *self.counters.lock().unwrap() = Counters {
            total: list.len() as u32,
            ignored: listing.ignored.len() as u32,
            ..Default::default()
        };
        let src_pad = self.obj().static_pad("src").unwrap();
        let device = device::downstream_device(&src_pad).unwrap_or_else(|| s.device_label.clone());
        gst::info!(CAT, imp = self, "device written into claims: {:?}", device);
        self.repost.disarm();
        self.flushing.store(false, Ordering::SeqCst);
        self.pre_events.lock().unwrap().clear();
        let mut st = self.state.lock().unwrap();
        *st = State {
            settings: Some(s),
            device,
            scenes: list,
            started: Some(Instant::now()),
            first_buffer: true,
            ..Default::default()
        };
        // Claim the first scene now: a folder where no claim can be written fails this state
        // change itself (every application sees that), not a streaming thread racing preroll.
        match self.claim_next(&mut st) {
            Ok(first) => st.first = first,
            Err(WalkStop::Flushing) => {}
            Err(WalkStop::Fatal(e)) => {
                return Err(gst::error_msg!(
                    gst::ResourceError::OpenWrite,
                    ("{}", e.error.message()),
                    ["{}", e.debug]
                ));
            }
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.repost.disarm();
        let mut st = self.state.lock().unwrap();
        if let Some(mut cur) = st.current.take() {
            self.stop_decoder(&cur);
            if let Some(c) = cur.claim.take() {
                c.release();
            }
        }
        if let Some(c) = st.first.take().and_then(|f| f.claim) {
            c.release();
        }
        for c in st.pending_claims.drain(..) {
            c.release();
        }
        self.post_summary_once(&mut st, false);
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl PushSrcImpl for SceneCkptSrc {
    fn create(
        &self,
        _buffer: Option<&mut gst::BufferRef>,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        loop {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            if state.current.is_none() {
                let next = match state.first.take() {
                    Some(first) => Ok(Some(first)),
                    None => self.claim_next(&mut state),
                };
                let claimed = match next {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        Self::prune_claims(&mut state);
                        self.flush_pre_events();
                        self.post_progress(&state, None);
                        self.post_summary_once(&mut state, true);
                        gst::info!(CAT, imp = self, "all scenes handled");
                        return Err(gst::FlowError::Eos);
                    }
                    Err(WalkStop::Flushing) => return Err(gst::FlowError::Flushing),
                    Err(WalkStop::Fatal(e)) => {
                        self.repost.post(self.obj().upcast_ref(), e);
                        return Err(gst::FlowError::Error);
                    }
                };
                match self.begin_scene(&mut state, claimed) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        self.repost.post(self.obj().upcast_ref(), e);
                        return Err(gst::FlowError::Error);
                    }
                }
            }
            let timeout =
                Duration::from_secs(state.settings.as_ref().unwrap().decode_timeout as u64);
            let pulled = state.current.as_mut().unwrap().decoder.pull(timeout);
            match pulled {
                Pulled::Timeout => continue,
                Pulled::Buffer(mut buf) => {
                    let n = (buf.size() / 4) as u64;
                    if n == 0 {
                        continue;
                    }
                    let start = state.samples;
                    state.samples += n;
                    state.current.as_mut().unwrap().samples += n;
                    let first = std::mem::replace(&mut state.first_buffer, false);
                    {
                        let b = buf.make_mut();
                        let pts = samples_to_ns(start);
                        b.set_pts(gst::ClockTime::from_nseconds(pts));
                        b.set_duration(gst::ClockTime::from_nseconds(
                            samples_to_ns(start + n) - pts,
                        ));
                        b.set_offset(start);
                        b.set_offset_end(start + n);
                        if first {
                            b.set_flags(gst::BufferFlags::DISCONT);
                        } else {
                            b.unset_flags(gst::BufferFlags::DISCONT | gst::BufferFlags::RESYNC);
                        }
                    }
                    return Ok(CreateSuccess::NewBuffer(buf));
                }
                Pulled::Eos => {
                    let cur = state.current.take().unwrap();
                    self.finish_scene(&mut state, cur);
                }
                Pulled::Error(e) => {
                    let cur = state.current.take().unwrap();
                    self.fail_scene(&mut state, cur, e);
                }
            }
        }
    }
}
