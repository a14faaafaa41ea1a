//! Any audio or video file GStreamer can decode -> 16 kHz mono f32:
//! `filesrc ! decodebin ! audioconvert ! audioresample ! appsink` (F32LE, 16 kHz, mono).
//! The first audio stream is used; the others (video, ...) are not decoded, only followed to see
//! how far they reach (`reach.rs`).

use crate::progress::Progress;
use crate::reach::{self, Reach};
use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RATE: u32 = 16_000;

/// A decoder that yields no audio for this long has failed (decodebin drops some demuxer errors
/// while it is still autoplugging; the pipeline then never delivers anything).
const STALL: Duration = Duration::from_secs(30);

/// What decodebin told us about the streams it found, from its own threads.
#[derive(Default)]
struct Streams {
    audio_linked: bool,
    no_more_pads: bool,
    /// Caps of streams we saw but do not use (for "no audio track: it has video/x-h264").
    others: Vec<String>,
    /// Caps of audio streams no installed decoder handles.
    undecodable_audio: Vec<String>,
    /// How far the other streams went.
    others_reach: Reach,
}

/// Sets the pipeline to NULL however decoding ends.
struct Running(gst::Pipeline);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

/// The whole audio of `path` as 16 kHz mono f32; a clear error naming the file otherwise. Audio
/// that ends well before the duration the file declares is an error (a truncated file must not
/// give a transcript that looks complete) unless `allow_partial`, then a warning.
pub fn decode_file(path: &Path, allow_partial: bool, progress: &mut Progress) -> Result<Vec<f32>> {
    check_input(path)?;
    if is_raw_f32(path) {
        return read_raw_f32(path);
    }
    gst::init().context("GStreamer failed to initialise")?;
    progress.note(&format!("decoding {}", path.display()));
    let t0 = Instant::now();
    let streams = Arc::new(Mutex::new(Streams::default()));
    let (pipeline, appsink) = build(path, &streams)?;
    let running = Running(pipeline);
    if running.0.set_state(gst::State::Playing).is_err() {
        return Err(bus_error(path, &running.0)
            .unwrap_or_else(|| anyhow!("{}: GStreamer could not start decoding", path.display())));
    }
    let decoded = pull_all(path, &running.0, &appsink, &streams, progress)?;
    drop(running);
    progress.end();
    let others_reach = streams.lock().unwrap().others_reach.seconds();
    check_complete(path, &decoded, others_reach, allow_partial, progress)?;
    let samples = decoded.samples;
    if samples.is_empty() {
        bail!(
            "{}: its audio track holds no audio (0 samples decoded)",
            path.display()
        );
    }
    progress.note(&format!(
        "decoded {:.1} s of audio in {:.1} s",
        samples.len() as f64 / RATE as f64,
        t0.elapsed().as_secs_f64()
    ));
    Ok(samples)
}

/// A truncated file fails (or, with `allow_partial`, warns) rather than give a transcript that
/// looks complete.
fn check_complete(
    path: &Path,
    decoded: &Decoded,
    others_reach: f64,
    allow_partial: bool,
    progress: &Progress,
) -> Result<()> {
    let audio_seconds = decoded.samples.len() as f64 / RATE as f64;
    let declared = decoded.declared_seconds;
    let Some(short) = reach::shortfall(
        path,
        audio_seconds,
        others_reach,
        declared,
        &decoded.warnings,
    ) else {
        return Ok(());
    };
    if !allow_partial {
        bail!("{short}; --allow-partial transcribes what decodes");
    }
    progress.warn(&format!(
        "{short}; transcribing what decodes (--allow-partial)"
    ));
    Ok(())
}

/// Errors GStreamer would report less clearly (or not at all) for a path that is not a file.
fn check_input(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow!("input {} does not exist", path.display()),
        _ => anyhow!("cannot read input {}: {e}", path.display()),
    })?;
    if meta.is_dir() {
        bail!(
            "input {} is a folder; give one audio or video file",
            path.display()
        );
    }
    if !meta.is_file() {
        bail!(
            "input {} is not a regular file (a FIFO or device?)",
            path.display()
        );
    }
    std::fs::File::open(path).with_context(|| format!("cannot read input {}", path.display()))?;
    if meta.len() == 0 {
        bail!("input {} is empty (0 bytes)", path.display());
    }
    Ok(())
}

fn is_raw_f32(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("f32"))
}

/// Raw 16 kHz mono f32 LE (`.f32`): no container for GStreamer to recognise, so read directly.
fn read_raw_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() % 4 != 0 {
        bail!(
            "{}: {} bytes is not a whole number of f32 samples (.f32 means raw 16 kHz mono f32 LE)",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory).build().with_context(|| {
        format!(
            "GStreamer element {factory} is missing (apt-get install gstreamer1.0-plugins-base)"
        )
    })
}

fn build(path: &Path, streams: &Arc<Mutex<Streams>>) -> Result<(gst::Pipeline, gst_app::AppSink)> {
    let pipeline = gst::Pipeline::new();
    let src = make("filesrc")?;
    src.set_property("location", path);
    let decode = make("decodebin")?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("rate", RATE as i32)
        .field("channels", 1i32)
        .field("layout", "interleaved")
        .build();
    let appsink = gst_app::AppSink::builder()
        .caps(&caps)
        .sync(false)
        .max_buffers(64)
        .build();
    pipeline.add_many([&src, &decode, &convert, &resample, appsink.upcast_ref()])?;
    src.link(&decode)?;
    gst::Element::link_many([&convert, &resample, appsink.upcast_ref()])?;
    connect_decodebin(&decode, &convert, streams);
    Ok((pipeline, appsink))
}

fn caps_name(caps: &gst::CapsRef) -> String {
    caps.structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| caps.to_string())
}

/// Link the first raw audio stream; leave video undecoded; remember what else there was.
fn connect_decodebin(decode: &gst::Element, convert: &gst::Element, streams: &Arc<Mutex<Streams>>) {
    // Video decoders are not plugged: a video stream is exposed undecoded (demuxers and parsers
    // still are, so containers open as usual).
    if let Some(result_type) = gst::glib::Type::from_name("GstAutoplugSelectResult") {
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
    let (s, convert) = (streams.clone(), convert.downgrade());
    decode.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps_name(&caps);
        let mut st = s.lock().unwrap();
        if name == "audio/x-raw" && !st.audio_linked {
            if let Some(sink) = convert.upgrade().and_then(|c| c.static_pad("sink")) {
                st.audio_linked = pad.link(&sink).is_ok();
            }
        } else {
            st.others.push(name);
            st.others_reach.track(pad);
        }
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

/// What a finished decode gives besides the samples: what the file declared, what GStreamer
/// warned about on the way.
#[derive(Default)]
struct Decoded {
    samples: Vec<f32>,
    declared_seconds: Option<f64>,
    warnings: Vec<String>,
}

fn pull_all(
    path: &Path,
    pipeline: &gst::Pipeline,
    appsink: &gst_app::AppSink,
    streams: &Arc<Mutex<Streams>>,
    progress: &mut Progress,
) -> Result<Decoded> {
    let mut decoded = Decoded::default();
    let mut last_audio = Instant::now();
    let mut started = false;
    loop {
        if let Some(sample) = appsink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            append(&mut decoded.samples, &sample)?;
            last_audio = Instant::now();
            if !started {
                started = true;
                decoded.declared_seconds = duration_seconds(pipeline);
                progress.begin("decoding", decoded.declared_seconds.unwrap_or(0.0));
            }
            progress.update(decoded.samples.len() as f64 / RATE as f64);
            continue;
        }
        if let Some(e) = bus_error(path, pipeline) {
            return Err(no_audio_error(path, streams).unwrap_or(e));
        }
        decoded.warnings.extend(bus_warnings(pipeline));
        if appsink.is_eos() {
            if let Some(e) = no_audio_error(path, streams).filter(|_| decoded.samples.is_empty()) {
                return Err(e);
            }
            // Asked again at the end: parsers refine the duration as they read.
            decoded.declared_seconds = duration_seconds(pipeline).or(decoded.declared_seconds);
            return Ok(decoded);
        }
        if let Some(e) = no_audio_error(path, streams) {
            return Err(e);
        }
        if last_audio.elapsed() > STALL {
            bail!(
                "{}: decoding stalled, no audio for {} s (a corrupt or truncated file?)",
                path.display(),
                STALL.as_secs()
            );
        }
    }
}

fn duration_seconds(pipeline: &gst::Pipeline) -> Option<f64> {
    pipeline
        .query_duration::<gst::ClockTime>()
        .map(|d| d.seconds_f64())
}

fn append(samples: &mut Vec<f32>, sample: &gst::Sample) -> Result<()> {
    let Some(buffer) = sample.buffer() else {
        return Ok(());
    };
    let map = buffer
        .map_readable()
        .context("mapping a decoded audio buffer")?;
    samples.extend(
        map.as_slice()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    Ok(())
}

/// Every stream was exposed and none is decodable audio.
fn no_audio_error(path: &Path, streams: &Arc<Mutex<Streams>>) -> Option<anyhow::Error> {
    let st = streams.lock().unwrap();
    if st.audio_linked || !st.no_more_pads {
        return None;
    }
    if let Some(caps) = st.undecodable_audio.first() {
        return Some(anyhow!(
            "{}: no installed GStreamer decoder for its audio ({caps}); install \
             gstreamer1.0-libav and gstreamer1.0-plugins-good/-bad/-ugly",
            path.display()
        ));
    }
    let found = if st.others.is_empty() {
        "no streams at all".to_string()
    } else {
        st.others.join(", ")
    };
    Some(anyhow!(
        "{}: no audio track (it has {found}); nothing to transcribe",
        path.display()
    ))
}

/// Warnings GStreamer posted since the last call (decoders skipping corrupt frames, ...).
fn bus_warnings(pipeline: &gst::Pipeline) -> Vec<String> {
    let Some(bus) = pipeline.bus() else {
        return Vec::new();
    };
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning]))
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

/// The first error on the bus, said in terms of the file.
fn bus_error(path: &Path, pipeline: &gst::Pipeline) -> Option<anyhow::Error> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    let gst::MessageView::Error(e) = msg.view() else {
        return None;
    };
    let err = e.error();
    let what = if err.kind::<gst::StreamError>() == Some(gst::StreamError::TypeNotFound) {
        "not an audio or video file GStreamer recognises"
    } else if err.kind::<gst::CoreError>() == Some(gst::CoreError::MissingPlugin)
        || err.kind::<gst::StreamError>() == Some(gst::StreamError::CodecNotFound)
    {
        "needs a GStreamer plugin that is not installed (apt-get install gstreamer1.0-libav \
         gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)"
    } else if matches!(
        err.kind::<gst::StreamError>(),
        Some(gst::StreamError::Decode | gst::StreamError::Demux | gst::StreamError::Format)
    ) {
        "cannot be decoded (corrupt or truncated?)"
    } else {
        "cannot be decoded"
    };
    // GStreamer's debug text names the element and source line: useful for a decoder's failure,
    // noise for a file that is simply not media.
    let type_not_found = err.kind::<gst::StreamError>() == Some(gst::StreamError::TypeNotFound);
    let detail = e
        .debug()
        .filter(|_| !type_not_found)
        .and_then(|d| d.lines().last().map(|l| format!(" ({})", l.trim())))
        .unwrap_or_default();
    Some(anyhow!("{}: {what}: {err}{detail}", path.display()))
}
