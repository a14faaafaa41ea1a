//! How far the file's streams really go, to tell a truncated file from one whose audio is just
//! shorter than its video. A cut file stops every stream at about the same place (they are
//! interleaved); a valid one has some stream reaching the duration the file declares.
//! The streams we do not transcribe (video, subtitles) go to a `fakesink` undecoded, with a probe
//! noting the end of their last buffer.

use gst::prelude::*;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Seconds (stream time) reached by the streams we do not transcribe.
#[derive(Clone, Default)]
pub struct Reach(Arc<Mutex<f64>>);

impl Reach {
    pub fn seconds(&self) -> f64 {
        *self.0.lock().unwrap()
    }

    /// Link `pad` (a stream we do not use) to a new fakesink in its pipeline and note its end.
    pub fn track(&self, pad: &gst::Pad) {
        let Some(bin) = pad
            .parent_element()
            .and_then(|e| e.parent())
            .and_then(|p| p.downcast::<gst::Bin>().ok())
        else {
            return;
        };
        let Ok(sink) = gst::ElementFactory::make("fakesink")
            .property("sync", false)
            .property("async", false)
            .build()
        else {
            return;
        };
        if bin.add(&sink).is_err() || sink.sync_state_with_parent().is_err() {
            return;
        }
        let _ = pad.link(&sink.static_pad("sink").unwrap());
        let reach = self.0.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(end) = info.buffer().and_then(|b| end_of(pad, b)) {
                let mut r = reach.lock().unwrap();
                *r = r.max(end);
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// Stream time (s) at which `buffer` ends.
fn end_of(pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<f64> {
    let end = buffer.pts()? + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
    let stream_time = pad
        .sticky_event::<gst::event::Segment>(0)
        .and_then(|e| {
            e.segment()
                .downcast_ref::<gst::ClockTime>()
                .and_then(|s| s.to_stream_time(end))
        })
        .unwrap_or(end);
    Some(stream_time.seconds_f64())
}

/// The file declares more than any of its streams delivered (beyond rounding and padding).
pub fn shortfall(
    path: &Path,
    audio_seconds: f64,
    other_streams_seconds: f64,
    declared: Option<f64>,
    warnings: &[String],
) -> Option<String> {
    let declared = declared?;
    let reached = audio_seconds.max(other_streams_seconds);
    if declared - reached <= (0.02 * declared).max(1.0) {
        return None;
    }
    let warned = warnings
        .first()
        .map(|w| format!(" (GStreamer: {w})"))
        .unwrap_or_default();
    Some(format!(
        "{}: only {audio_seconds:.1} s of audio decoded (its streams end by {reached:.1} s) but the \
         file declares {declared:.1} s: truncated or corrupt{warned}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_shorter_than_video_is_not_truncation() {
        let p = Path::new("a.ts");
        assert_eq!(shortfall(p, 11.0, 12.9, Some(12.95), &[]), None);
        assert_eq!(shortfall(p, 11.0, 0.0, Some(11.5), &[]), None);
        assert!(shortfall(p, 25.8, 25.9, Some(54.0), &[]).is_some());
        assert!(shortfall(p, 5.3, 0.0, Some(11.0), &[]).is_some());
        assert_eq!(shortfall(p, 5.3, 0.0, None, &[]), None);
    }
}
