// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where decoded segments become text buffers: the worker's words (or a segment's text when the
//! model gives no word timing) go through one [`CueShaper`] per stream (the GStreamer-free
//! `subtitle-cues` crate: line and cue limits, hold, reading speed), and each cue becomes one
//! `text/x-raw` buffer, its lines joined with `\n`.
//!
//! A cue lies inside its own stream's audio: Whisper's last timestamp of a window often runs a
//! little past the audio it was given (a 26.816 s scene ended at 27.080 s), and a cue that ends
//! after its scene would both be wrong and push the next scene's first cue later. So times are
//! clamped to `[floor, audio_end]`: `floor` is the end of the stream's previous cue or GAP (cues
//! never overlap) or the stream's first sample, `audio_end` the end of the audio received so far
//! in this stream. Nothing of an earlier stream enters either bound.

use subtitle_cues::{Cue, CueOptions, CueShaper, Segment, Word};
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

pub fn secs_to_time(s: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((s.max(0.0) * 1e9).round() as u64)
}

fn time_to_secs(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

/// (pts, end) of a cue running from `start` to `end` seconds of its stream.
pub fn cue_times(start: f64, end: f64, b: CueBounds) -> (gst::ClockTime, gst::ClockTime) {
    let limit = b.audio_end.max(b.floor);
    let pts = (b.base + secs_to_time(start)).clamp(b.floor, limit);
    let end = (b.base + secs_to_time(end.max(start))).clamp(pts, limit);
    (pts, end)
}

/// The cue shaping of one stream (scene): segments in, finished cues out.
#[derive(Debug, Clone)]
pub struct StreamCues {
    shaper: CueShaper,
}

impl Default for StreamCues {
    fn default() -> Self {
        StreamCues::new(&CueOptions::default())
    }
}

impl StreamCues {
    pub fn new(opts: &CueOptions) -> Self {
        StreamCues {
            shaper: CueShaper::new(opts),
        }
    }

    /// The cues the decoded `segments` settled (times in seconds of the stream).
    pub fn push(&mut self, segments: &[SegmentMsg]) -> Vec<Cue> {
        segments
            .iter()
            .flat_map(|s| self.shaper.push_segment(&segment(s)))
            .collect()
    }

    /// The remaining cues, the audio ending at `audio_end` after the stream's first sample.
    /// The shaper is then empty, ready for the next stream.
    pub fn finish(&mut self, audio_end: gst::ClockTime) -> Vec<Cue> {
        self.shaper.finish(time_to_secs(audio_end))
    }

    /// Time of the stream before which no cue can come any more: `until`, or earlier when words
    /// before it still wait for their cue.
    pub fn settled_until(&self, until: gst::ClockTime) -> gst::ClockTime {
        self.shaper
            .pending_start()
            .map_or(until, |s| until.min(secs_to_time(s)))
    }
}

fn segment(s: &SegmentMsg) -> Segment {
    Segment {
        start: s.start,
        end: s.end,
        text: s.text.clone(),
        words: s
            .words
            .iter()
            .map(|w| Word {
                start: w.start,
                end: w.end,
                text: w.word.clone(),
            })
            .collect(),
    }
}

/// The text buffer of one cue (lines joined with `\n`, PTS and duration inside `b`); `None` for
/// a cue without text.
pub fn cue_buffer(cue: &Cue, b: CueBounds) -> Option<gst::Buffer> {
    let text = cue.text();
    if text.trim().is_empty() {
        return None;
    }
    let (pts, end) = cue_times(cue.start, cue.end, b);
    let mut buf = gst::Buffer::from_mut_slice(text.into_bytes());
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
    use worker_protocol::WordMsg;

    fn ms(v: u64) -> gst::ClockTime {
        gst::ClockTime::from_mseconds(v)
    }

    fn seg(start: f64, end: f64, text: &str, words: Vec<WordMsg>) -> SegmentMsg {
        SegmentMsg {
            start,
            end,
            text: text.into(),
            tokens: vec![],
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            temperature: 0.0,
            compression_ratio: 1.0,
            words,
        }
    }

    fn word(start: f64, end: f64, text: &str) -> WordMsg {
        WordMsg {
            start,
            end,
            word: text.into(),
            probability: 0.9,
        }
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
    fn words_become_cues_after_a_pause_and_at_the_finish() {
        gst::init().unwrap();
        let mut cues = StreamCues::new(&CueOptions::default());
        let first = seg(
            1.0,
            2.0,
            " Hello world.",
            vec![word(1.0, 1.5, " Hello"), word(1.5, 2.0, " world.")],
        );
        // Nothing settled yet: the cue may still grow, so no GAP past the first word.
        assert!(cues.push(&[first]).is_empty());
        assert_eq!(cues.settled_until(ms(30_000)), ms(1_000));
        // A word after a long pause settles the first cue, held 0.4 s.
        let second = seg(5.0, 6.0, " Again.", vec![word(5.0, 6.0, " Again.")]);
        let settled = cues.push(&[second]);
        assert_eq!(settled.len(), 1);
        let b = CueBounds {
            base: ms(10_000),
            floor: ms(10_000),
            audio_end: ms(18_000),
        };
        let buf = cue_buffer(&settled[0], b).unwrap();
        assert_eq!(&*buf.map_readable().unwrap(), b"Hello world.");
        assert_eq!(
            (buf.pts(), buf.duration()),
            (Some(ms(11_000)), Some(ms(1_400)))
        );
        let rest = cues.finish(ms(8_000));
        assert_eq!(rest[0].text(), "Again.");
        assert_eq!(cues.settled_until(ms(30_000)), ms(30_000));
    }

    #[test]
    fn a_segment_without_words_is_shaped_from_its_text() {
        gst::init().unwrap();
        let mut cues = StreamCues::new(&CueOptions::default());
        let text = " The quick brown fox jumps over the lazy dog and runs far away into the woods.";
        assert!(cues.push(&[seg(0.0, 5.0, text, vec![])]).is_empty());
        let out = cues.finish(ms(6_000));
        let b = CueBounds {
            base: ms(0),
            floor: ms(0),
            audio_end: ms(6_000),
        };
        let buf = cue_buffer(&out[0], b).unwrap();
        let body = String::from_utf8(buf.map_readable().unwrap().to_vec()).unwrap();
        assert_eq!(body.lines().count(), 2, "{body:?}");
        assert!(body.lines().all(|l| l.chars().count() <= 42), "{body:?}");
    }
}
