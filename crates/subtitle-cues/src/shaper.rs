//! Streaming cue shaping: words go in as they are decoded, cues come out as soon as they are
//! final. A pause longer than `pause_split` always ends a cue, so everything before such a
//! pause is settled once the first word after it arrives; the batch functions are this shaper
//! fed all at once, so both give the same cues.

use crate::breaks::classify;
use crate::fallback::words_from_text;
use crate::options::CueOptions;
use crate::sanitize::{clean_text, fix_times, CleanText, Token};
use crate::split::split;
use crate::timing::place;
use crate::{Cue, Segment, Word};

/// Shapes cues from words pushed in time order. One shaper per stream (scene); after
/// [`CueShaper::finish`] it is empty and can start a new stream.
#[derive(Debug, Clone)]
pub struct CueShaper {
    opts: CueOptions,
    /// Latest time any word may have (the audio end when known up front).
    bound: f64,
    /// Words since the last pause longer than `pause_split`.
    stretch: Vec<Token>,
    /// Opening punctuation waiting for the word it belongs to, and whether a space preceded it.
    opening: Option<(String, bool)>,
    /// End of the last cue handed out.
    prev_end: Option<f64>,
}

impl CueShaper {
    /// A shaper with `opts` (normalized, see [`CueOptions::normalized`]).
    pub fn new(opts: &CueOptions) -> Self {
        CueShaper {
            opts: opts.normalized(),
            bound: f64::INFINITY,
            stretch: Vec::new(),
            opening: None,
            prev_end: None,
        }
    }

    /// Like [`CueShaper::new`] with the audio end known up front: word times are clamped to it
    /// as they arrive.
    pub fn with_audio_end(opts: &CueOptions, audio_end: f64) -> Self {
        CueShaper {
            bound: audio_bound(audio_end),
            ..CueShaper::new(opts)
        }
    }

    /// Adds one word; returns the cues this settled (often none).
    pub fn push_word(&mut self, word: &Word) -> Vec<Cue> {
        match clean_text(&word.text) {
            CleanText::Empty => Vec::new(),
            CleanText::Punctuation { text, opening } => {
                self.attach_punctuation(text, opening, word.text.starts_with(char::is_whitespace));
                Vec::new()
            }
            CleanText::Word { text, space_before } => self.add(word, text, space_before),
        }
    }

    /// Adds a segment: its words, or, when it has none with text, words made from its text
    /// with times shared out by characters.
    pub fn push_segment(&mut self, segment: &Segment) -> Vec<Cue> {
        let has_words = segment
            .words
            .iter()
            .any(|w| clean_text(&w.text) != CleanText::Empty);
        let made;
        let words = if has_words {
            &segment.words
        } else {
            made = words_from_text(segment.start, segment.end, &segment.text);
            &made
        };
        words.iter().flat_map(|w| self.push_word(w)).collect()
    }

    /// Settles the remaining words; `audio_end` (seconds; NaN, infinite or negative = unknown)
    /// bounds every time. The shaper is then ready for a new stream.
    pub fn finish(&mut self, audio_end: f64) -> Vec<Cue> {
        let bound = audio_bound(audio_end).min(self.bound);
        for t in &mut self.stretch {
            t.start = t.start.min(bound);
            t.end = t.end.min(bound);
        }
        let cues = self.settle(f64::INFINITY, bound);
        *self = CueShaper::new(&self.opts);
        cues
    }

    fn add(&mut self, word: &Word, text: String, space_before: bool) -> Vec<Cue> {
        let (start, end) = fix_times(self.stretch.last_mut(), word.start, word.end);
        let (start, end) = (start.min(self.bound), end.min(self.bound));
        let (text, space_before) = match self.opening.take() {
            Some((prefix, space)) => (prefix + &text, space),
            None => (text, space_before),
        };
        let paused = self
            .stretch
            .last()
            .is_some_and(|last| start - last.end > self.opts.pause_split);
        let cues = if paused {
            self.settle(start, self.bound)
        } else {
            Vec::new()
        };
        self.stretch.push(Token {
            start,
            end,
            text,
            space_before,
        });
        cues
    }

    fn attach_punctuation(&mut self, text: String, opening: bool, space: bool) {
        match (&mut self.opening, self.stretch.last_mut()) {
            (Some((prefix, _)), _) => prefix.push_str(&text),
            (None, Some(last)) if !opening => last.text.push_str(&text),
            (None, _) => self.opening = Some((text, space)),
        }
    }

    /// Shapes and times the current stretch; `next_speech` starts after it.
    fn settle(&mut self, next_speech: f64, audio_end: f64) -> Vec<Cue> {
        let tokens = std::mem::take(&mut self.stretch);
        if tokens.is_empty() {
            return Vec::new();
        }
        let breaks: Vec<_> = tokens
            .windows(2)
            .map(|w| classify(&w[0].text, &w[1].text))
            .collect();
        let room_end = (next_speech - self.opts.min_gap()).min(audio_end);
        let shaped = split(&tokens, &breaks, room_end, &self.opts);
        let cues = place(
            &tokens,
            shaped,
            self.prev_end,
            next_speech,
            audio_end,
            &self.opts,
        );
        self.prev_end = cues.last().map(|c| c.end).or(self.prev_end);
        cues
    }
}

/// The audio end as a bound: unknown (NaN, infinite, negative) is no bound.
fn audio_bound(audio_end: f64) -> f64 {
    if audio_end.is_finite() && audio_end >= 0.0 {
        audio_end
    } else {
        f64::INFINITY
    }
}
