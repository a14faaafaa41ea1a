// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where decoded segments become text buffers: one function, [`text_buffer`], so that cue
//! shaping (the GStreamer-free `subtitle-cues` crate) can be put in front of it later.
//!
//! A cue lies inside its own stream's audio: Whisper's last timestamp of a window often runs a
//! little past the audio it was given (a 26.816 s scene ended at 27.080 s), and a cue that ends
//! after its scene would both be wrong and push the next scene's first cue later. So times are
//! clamped to `[floor, audio_end]`: `floor` is the end of the stream's previous cue (cues never
//! overlap) or the stream's first sample, `audio_end` the end of the audio received so far in
//! this stream. Nothing of an earlier stream enters either bound.

use worker_protocol::SegmentMsg;

/// Bounds of the next cue of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CueBounds {
    /// PTS of the stream's first sample: segment times count from here.
    pub base: gst::ClockTime,
    /// No cue starts before this: the end of the stream's previous cue, or `base`.
    pub floor: gst::ClockTime,
    /// No cue ends after this: the end of the audio received in the stream.
    pub audio_end: gst::ClockTime,
}

fn secs_to_time(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s.max(0.0) * 1e9).round() as u64)
}

/// (pts, end) of a segment running from `start` to `end` seconds of its stream.
pub fn cue_times(start: f64, end: f64, b: CueBounds) -> (gst::ClockTime, gst::ClockTime) {
    let limit = b.audio_end.max(b.floor);
    let pts = (b.base + secs_to_time(start)).clamp(b.floor, limit);
    let end = (b.base + secs_to_time(end.max(start))).clamp(pts, limit);
    (pts, end)
}

/// The text buffer of one segment (trimmed text, PTS and duration inside `b`); `None` for a
/// segment without text.
pub fn text_buffer(seg: &SegmentMsg, b: CueBounds) -> Option<gst::Buffer> {
    let text = seg.text.trim();
    if text.is_empty() {
        return None;
    }
    let (pts, end) = cue_times(seg.start, seg.end, b);
    let mut buf = gst::Buffer::from_mut_slice(text.as_bytes().to_vec());
    {
        let b = buf.get_mut().expect("a new buffer is writable");
        b.set_pts(pts);
        b.set_duration(end - pts);
    }
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> gst::ClockTime {
        gst::ClockTime::from_mseconds(v)
    }

    #[test]
    fn end_past_the_audio_is_clamped() {
        // The scene: 26.816 s of audio, last segment 24.0 -> 27.08 s.
        let b = CueBounds {
            base: ms(100_000),
            floor: ms(120_000),
            audio_end: ms(126_816),
        };
        assert_eq!(cue_times(24.0, 27.08, b), (ms(124_000), ms(126_816)));
    }

    #[test]
    fn a_cue_starts_at_the_end_of_the_previous_one() {
        let b = CueBounds {
            base: ms(0),
            floor: ms(5_200),
            audio_end: ms(30_000),
        };
        assert_eq!(cue_times(5.0, 7.5, b), (ms(5_200), ms(7_500)));
        // Ends before its start: zero length at the start, never reversed.
        assert_eq!(cue_times(3.0, 4.0, b), (ms(5_200), ms(5_200)));
    }

    #[test]
    fn a_segment_after_the_audio_sits_at_its_end() {
        let b = CueBounds {
            base: ms(0),
            floor: ms(0),
            audio_end: ms(10_000),
        };
        assert_eq!(cue_times(10.2, 11.0, b), (ms(10_000), ms(10_000)));
    }

    #[test]
    fn empty_text_gives_no_buffer() {
        gst::init().unwrap();
        let seg = |t: &str| SegmentMsg {
            start: 1.0,
            end: 2.0,
            text: t.into(),
            tokens: vec![],
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            temperature: 0.0,
            compression_ratio: 1.0,
            words: vec![],
        };
        let b = CueBounds {
            base: ms(0),
            floor: ms(0),
            audio_end: ms(10_000),
        };
        assert!(text_buffer(&seg("  "), b).is_none());
        let buf = text_buffer(&seg(" Hello. "), b).unwrap();
        assert_eq!(&*buf.map_readable().unwrap(), b"Hello.");
        assert_eq!(buf.pts(), Some(ms(1_000)));
        assert_eq!(buf.duration(), Some(ms(1_000)));
    }
}
