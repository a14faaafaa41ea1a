// SPDX-License-Identifier: MIT OR Apache-2.0
//! A scene's private decoding pipeline, `filesrc ! decodebin ! audioconvert ! audioresample !
//! appsink`: the first audio track as F32LE mono at the source's rate, video streams left
//! undecoded, pulled a buffer at a time with a stall limit. Stopping it with a bound is
//! `decoder_stop.rs`.

use gst::glib;
use gst::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the pipeline is made of (checked when the source starts).
pub const ELEMENTS: &[&str] = &[
    "filesrc",
    "decodebin",
    "audioconvert",
    "audioresample",
    "appsink",
];

/// What one pull gave.
pub enum Pulled {
    Buffer(gst::Buffer),
    Eos,
    Error(String),
    Timeout,
}

pub struct SceneDecoder {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    /// decodebin exposed an audio stream and it is linked.
    audio_linked: Arc<AtomicBool>,
    /// decodebin exposed every stream.
    no_more_pads: Arc<AtomicBool>,
    /// Time spent waiting for a sample since the last one (the stall watchdog).
    waiting: Duration,
}

impl SceneDecoder {
    /// The pipeline for `scene` (not started). Err names the element that cannot be made.
    pub fn build(scene: &Path, rate: u64) -> Result<Self, String> {
        let mk = |f: &str| {
            gst::ElementFactory::make(f)
                .build()
                .map_err(|e| format!("cannot create {f}: {e}"))
        };
        let pipeline = gst::Pipeline::new();
        let src = mk("filesrc")?;
        src.set_property("location", scene);
        let decode = mk("decodebin")?;
        let convert = mk("audioconvert")?;
        let resample = mk("audioresample")?;
        let appsink = gst_app::AppSink::builder()
            .caps(
                &gst::Caps::builder("audio/x-raw")
                    .field("format", "F32LE")
                    .field("rate", rate as i32)
                    .field("channels", 1i32)
                    .field("layout", "interleaved")
                    .build(),
            )
            .sync(false)
            .max_buffers(64)
            .build();
        pipeline
            .add_many([&src, &decode, &convert, &resample, appsink.upcast_ref()])
            .map_err(|e| e.to_string())?;
        src.link(&decode).map_err(|e| e.to_string())?;
        gst::Element::link_many([&convert, &resample, appsink.upcast_ref()])
            .map_err(|e| e.to_string())?;
        expose_video_undecoded(&decode);
        let audio_linked = Arc::new(AtomicBool::new(false));
        let no_more_pads = Arc::new(AtomicBool::new(false));
        link_first_audio_stream(&decode, &convert, audio_linked.clone());
        let nmp = no_more_pads.clone();
        decode.connect_no_more_pads(move |_| nmp.store(true, Ordering::SeqCst));
        Ok(Self {
            pipeline,
            appsink,
            audio_linked,
            no_more_pads,
            waiting: Duration::ZERO,
        })
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// Start decoding. Err says why not (the bus's error, e.g. the file cannot be opened).
    pub fn play(&self) -> Result<(), String> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map(drop)
            .map_err(|e| {
                self.pipeline
                    .bus()
                    .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                    .and_then(|m| match m.view() {
                        gst::MessageView::Error(err) => Some(err.error().to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| format!("cannot start decoding: {e}"))
            })
    }

    /// The next buffer, waiting 50 ms at most; an error once no audio came for `timeout`.
    pub fn pull(&mut self, timeout: Duration) -> Pulled {
        let t0 = Instant::now();
        if let Some(sample) = self
            .appsink
            .try_pull_sample(gst::ClockTime::from_mseconds(50))
        {
            self.waiting = Duration::ZERO;
            if let Some(buf) = sample.buffer_owned() {
                return Pulled::Buffer(buf);
            }
            return Pulled::Timeout;
        }
        if let Some(e) = self.bus_error() {
            return Pulled::Error(e);
        }
        // Every stream is exposed and none is audio.
        if self.no_audio_track() {
            return Pulled::Error("no audio track".into());
        }
        if self.appsink.is_eos() {
            if !self.audio_linked.load(Ordering::SeqCst) {
                return Pulled::Error("no audio track".into());
            }
            return Pulled::Eos;
        }
        // decodebin drops some demuxer errors that happen while it is still autoplugging
        // (the pipeline then never prerolls): a decoder that gives nothing for this long failed.
        self.waiting += t0.elapsed();
        if self.waiting > timeout {
            return Pulled::Error(format!(
                "decoding stalled: no audio for {} s (corrupt or truncated file?)",
                timeout.as_secs()
            ));
        }
        Pulled::Timeout
    }

    /// decodebin exposed every stream and none of them was audio.
    fn no_audio_track(&self) -> bool {
        self.no_more_pads.load(Ordering::SeqCst) && !self.audio_linked.load(Ordering::SeqCst)
    }

    /// An error on the bus, as the scene's failure reason.
    fn bus_error(&self) -> Option<String> {
        let msg = self
            .pipeline
            .bus()?
            .pop_filtered(&[gst::MessageType::Error])?;
        let gst::MessageView::Error(e) = msg.view() else {
            return None;
        };
        if self.no_audio_track() {
            return Some("no audio track".into());
        }
        let mut m = e.error().to_string();
        if let Some(d) = e.debug() {
            let first = d.lines().last().unwrap_or("").trim().to_string();
            if !first.is_empty() {
                m.push_str(&format!(" ({first})"));
            }
        }
        Some(m)
    }
}

/// Do not decode video: decodebin exposes video streams undecoded (they stay unlinked).
fn expose_video_undecoded(decode: &gst::Element) {
    let Some(enum_type) = glib::Type::from_name("GstAutoplugSelectResult") else {
        return;
    };
    decode.connect("autoplug-select", false, move |args| {
        let factory = args[3].get::<gst::ElementFactory>().ok();
        let klass = factory
            .as_ref()
            .map(|f| f.klass().to_string())
            .unwrap_or_default();
        // GST_AUTOPLUG_SELECT_TRY = 0, GST_AUTOPLUG_SELECT_EXPOSE = 1
        let v = if klass.contains("Decoder") && (klass.contains("Video") || klass.contains("Image"))
        {
            1
        } else {
            0
        };
        glib::EnumClass::with_type(enum_type).and_then(|c| c.to_value(v))
    });
}

/// Link decodebin's first audio pad to `convert`; `linked` says it happened.
fn link_first_audio_stream(decode: &gst::Element, convert: &gst::Element, linked: Arc<AtomicBool>) {
    let conv_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_audio = caps
            .structure(0)
            .map(|s| s.name().starts_with("audio/"))
            .unwrap_or(false);
        if !is_audio || linked.load(Ordering::SeqCst) {
            return;
        }
        if let Some(conv) = conv_weak.upgrade() {
            let sink = conv.static_pad("sink").unwrap();
            if pad.link(&sink).is_ok() {
                linked.store(true, Ordering::SeqCst);
            }
        }
    });
}
