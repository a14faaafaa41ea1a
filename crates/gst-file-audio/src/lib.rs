// SPDX-License-Identifier: MIT OR Apache-2.0
//! A file's first audio track through GStreamer, for the command line and for `sceneckptsrc`:
//! `filesrc ! decodebin ! audioconvert ! audioresample ! appsink` (F32LE, a chosen rate, mono or
//! stereo: [`mono_buffer`] mixes stereo with [`downmix::StereoDownmix`], which keeps speech that
//! audioconvert's own mix would cancel when a channel is out of phase).
//! Video decoders are never plugged: a video stream is exposed undecoded, so a film's audio
//! costs no video decoding. What decodebin found is kept in [`Streams`]; each user pulls the
//! appsink and words its own errors.

pub mod downmix;

use downmix::StereoDownmix;
use gst::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The elements the pipeline is made of (to check for before a run).
pub const ELEMENTS: &[&str] = &[
    "filesrc",
    "decodebin",
    "audioconvert",
    "audioresample",
    "appsink",
];

/// What decodebin told us about the file's streams, from its own threads.
#[derive(Debug, Default)]
pub struct Streams {
    /// A raw audio stream is linked to the appsink's branch.
    pub audio_linked: bool,
    /// decodebin exposed every stream.
    pub no_more_pads: bool,
    /// Media types of the streams exposed but not used (video, a second audio track, ...).
    pub others: Vec<String>,
    /// Caps of audio streams no installed decoder handles.
    pub undecodable_audio: Vec<String>,
}

impl Streams {
    /// Every stream was exposed and none of them is linked audio.
    pub fn no_audio_track(&self) -> bool {
        self.no_more_pads && !self.audio_linked
    }

    /// Why there is no audio, once every stream was exposed and none is linked audio.
    pub fn no_audio(&self) -> Option<NoAudio> {
        if !self.no_audio_track() {
            return None;
        }
        if let Some(caps) = self.undecodable_audio.first() {
            return Some(NoAudio::Undecodable(caps.clone()));
        }
        Some(NoAudio::NoTrack(match self.others.is_empty() {
            true => "no streams at all".to_string(),
            false => self.others.join(", "),
        }))
    }
}

/// A file without audio to decode, said with what it has and, where it helps, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAudio {
    /// An audio stream no installed decoder handles (its caps).
    Undecodable(String),
    /// No audio stream at all (the streams it has: "video/x-h264, image/jpeg").
    NoTrack(String),
}

impl std::fmt::Display for NoAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Undecodable(caps) => write!(
                f,
                "no installed GStreamer decoder for its audio ({caps}); install \
                 gstreamer1.0-libav and gstreamer1.0-plugins-good/-bad/-ugly"
            ),
            Self::NoTrack(found) => write!(f, "no audio track (it has {found})"),
        }
    }
}

/// The pipeline (not started), its appsink and what it finds.
pub struct FileAudio {
    pub pipeline: gst::Pipeline,
    pub appsink: gst_app::AppSink,
    pub streams: Arc<Mutex<Streams>>,
}

/// Build the pipeline for `path` at `rate` Hz. `on_other_pad` sees each exposed pad that is not
/// the audio used (the command line follows them to see how far the file reaches).
pub fn build(
    path: &Path,
    rate: u32,
    on_other_pad: impl Fn(&gst::Pad) + Send + Sync + 'static,
) -> Result<FileAudio, BuildError> {
    let make = |factory: &str| {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| BuildError::Missing(factory.to_string()))
    };
    let pipeline = gst::Pipeline::new();
    let src = make("filesrc")?;
    src.set_property("location", path);
    let decode = make("decodebin")?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let appsink = gst_app::AppSink::builder()
        .caps(&f32_caps(rate))
        .sync(false)
        .max_buffers(64)
        .build();
    pipeline.add_many([&src, &decode, &convert, &resample, appsink.upcast_ref()])?;
    src.link(&decode)?;
    gst::Element::link_many([&convert, &resample, appsink.upcast_ref()])?;
    expose_video_undecoded(&decode);
    let streams = Arc::new(Mutex::new(Streams::default()));
    follow_streams(&decode, &convert, &streams, on_other_pad);
    Ok(FileAudio {
        pipeline,
        appsink,
        streams,
    })
}

/// Why the pipeline could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// An element the pipeline needs could not be made (its plugin is not installed).
    Missing(String),
    /// Adding or linking failed (not expected with these elements).
    Link(String),
}

impl From<gst::glib::BoolError> for BuildError {
    fn from(e: gst::glib::BoolError) -> Self {
        Self::Link(e.to_string())
    }
}

impl From<gst::PadLinkError> for BuildError {
    fn from(e: gst::PadLinkError) -> Self {
        Self::Link(e.to_string())
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "cannot create {name}"),
            Self::Link(e) => write!(f, "cannot build the decoding pipeline: {e}"),
        }
    }
}

/// F32LE at `rate`, one or two channels: audioconvert keeps stereo as it is (mixed by
/// [`mono_buffer`], or by the `arcwhisper` element, whose sink takes these caps) and mixes more
/// channels down to two.
pub fn f32_caps(rate: u32) -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("rate", rate as i32)
        .field("channels", gst::IntRange::new(1i32, 2))
        .field("layout", "interleaved")
        .build()
}

/// The sample's buffer as mono F32LE: as it is when it is mono, else mixed by `downmix` into a
/// new buffer with the same timestamps and flags. `None` for a sample without a buffer.
pub fn mono_buffer(
    sample: &gst::Sample,
    downmix: &mut StereoDownmix,
) -> Result<Option<gst::Buffer>, String> {
    let Some(buffer) = sample.buffer_owned() else {
        return Ok(None);
    };
    let channels = sample.caps().map_or(1, channels);
    if channels <= 1 {
        return Ok(Some(buffer));
    }
    let map = buffer
        .map_readable()
        .map_err(|_| "cannot map a decoded audio buffer".to_string())?;
    let mut mono = Vec::with_capacity(map.size() / 4 / channels);
    downmix.push_f32le(map.as_slice(), channels, &mut mono);
    let bytes: Vec<u8> = mono.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = gst::Buffer::from_mut_slice(bytes);
    {
        let o = out.get_mut().expect("a new buffer is writable");
        o.set_pts(buffer.pts());
        o.set_dts(buffer.dts());
        o.set_duration(buffer.duration());
        o.set_flags(buffer.flags());
    }
    Ok(Some(out))
}

/// The channel count raw audio caps give (1 when they do not say).
pub fn channels(caps: &gst::CapsRef) -> usize {
    caps.structure(0)
        .and_then(|s| s.get::<i32>("channels").ok())
        .map_or(1, |c| c.max(1) as usize)
}

/// Little-endian f32 samples of `bytes` (a trailing partial sample is dropped).
pub fn f32_samples(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// The media type of `caps` ("video/x-h264"), or the caps whole when they have no structure.
fn caps_name(caps: &gst::CapsRef) -> String {
    caps.structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| caps.to_string())
}

/// decodebin exposes video streams undecoded (demuxers and parsers are still plugged, so
/// containers open as usual).
fn expose_video_undecoded(decode: &gst::Element) {
    let Some(result_type) = gst::glib::Type::from_name("GstAutoplugSelectResult") else {
        return;
    };
    decode.connect("autoplug-select", false, move |args| {
        let klass = args[3]
            .get::<gst::ElementFactory>()
            .map(|f| f.klass().to_string())
            .unwrap_or_default();
        let video_decoder =
            klass.contains("Decoder") && (klass.contains("Video") || klass.contains("Image"));
        // GST_AUTOPLUG_SELECT_TRY = 0, GST_AUTOPLUG_SELECT_EXPOSE = 1
        gst::glib::EnumClass::with_type(result_type)
            .and_then(|c| c.to_value(i32::from(video_decoder)))
    });
}

/// Link the first raw audio stream to `convert`; note every other stream and every audio
/// stream that has no decoder.
fn follow_streams(
    decode: &gst::Element,
    convert: &gst::Element,
    streams: &Arc<Mutex<Streams>>,
    on_other_pad: impl Fn(&gst::Pad) + Send + Sync + 'static,
) {
    let (s, convert) = (streams.clone(), convert.downgrade());
    decode.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps_name(&caps);
        let mut st = s.lock().unwrap();
        if name == "audio/x-raw" && !st.audio_linked {
            if let Some(sink) = convert.upgrade().and_then(|c| c.static_pad("sink")) {
                st.audio_linked = pad.link(&sink).is_ok();
            }
            return;
        }
        st.others.push(name);
        drop(st);
        on_other_pad(pad);
    });
    let s = streams.clone();
    decode.connect("unknown-type", false, move |args| {
        let caps = args[2].get::<gst::Caps>().ok()?;
        let name = caps_name(&caps);
        let mut st = s.lock().unwrap();
        if name.starts_with("audio/") {
            st.undecodable_audio.push(caps.to_string());
        } else {
            st.others.push(name);
        }
        None
    });
    let s = streams.clone();
    decode.connect_no_more_pads(move |_| s.lock().unwrap().no_more_pads = true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_audio_is_said_once_every_stream_is_exposed() {
        let mut st = Streams {
            others: vec!["video/x-h264".into(), "image/jpeg".into()],
            ..Streams::default()
        };
        assert_eq!(st.no_audio(), None, "decodebin may still expose audio");
        st.no_more_pads = true;
        let why = st.no_audio().unwrap();
        assert_eq!(
            why.to_string(),
            "no audio track (it has video/x-h264, image/jpeg)"
        );
        st.others.clear();
        assert_eq!(
            st.no_audio().unwrap().to_string(),
            "no audio track (it has no streams at all)"
        );
        st.audio_linked = true;
        assert_eq!(st.no_audio(), None);
    }

    #[test]
    fn audio_without_a_decoder_names_its_caps_and_the_packages() {
        let st = Streams {
            no_more_pads: true,
            others: vec!["video/x-h264".into()],
            undecodable_audio: vec!["audio/x-dts, framed=(boolean)true".into()],
            ..Streams::default()
        };
        let why = st.no_audio().unwrap().to_string();
        assert!(why.contains("(audio/x-dts, framed=(boolean)true)"), "{why}");
        assert!(why.contains("install gstreamer1.0-libav"), "{why}");
    }
}
