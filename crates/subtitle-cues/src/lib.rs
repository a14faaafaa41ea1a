//! Readable subtitle cues from timed words, and SRT / WebVTT writers. No GStreamer: the
//! `arcwhisper` element and the `arcwhisper-transcribe` CLI both shape their cues here.
//!
//! What the cues follow (broadcast practice, Netflix and BBC style guides), with the defaults
//! of [`CueOptions`]:
//! - a cue appears when its first word starts and stays until its last word ends plus a short
//!   hold (0.4 s), never into the next cue and always 2 frames (at 25 fps) before it;
//! - at most 2 lines of 42 characters and 7 s; a single word longer than a line is kept whole
//!   on a line of its own;
//! - a reading-speed floor (17 characters/s) and a minimum duration (5/6 s), met by extending
//!   into following silence only, never over the next speech;
//! - cues end at every pause longer than 0.5 s; otherwise at sentence ends first, then clause
//!   punctuation, then before conjunctions/prepositions, never inside a word;
//! - lines balanced, bottom-heavy rather than top-heavy, no one-word orphans;
//! - no empty or punctuation-only cue; deterministic; no panic on any input (the `sanitize`
//!   module says how NaN, negative and overlapping times are repaired).
//!
//! ```
//! use subtitle_cues::{cues_from_words, write_srt, CueOptions, Word};
//! let word = |start, end, text: &str| Word { start, end, text: text.into() };
//! let words = [word(0.0, 0.5, " Hello"), word(0.5, 1.0, " world.")];
//! let cues = cues_from_words(&words, 3.0, &CueOptions::default());
//! // On with "Hello", off 0.4 s after "world." ends.
//! assert_eq!(write_srt(&cues), "1\n00:00:00,000 --> 00:00:01,400\nHello world.\n\n");
//! ```
//!
//! Modules: [`options`] (limits), `sanitize` (input repair), `breaks` (where a break is good),
//! `split` (cutting speech into cues), `lines` (line breaks), `timing` (on/off times),
//! `fallback` (segments without words), `shaper` (streaming), [`writers`] (SRT, WebVTT).

mod breaks;
mod fallback;
mod lines;
pub mod options;
mod sanitize;
mod shaper;
mod split;
mod timing;
pub mod writers;

pub use options::CueOptions;
pub use shaper::CueShaper;
pub use writers::{srt_block, srt_time, vtt_block, vtt_time, write_srt, write_vtt};

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// A word with its time, seconds. `text` as Whisper gives it: a leading space where a space
/// separates it from the previous word, punctuation attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// A Whisper segment; `words` may be empty (no word timing): then `text` is shaped with times
/// shared out by characters over `start..end`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    #[serde(default)]
    pub words: Vec<Word>,
}

/// One subtitle: shown from `start` to `end` (seconds), `lines` top to bottom, none empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub lines: Vec<String>,
}

impl Cue {
    /// The lines joined with `\n`: the payload of a `text/x-raw` buffer or a subtitle block.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// A cue from a buffer's text (lines split at `\n`, `\r\n` or `\r`; blank lines dropped,
    /// trailing space trimmed), for sinks that receive cues as text buffers.
    pub fn from_text(start: f64, end: f64, text: &str) -> Cue {
        let lines = text
            .lines()
            .flat_map(|l| l.split('\r'))
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        Cue { start, end, lines }
    }

    /// Start in nanoseconds (for a buffer PTS), rounded; negative or NaN is 0.
    pub fn start_ns(&self) -> u64 {
        seconds_to_ns(self.start)
    }

    /// Duration in nanoseconds (for a buffer duration), rounded; never negative.
    pub fn duration_ns(&self) -> u64 {
        seconds_to_ns(self.end).saturating_sub(self.start_ns())
    }
}

fn seconds_to_ns(t: f64) -> u64 {
    // `as` saturates: NaN and negative give 0, huge values u64::MAX.
    (t * 1e9).round() as u64
}

/// Cues for `words` (in spoken order) of audio that ends at `audio_end` seconds (NaN, infinite
/// or negative: unknown, no bound).
pub fn cues_from_words(words: &[Word], audio_end: f64, opts: &CueOptions) -> Vec<Cue> {
    let mut shaper = CueShaper::with_audio_end(opts, audio_end);
    let mut cues: Vec<Cue> = words.iter().flat_map(|w| shaper.push_word(w)).collect();
    cues.extend(shaper.finish(audio_end));
    cues
}

/// Cues for `segments` (in spoken order): their words, or their text where they have no words.
pub fn cues_from_segments(segments: &[Segment], audio_end: f64, opts: &CueOptions) -> Vec<Cue> {
    let mut shaper = CueShaper::with_audio_end(opts, audio_end);
    let mut cues: Vec<Cue> = segments
        .iter()
        .flat_map(|s| shaper.push_segment(s))
        .collect();
    cues.extend(shaper.finish(audio_end));
    cues
}

/// Width of text on screen: grapheme clusters (what a viewer counts as characters).
pub(crate) fn width(text: &str) -> usize {
    text.graphemes(true).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sceneckptsink` can switch to `srt_block`: these are its own `srt::format_cue` cases.
    #[test]
    fn buffer_text_formats_like_the_sinks_srt() {
        let ns = |t: u64| t as f64 / 1e9;
        let cue = Cue::from_text(ns(500_000_000), ns(2_000_000_000), " Hello\r\n\r\nwörld \n");
        assert_eq!(
            srt_block(1, &cue).unwrap(),
            "1\n00:00:00,500 --> 00:00:02,000\n Hello\nwörld\n\n"
        );
        assert!(srt_block(2, &Cue::from_text(0.0, ns(1), " \n ")).is_none());
        assert_eq!(
            srt_block(3, &Cue::from_text(ns(5), ns(1), "x")).unwrap(),
            "3\n00:00:00,000 --> 00:00:00,000\nx\n\n"
        );
        assert_eq!(Cue::from_text(0.0, 1.0, "a\rb").lines, ["a", "b"]);
    }

    #[test]
    fn buffer_times_in_nanoseconds() {
        let cue = Cue {
            start: 1.5,
            end: 3.25,
            lines: vec!["x".into()],
        };
        assert_eq!(
            (cue.start_ns(), cue.duration_ns()),
            (1_500_000_000, 1_750_000_000)
        );
        let bad = Cue {
            start: f64::NAN,
            end: -1.0,
            lines: vec![],
        };
        assert_eq!((bad.start_ns(), bad.duration_ns()), (0, 0));
        assert_eq!(cue.text(), "x");
    }
}
