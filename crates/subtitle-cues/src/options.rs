//! Shape limits for cues, with broadcast defaults (Netflix Timed Text Style Guide, BBC Subtitle
//! Guidelines).

use serde::{Deserialize, Serialize};

/// Limits and preferences for shaping cues. Out-of-range values are clamped by
/// [`CueOptions::normalized`] (every entry point calls it), so no value can make shaping panic
/// or loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CueOptions {
    /// Characters (grapheme clusters, spaces included) per line. 42: Netflix and BBC for
    /// Latin-script languages. Clamped to 8..=200.
    pub max_line_length: usize,
    /// Lines per cue. 2: two lines cover no more of the picture than viewers accept.
    /// Clamped to 1..=4.
    pub max_lines: usize,
    /// Longest time a cue stays on screen, seconds. 7: Netflix's maximum; longer cues get
    /// re-read. Clamped to 1..=60.
    pub max_cue_duration: f64,
    /// Reading-speed floor, characters per second: a cue stays up at least `chars / cps`, but
    /// only by extending into following silence. 17: Netflix's rate for children's programmes,
    /// chosen because home video is watched by whole families (children, grandparents), and
    /// since the extension never overlaps the next speech, a slower rate costs nothing but a
    /// little text in pauses. Clamped to 5..=40.
    pub min_reading_cps: f64,
    /// Shortest time a cue stays up, seconds, again only by extending into silence. 5/6 s:
    /// Netflix's minimum (20 frames at 24 fps); shorter cues flash by unread.
    /// Clamped to 0..=`max_cue_duration`.
    pub min_cue_duration: f64,
    /// Time a cue stays after the last word ends, seconds, so it does not vanish the instant the
    /// voice stops. 0.4 (at most 0.5): leaves room inside the half second a viewer tolerates for
    /// word-end errors of the aligner. Clamped to 0..=0.5.
    pub hold: f64,
    /// A pause between two words longer than this (seconds) always ends a cue: text never stays
    /// on screen over a silence the viewer hears. 0.5. Clamped to 0.1..=5.
    pub pause_split: f64,
    /// Frame rate used for the gap between cues. 25 (PAL home video). Clamped to 1..=120.
    pub frame_rate: f64,
    /// Frames between the end of one cue and the start of the next, so the eye sees a change.
    /// 2: Netflix's minimum gap. Clamped to 0..=25.
    pub min_gap_frames: u32,
}

impl Default for CueOptions {
    fn default() -> Self {
        CueOptions {
            max_line_length: 42,
            max_lines: 2,
            max_cue_duration: 7.0,
            min_reading_cps: 17.0,
            min_cue_duration: 5.0 / 6.0,
            hold: 0.4,
            pause_split: 0.5,
            frame_rate: 25.0,
            min_gap_frames: 2,
        }
    }
}

impl CueOptions {
    /// The same options with every value inside its documented range (NaN takes the default).
    pub fn normalized(&self) -> CueOptions {
        let d = CueOptions::default();
        let max_cue_duration = clamp(self.max_cue_duration, d.max_cue_duration, 1.0, 60.0);
        CueOptions {
            max_line_length: self.max_line_length.clamp(8, 200),
            max_lines: self.max_lines.clamp(1, 4),
            max_cue_duration,
            min_reading_cps: clamp(self.min_reading_cps, d.min_reading_cps, 5.0, 40.0),
            min_cue_duration: clamp(
                self.min_cue_duration,
                d.min_cue_duration.min(max_cue_duration),
                0.0,
                max_cue_duration,
            ),
            hold: clamp(self.hold, d.hold, 0.0, 0.5),
            pause_split: clamp(self.pause_split, d.pause_split, 0.1, 5.0),
            frame_rate: clamp(self.frame_rate, d.frame_rate, 1.0, 120.0),
            min_gap_frames: self.min_gap_frames.min(25),
        }
    }

    /// Gap between consecutive cues, seconds.
    pub fn min_gap(&self) -> f64 {
        f64::from(self.min_gap_frames) / self.frame_rate
    }

    /// One frame, seconds: the shortest a cue is ever shown.
    pub fn frame(&self) -> f64 {
        1.0 / self.frame_rate
    }
}

fn clamp(value: f64, default: f64, lo: f64, hi: f64) -> f64 {
    if value.is_nan() {
        default
    } else {
        value.clamp(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_clamps_nonsense_and_keeps_defaults() {
        assert_eq!(CueOptions::default().normalized(), CueOptions::default());
        let o = CueOptions {
            max_line_length: 0,
            max_lines: 0,
            max_cue_duration: f64::NAN,
            min_reading_cps: -3.0,
            min_cue_duration: 100.0,
            hold: 9.0,
            pause_split: f64::INFINITY,
            frame_rate: 0.0,
            min_gap_frames: 1000,
        }
        .normalized();
        assert_eq!((o.max_line_length, o.max_lines), (8, 1));
        assert_eq!(o.max_cue_duration, 7.0);
        assert_eq!(o.min_reading_cps, 5.0);
        assert_eq!(o.min_cue_duration, 7.0);
        assert_eq!(o.hold, 0.5);
        assert_eq!(o.pause_split, 5.0);
        assert_eq!(o.frame_rate, 1.0);
        assert_eq!(o.min_gap_frames, 25);
        assert!((CueOptions::default().min_gap() - 0.08).abs() < 1e-12);
    }
}
