// SPDX-License-Identifier: MIT OR Apache-2.0
//! `sceneckptsink`: writes each scene's output to a temp file beside it and, on
//! `sceneckpt-scene-end`, commits it atomically (fsync, rename, fsync folder), then writes the
//! done marker the same way, removes the claim and appends a stats line. Any write error
//! writes no marker and fails with the file and the OS error, saying what it could clean up
//! (temp file, claim) and what it left: nothing already finished is touched. Subtitle document
//! encoders (`srtenc`, `webvttenc`) in front of it are refused (see encoder_check.rs).

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use sha2::Digest;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use super::cleanup;
use super::encoder_check;
use crate::events;
use crate::fatal::{ErrorRepost, FatalError};
use crate::fsutil::{self, FileError};
use crate::markers::{self, DoneMarker};
use crate::srt;
use crate::stats::{StatsLine, STATS_FILE};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "sceneckptsink",
        gst::DebugColorFlags::empty(),
        Some("Atomic scene output sink"),
    )
});

#[derive(Debug, Clone)]
struct Settings {
    stats: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { stats: true }
    }
}

struct Scene {
    scene: String,
    task: String,
    output: PathBuf,
    markers_dir: PathBuf,
    claim: String,
    base_pts: u64,
    device_label: String,
    started_unix: f64,
    tmp: PathBuf,
    file: Option<File>,
    hasher: sha2::Sha256,
    cues: u32,
    format: srt::Format,
}

#[derive(Default)]
struct State {
    text: bool,
    scene: Option<Scene>,
}

#[derive(Default)]
pub struct SceneCkptSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Fatal streaming errors are posted again until the pipeline is stopped (see crate::fatal).
    repost: ErrorRepost,
}

#[glib::object_subclass]
impl ObjectSubclass for SceneCkptSink {
    const NAME: &'static str = "GstSceneCkptSink";
    type Type = super::SceneCkptSink;
    type ParentType = gst_base::BaseSink;
}

fn discard(scene: Scene) {
    drop(scene.file);
    let _ = std::fs::remove_file(&scene.tmp);
}

impl SceneCkptSink {
    fn post_fatal<T: gst::MessageErrorDomain>(&self, kind: T, message: &str, debug: &str) {
        gst::error!(CAT, imp = self, "{}: {}", message, debug);
        self.repost.post(
            self.obj().upcast_ref(),
            FatalError::new(kind, message, debug),
        );
    }

    fn open_scene(&self, s: &gst::StructureRef, text: bool) -> Result<Scene, String> {
        let get = |k: &str| s.get::<String>(k).map_err(|e| format!("{k}: {e}"));
        let output = PathBuf::from(get("output")?);
        let (tmp, file) = fsutil::create_temp_for(&output).map_err(|e| {
            FileError {
                action: "creating a temp file for",
                path: output.clone(),
                err: e,
            }
            .to_string()
        })?;
        let format = srt::Format::for_output(&output);
        let mut scene = Scene {
            scene: get("scene")?,
            task: get("task")?,
            markers_dir: PathBuf::from(get("markers-dir")?),
            claim: s.get::<String>("claim").unwrap_or_default(),
            base_pts: s.get::<u64>("base-pts").unwrap_or(0),
            device_label: s.get::<String>("device-label").unwrap_or_default(),
            started_unix: s
                .get::<f64>("started-unix")
                .unwrap_or_else(|_| fsutil::now_unix()),
            output,
            tmp,
            file: Some(file),
            hasher: sha2::Sha256::new(),
            cues: 0,
            format,
        };
        if text && !format.header().is_empty() {
            if let Err(e) = Self::write(&mut scene, format.header().as_bytes()) {
                let left = cleanup::remove_temp(&scene.tmp);
                return Err(format!("{e} ({left})"));
            }
        }
        Ok(scene)
    }

    fn write(scene: &mut Scene, data: &[u8]) -> Result<(), FileError> {
        let f = scene.file.as_mut().expect("open");
        f.write_all(data).map_err(|err| FileError {
            action: "writing",
            path: scene.tmp.clone(),
            err,
        })?;
        scene.hasher.update(data);
        Ok(())
    }

    /// Fail the open scene: remove its temp, release its claim, post an element error that says
    /// what was cleaned up and what was left.
    fn fail(&self, mut scene: Scene, err: &dyn std::fmt::Display) {
        drop(scene.file.take());
        let account = cleanup::account(&scene.tmp, &scene.claim, false, &scene.output);
        self.post_fatal(
            gst::ResourceError::Write,
            &format!("scene {}: {}", scene.scene, err),
            &account,
        );
    }

    /// Err((error, whether the output already reached its final name)).
    fn commit(&self, mut scene: Scene, end: &gst::StructureRef) -> Result<(), (FileError, bool)> {
        let file = scene.file.take().expect("open");
        fsutil::commit_temp(&scene.tmp, file, &scene.output).map_err(|e| (e, false))?;
        let sha = fsutil::hex(&std::mem::take(&mut scene.hasher).finalize());
        let finished = fsutil::now_unix();
        let device = end
            .get::<String>("device")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| scene.device_label.clone());
        let model = end.get::<String>("model").unwrap_or_default();
        let worker_pid = end
            .get::<i64>("worker-pid")
            .or_else(|_| end.get::<i32>("worker-pid").map(i64::from))
            .unwrap_or(0);
        let marker = DoneMarker {
            scene: scene.scene.clone(),
            task: scene.task.clone(),
            output: fsutil::path_str(&scene.output),
            sha256: sha,
            device: device.clone(),
            model: model.clone(),
            worker_pid,
            started: fsutil::rfc3339(scene.started_unix),
            finished: fsutil::rfc3339(finished),
            pid: std::process::id() as i64,
            host: fsutil::hostname(),
            version: markers::VERSION.into(),
        };
        let paths = crate::scenes::ScenePaths::new(
            std::path::Path::new(&scene.scene),
            &scene.task,
            Some(&scene.markers_dir),
            scene.output.parent(),
            "srt",
        );
        let mut json = serde_json::to_string_pretty(&marker).expect("serialisable");
        json.push('\n');
        fsutil::write_atomic(&paths.done, json.as_bytes()).map_err(|e| (e, true))?;
        let _ = markers::remove_if_exists(&paths.failed);
        markers::release_claim_path_if_ours(std::path::Path::new(&scene.claim));
        let audio = end
            .get::<u64>("audio-duration")
            .map(|ns| ns as f64 / 1e9)
            .unwrap_or(0.0);
        let wall = (finished - scene.started_unix).max(0.0);
        if self.settings.lock().unwrap().stats {
            let line = StatsLine {
                scene: scene.scene.clone(),
                device: device.clone(),
                host: fsutil::hostname(),
                model: model.clone(),
                audio_seconds: audio,
                wall_seconds: wall,
                rtf: if audio > 0.0 { wall / audio } else { 0.0 },
                worker_pid,
                result: "done".into(),
                started: marker.started.clone(),
                finished: marker.finished.clone(),
            };
            let l = serde_json::to_string(&line).expect("serialisable");
            if let Err(e) = fsutil::append_line(&scene.markers_dir.join(STATS_FILE), &l) {
                // The scene is committed; a missing stats line is worth a warning only.
                gst::element_imp_warning!(self, gst::ResourceError::Write, ("{}", e));
            }
        }
        let obj = self.obj();
        let msg = gst::Structure::builder(events::MSG_COMMITTED)
            .field("scene", scene.scene.as_str())
            .field("output", fsutil::path_str(&scene.output))
            .field("marker", fsutil::path_str(&paths.done))
            .field("sha256", marker.sha256.as_str())
            .field("device", device.as_str())
            .field("model", model.as_str())
            .field("audio-seconds", audio)
            .field("wall-seconds", wall)
            .build();
        let _ = obj.post_message(gst::message::Element::builder(msg).src(&*obj).build());
        gst::info!(CAT, imp = self, "committed {}", scene.output.display());
        Ok(())
    }

    fn handle_custom(&self, s: &gst::StructureRef) -> bool {
        let mut state = self.state.lock().unwrap();
        match s.name().as_str() {
            events::SCENE_START => {
                if let Some(old) = state.scene.take() {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "scene {} started without the end of {}",
                        s.get::<String>("scene").unwrap_or_default(),
                        old.scene
                    );
                    discard(old);
                }
                let text = state.text;
                match self.open_scene(s, text) {
                    Ok(sc) => {
                        state.scene = Some(sc);
                        true
                    }
                    Err(e) => {
                        drop(state);
                        let claim = s.get::<String>("claim").unwrap_or_default();
                        let claim = cleanup::release_claim(&claim);
                        self.post_fatal(
                            gst::ResourceError::OpenWrite,
                            &e,
                            &format!("nothing written for this scene; {claim}"),
                        );
                        false
                    }
                }
            }
            events::SCENE_END => {
                let Some(scene) = state.scene.take() else {
                    gst::warning!(CAT, imp = self, "scene end without an open scene");
                    return true;
                };
                drop(state);
                // Keep what the failure path needs: commit consumes the scene.
                let (claim, tmp, name, output) = (
                    scene.claim.clone(),
                    scene.tmp.clone(),
                    scene.scene.clone(),
                    scene.output.clone(),
                );
                match self.commit(scene, s) {
                    Ok(()) => true,
                    Err((e, output_in_place)) => {
                        let account = cleanup::account(&tmp, &claim, output_in_place, &output);
                        self.post_fatal(
                            gst::ResourceError::Write,
                            &format!("scene {name}: {e}"),
                            &account,
                        );
                        false
                    }
                }
            }
            events::SCENE_FAILED => {
                if let Some(old) = state.scene.take() {
                    discard(old);
                }
                true
            }
            _ => true,
        }
    }
}

impl ObjectImpl for SceneCkptSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecBoolean::builder("stats")
                .nick("Stats")
                .blurb("Append a line per committed scene to <markers-dir>/arcwhisper-stats.jsonl")
                .default_value(true)
                .mutable_ready()
                .build()]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "stats" => self.settings.lock().unwrap().stats = value.get().unwrap(),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => self.settings.lock().unwrap().stats.to_value(),
            _ => unimplemented!(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        // Text buffers carry media time; writing files must not wait for the clock.
        self.obj().set_sync(false);
    }
}

impl GstObjectImpl for SceneCkptSink {}

impl ElementImpl for SceneCkptSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Checkpointed scene output sink",
                "Sink/Text",
                "Writes each scene's subtitles atomically (SRT from text/x-raw, or the upstream bytes), then its done marker; releases the claim and records stats",
                "arcwhisper developers",
            )
        });
        Some(&*M)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &gst::Caps::new_any(),
            )
            .unwrap()]
        });
        T.as_ref()
    }
}

impl BaseSinkImpl for SceneCkptSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.repost.disarm();
        *self.state.lock().unwrap() = State::default();
        let sinkpad = self.obj().static_pad("sink").unwrap();
        encoder_check::check_upstream(&sinkpad)
            .map_err(|e| gst::error_msg!(gst::CoreError::Negotiation, ("{}", e)))
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.repost.disarm();
        if let Some(sc) = self.state.lock().unwrap().scene.take() {
            discard(sc);
        }
        Ok(())
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        if encoder_check::only_documents(caps) {
            let sinkpad = self.obj().static_pad("sink").unwrap();
            let why = encoder_check::refusal(&sinkpad, caps);
            self.post_fatal(gst::CoreError::Negotiation, &why, &format!("caps {caps}"));
            return Err(gst::loggable_error!(CAT, "refused {}", caps));
        }
        let text = caps
            .structure(0)
            .map(|s| {
                s.name() == "text/x-raw"
                    && s.get::<&str>("format").map(|f| f == "utf8").unwrap_or(true)
            })
            .unwrap_or(false);
        self.state.lock().unwrap().text = text;
        Ok(())
    }

    fn event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::CustomDownstream(_) | gst::EventView::CustomDownstreamSticky(_) => {
                if let Some(s) = event.structure() {
                    if s.name().starts_with("sceneckpt-") && !self.handle_custom(s) {
                        return false;
                    }
                }
            }
            gst::EventView::Eos(_) => {
                if let Some(sc) = self.state.lock().unwrap().scene.take() {
                    gst::info!(
                        CAT,
                        imp = self,
                        "EOS inside scene {}: discarding its temp file",
                        sc.scene
                    );
                    discard(sc);
                }
            }
            _ => {}
        }
        self.parent_event(event)
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.state.lock().unwrap();
        let text = state.text;
        let Some(scene) = state.scene.as_mut() else {
            gst::debug!(CAT, imp = self, "buffer outside any scene dropped");
            return Ok(gst::FlowSuccess::Ok);
        };
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let r = if text {
            let start = buffer
                .pts()
                .map(|p| p.nseconds().saturating_sub(scene.base_pts))
                .unwrap_or(0);
            let dur = buffer
                .duration()
                .map(|d| d.nseconds())
                .unwrap_or(gst::ClockTime::SECOND.nseconds());
            let txt = String::from_utf8_lossy(&map);
            match scene.format.cue(scene.cues + 1, start, start + dur, &txt) {
                Some(cue) => {
                    scene.cues += 1;
                    Self::write(scene, cue.as_bytes())
                }
                None => Ok(()),
            }
        } else {
            Self::write(scene, &map)
        };
        drop(map);
        if let Err(e) = r {
            let sc = state.scene.take().unwrap();
            drop(state);
            self.fail(sc, &e);
            return Err(gst::FlowError::Error);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
