// SPDX-License-Identifier: MIT OR Apache-2.0
//! Test helpers: real scene files made with gst-launch from the shared speech clips, a pipeline
//! runner, and TEST SCAFFOLDING ONLY: `sceneckpttesttext`, a stand-in for `arcwhisper` that turns
//! each scene's audio into one text buffer "scene <stem>: <n> samples" and forwards the custom
//! events (adding `device`, `model`, `worker-pid` to the scene end, as arcwhisper does). It
//! exists to test the checkpoint logic without the real transcriber; it is never a product path.
#![allow(dead_code, unused_imports)] // each test binary uses a part of it

use gst::glib;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use test_support::gst_launch::run_quiet as gst_launch;
pub use test_support::speech::speech_dir;

pub fn init() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().unwrap();
        gstsceneckpt::plugin_register_static().unwrap();
        test_text::register();
    });
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sceneckpt-tests");
    let d = base.join(format!(
        "{tag}-{}-{:08x}",
        std::process::id(),
        gstsceneckpt::fsutil::random_u64() as u32
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Real scene files (video + audio tracks), made once per test binary:
/// `s1.mkv` (MPEG-4 video + Opus, 1.1 s of speech), `s2.webm` (VP8 + Vorbis, 2.0 s),
/// `s3.mkv` (MPEG-4 + Opus, 1.9 s), `video_only.mkv` (no audio track), `trunc.mp4` (corrupt).
pub fn template() -> &'static Path {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        let d = tmpdir("template");
        let sp = speech_dir();
        let v = "videotestsrc num-buffers=12 ! video/x-raw,width=64,height=48,framerate=10/1";
        let mk = |out: &str, wav: &str, venc: &str, mux: &str, aenc: &str| {
            gst_launch(&format!(
                "{v} ! {venc} ! queue ! {mux} name=m ! filesink location={} filesrc location={} ! decodebin ! audioconvert ! audioresample ! {aenc} ! queue ! m.",
                d.join(out).display(),
                sp.join(wav).display()
            ));
        };
        mk("s1.mkv", "pocketsphinx_cards/001.wav", "avenc_mpeg4", "matroskamux", "opusenc");
        mk("s2.webm", "pocketsphinx_cards/002.wav", "vp8enc deadline=1", "webmmux", "vorbisenc");
        mk("s3.mkv", "ljspeech/LJ001-0002.wav", "avenc_mpeg4", "matroskamux", "opusenc");
        gst_launch(&format!("{v} ! avenc_mpeg4 ! matroskamux ! filesink location={}", d.join("video_only.mkv").display()));
        gst_launch(&format!("{v} ! avenc_mpeg4 ! mp4mux ! filesink location={}", d.join("v.mp4").display()));
        let full = std::fs::read(d.join("v.mp4")).unwrap();
        std::fs::write(d.join("trunc.mp4"), &full[..full.len() / 3]).unwrap();
        std::fs::remove_file(d.join("v.mp4")).unwrap();
        d
    })
}

/// Copy template scene `name` into `dir` as `as_name`.
pub fn put(dir: &Path, name: &str, as_name: impl AsRef<std::ffi::OsStr>) -> PathBuf {
    let dst = dir.join(as_name.as_ref());
    std::fs::copy(template().join(name), &dst).unwrap();
    dst
}

#[derive(Debug, Default)]
pub struct RunResult {
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Bus INFO messages (text).
    pub infos: Vec<String>,
    /// The `sceneckpt-summary` element message, if one was posted.
    pub summary: Option<gst::Structure>,
    /// (stem, state) of every sceneckpt-scene message, in order.
    pub scenes: Vec<(String, String)>,
    pub committed: Vec<String>,
    pub progress: Vec<gst::Structure>,
    pub events: Vec<String>,
    pub elapsed: Duration,
}

impl RunResult {
    pub fn count(&self, state: &str) -> usize {
        self.scenes.iter().filter(|(_, s)| s == state).count()
    }
}

/// Run `sceneckpt <src_props> ! sceneckpttesttext ! sceneckptsink` to EOS or error.
pub fn run(src_props: &[(&str, glib::Value)], realtime_factor: f64) -> RunResult {
    init();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("sceneckpt").build().unwrap();
    for (k, v) in src_props {
        src.set_property_from_value(k, v);
    }
    let text = gst::ElementFactory::make("sceneckpttesttext")
        .property("realtime-factor", realtime_factor)
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("sceneckptsink").build().unwrap();
    pipeline.add_many([&src, &text, &sink]).unwrap();
    gst::Element::link_many([&src, &text, &sink]).unwrap();
    run_pipeline(&pipeline, Some(&text))
}

pub fn run_pipeline(pipeline: &gst::Pipeline, text: Option<&gst::Element>) -> RunResult {
    let t0 = std::time::Instant::now();
    let bus = pipeline.bus().unwrap();
    let mut r = RunResult::default();
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The error message is on the bus.
    }
    loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(60)) else {
            r.error = Some("timeout".into());
            break;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                r.error = Some(format!("{} | {}", e.error(), e.debug().unwrap_or_default()));
                break;
            }
            gst::MessageView::Warning(w) => r.warnings.push(w.error().to_string()),
            gst::MessageView::Info(i) => r.infos.push(i.error().to_string()),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                match s.name().as_str() {
                    "sceneckpt-scene" => r.scenes.push((
                        s.get::<String>("stem").unwrap(),
                        s.get::<String>("state").unwrap(),
                    )),
                    "sceneckpt-committed" => r.committed.push(s.get::<String>("scene").unwrap()),
                    "sceneckpt-progress" => r.progress.push(s.to_owned()),
                    "sceneckpt-summary" => r.summary = Some(s.to_owned()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    if let Some(t) = text {
        r.events = t.property::<Vec<String>>("event-log");
    }
    r.elapsed = t0.elapsed();
    r
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn stats_lines(markers: &Path) -> Vec<gstsceneckpt::stats::StatsLine> {
    let t = std::fs::read_to_string(markers.join("arcwhisper-stats.jsonl")).unwrap_or_default();
    gstsceneckpt::stats::parse_lines(&t).0
}

/// Spawn this test binary as a child process running one pipeline (see `child_pipeline` in
/// tests/pipeline.rs): the way to test kill -9 and two processes on one folder.
pub fn spawn_child(
    location: &Path,
    device_label: &str,
    realtime_factor: f64,
) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_pipeline",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SCENECKPT_CHILD_LOCATION", location)
        .env("SCENECKPT_CHILD_DEVICE", device_label)
        .env("SCENECKPT_CHILD_RTF", realtime_factor.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

pub static SERIAL: Mutex<()> = Mutex::new(());

pub mod test_text {
    //! TEST SCAFFOLDING ONLY (see the module comment above): not the product path.
    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;
    use std::sync::{LazyLock, Mutex};

    #[derive(Default)]
    struct St {
        base_pts: u64,
        samples: u64,
        stem: String,
        device_label: String,
        log: Vec<String>,
    }

    pub struct TestText {
        sinkpad: gst::Pad,
        srcpad: gst::Pad,
        st: Mutex<St>,
        rtf: Mutex<f64>,
    }

    impl TestText {
        fn chain(&self, buf: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
            let n = (buf.size() / 4) as u64;
            let rtf = *self.rtf.lock().unwrap();
            {
                let mut st = self.st.lock().unwrap();
                st.samples += n;
                if st.log.last().map(|l| l != "buffer").unwrap_or(true) {
                    st.log.push("buffer".into());
                }
            }
            if rtf > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(n as f64 / 16000.0 * rtf));
            }
            Ok(gst::FlowSuccess::Ok)
        }

        fn event(&self, ev: gst::Event) -> bool {
            let name = match ev.structure() {
                Some(s)
                    if ev.type_() == gst::EventType::CustomDownstream
                        || ev.type_() == gst::EventType::CustomDownstreamSticky =>
                {
                    s.name().to_string()
                }
                _ => ev.type_().name().to_string(),
            };
            self.st.lock().unwrap().log.push(name.clone());
            if let gst::EventView::Caps(_) = ev.view() {
                return self.srcpad.push_event(gst::event::Caps::new(
                    &gst::Caps::builder("text/x-raw")
                        .field("format", "utf8")
                        .build(),
                ));
            }
            let s = ev.structure().map(|s| s.to_owned());
            match name.as_str() {
                "sceneckpt-scene-start" => {
                    let s = s.unwrap();
                    let mut st = self.st.lock().unwrap();
                    st.base_pts = s.get::<u64>("base-pts").unwrap();
                    st.samples = 0;
                    st.stem = s.get::<String>("stem").unwrap();
                    st.device_label = s.get::<String>("device-label").unwrap_or_default();
                    drop(st);
                    self.srcpad.push_event(ev)
                }
                "sceneckpt-scene-end" => {
                    let (text, pts, dur, dev) = {
                        let st = self.st.lock().unwrap();
                        (
                            format!("scene {}: {} samples", st.stem, st.samples),
                            st.base_pts,
                            st.samples * 1_000_000_000 / 16000,
                            st.device_label.clone(),
                        )
                    };
                    let mut b = gst::Buffer::from_mut_slice(text.into_bytes());
                    {
                        let b = b.get_mut().unwrap();
                        b.set_pts(gst::ClockTime::from_nseconds(pts));
                        b.set_duration(gst::ClockTime::from_nseconds(dur));
                    }
                    if self.srcpad.push(b).is_err() {
                        return false;
                    }
                    let mut s = s.unwrap();
                    s.set("device", dev);
                    s.set("model", "none (test scaffolding)");
                    s.set("worker-pid", std::process::id() as i64);
                    self.srcpad.push_event(gst::event::CustomDownstream::new(s))
                }
                _ => self.srcpad.push_event(ev),
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for TestText {
        const NAME: &'static str = "GstSceneCkptTestText";
        type Type = TestTextElem;
        type ParentType = gst::Element;

        fn with_class(klass: &Self::Class) -> Self {
            let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
                .chain_function(|pad, parent, buf| {
                    TestText::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |t| {
                            let _ = pad;
                            t.chain(buf)
                        },
                    )
                })
                .event_function(|_pad, parent, ev| {
                    TestText::catch_panic_pad_function(parent, || false, |t| t.event(ev))
                })
                .build();
            let srcpad =
                gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
            TestText {
                sinkpad,
                srcpad,
                st: Mutex::new(St::default()),
                rtf: Mutex::new(0.0),
            }
        }
    }

    impl ObjectImpl for TestText {
        fn constructed(&self) {
            self.parent_constructed();
            let obj = self.obj();
            obj.add_pad(&self.sinkpad).unwrap();
            obj.add_pad(&self.srcpad).unwrap();
        }
        fn properties() -> &'static [glib::ParamSpec] {
            static P: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                vec![
                    glib::ParamSpecDouble::builder("realtime-factor")
                        .minimum(0.0)
                        .maximum(100.0)
                        .build(),
                    glib::ParamSpecBoxed::builder::<Vec<String>>("event-log")
                        .read_only()
                        .build(),
                ]
            });
            P.as_ref()
        }
        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            if pspec.name() == "realtime-factor" {
                *self.rtf.lock().unwrap() = value.get().unwrap();
            }
        }
        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "realtime-factor" => self.rtf.lock().unwrap().to_value(),
                _ => self.st.lock().unwrap().log.to_value(),
            }
        }
    }

    impl GstObjectImpl for TestText {}

    impl ElementImpl for TestText {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "sceneckpt test text producer (test scaffolding only)",
                    "Filter/Test",
                    "Stands in for arcwhisper in sceneckpt's own tests",
                    "arcwhisper developers",
                )
            });
            Some(&*M)
        }
        fn pad_templates() -> &'static [gst::PadTemplate] {
            static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                vec![
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &gst::Caps::new_any(),
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &gst::Caps::builder("text/x-raw")
                            .field("format", "utf8")
                            .build(),
                    )
                    .unwrap(),
                ]
            });
            T.as_ref()
        }
    }

    glib::wrapper! {
        pub struct TestTextElem(ObjectSubclass<TestText>) @extends gst::Element, gst::Object;
    }

    pub fn register() {
        gst::Element::register(
            None,
            "sceneckpttesttext",
            gst::Rank::NONE,
            TestTextElem::static_type(),
        )
        .unwrap();
    }
}
