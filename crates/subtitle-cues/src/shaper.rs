//! Streaming cue shaping: words go in as they are decoded, cues come out as soon as they are
//! final. A pause longer than `pause_split` always ends a cue, so everything before such a
//! pause is settled once the first word after it arrives. Speech that runs on without such a
//! pause for more than [`MAX_PENDING_SECONDS`] is cut at its best break (a sentence end if there
//! is one), so that a live pipeline never waits long for a cue. Both rules depend only on the
//! words, never on how they were chunked, and the batch functions are this shaper fed all at
//! once: streaming and batch give the same cues.

use crate::breaks::{classify, Break};
use crate::fallback::words_from_text;
use crate::options::CueOptions;
use crate::sanitize::{clean_text, fix_times, CleanText, Token};
use crate::split::split;
use crate::timing::place;
use crate::{Cue, Segment, Word};

/// Longest stretch of speech (first word start to last word end) held back waiting for a
/// pause.
pub const MAX_PENDING_SECONDS: f64 = 30.0;

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

    /// Start (seconds) of the earliest word not yet in a cue: no cue handed out later starts
    /// before it, so a caller may declare the time up to it free of text (a GAP event).
    pub fn pending_start(&self) -> Option<f64> {
        self.stretch.first().map(|t| t.start)
    }

    /// Settles the remaining words; `audio_end` (seconds; NaN, infinite or negative = unknown)
    /// bounds every time. The shaper is then ready for a new stream.
    pub fn finish(&mut self, audio_end: f64) -> Vec<Cue> {
        let bound = audio_bound(audio_end).min(self.bound);
        for t in &mut self.stretch {
            t.start = t.start.min(bound);
            t.end = t.end.min(bound);
        }
        let tokens = std::mem::take(&mut self.stretch);
        let cues = self.settle(tokens, f64::INFINITY, bound);
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
        let mut cues = if paused {
            let tokens = std::mem::take(&mut self.stretch);
            self.settle(tokens, start, self.bound)
        } else {
            Vec::new()
        };
        self.stretch.push(Token {
            start,
            end,
            text,
            space_before,
        });
        if end - self.stretch[0].start > MAX_PENDING_SECONDS {
            cues.extend(self.settle_up_to_best_break());
        }
        cues
    }

    /// Settles the words before the best break of an over-long stretch (best kind, then latest).
    fn settle_up_to_best_break(&mut self) -> Vec<Cue> {
        let breaks = breaks_of(&self.stretch);
        let Some(cut) =
            (0..breaks.len()).min_by(|&a, &b| breaks[a].cmp(&breaks[b]).then(b.cmp(&a)))
        else {
            return Vec::new();
        };
        let rest = self.stretch.split_off(cut + 1);
        let head = std::mem::replace(&mut self.stretch, rest);
        let next_speech = self.stretch[0].start;
        self.settle(head, next_speech, self.bound)
    }

    fn attach_punctuation(&mut self, text: String, opening: bool, space: bool) {
        match (&mut self.opening, self.stretch.last_mut()) {
            (Some((prefix, _)), _) => prefix.push_str(&text),
            (None, Some(last)) if !opening => last.text.push_str(&text),
            (None, _) if opening => self.opening = Some((text, space)),
            // Closing punctuation before any word closes nothing.
            (None, _) => {}
        }
    }

    /// Shapes and times `tokens`; `next_speech` starts after them.
    fn settle(&mut self, tokens: Vec<Token>, next_speech: f64, audio_end: f64) -> Vec<Cue> {
        if tokens.is_empty() {
            return Vec::new();
        }
        let breaks = breaks_of(&tokens);
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

/// `breaks[i]`: the break between `tokens[i]` and `tokens[i + 1]`.
fn breaks_of(tokens: &[Token]) -> Vec<Break> {
    tokens
        .windows(2)
        .map(|w| classify(&w[0].text, &w[1].text))
        .collect()
}

/// The audio end as a bound: unknown (NaN, infinite, negative) is no bound.
fn audio_bound(audio_end: f64) -> f64 {
    if audio_end.is_finite() && audio_end >= 0.0 {
        audio_end
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: f64, end: f64, text: &str) -> Word {
        Word {
            start,
            end,
            text: text.into(),
        }
    }

    fn texts(cues: &[Cue]) -> Vec<String> {
        cues.iter().map(|c| c.lines.join(" / ")).collect()
    }

    #[test]
    fn punctuation_words_join_their_neighbours() {
        let words = [
            w(0.0, 0.1, " ,"),
            w(0.2, 0.4, " He"),
            w(0.4, 0.6, " said"),
            w(0.6, 0.6, " \""),
            w(0.6, 0.9, " stop"),
            w(0.9, 0.9, "!\""),
            w(0.9, 1.0, "  "),
        ];
        let cues = crate::cues_from_words(&words, 5.0, &CueOptions::default());
        assert_eq!(texts(&cues), ["He said \"stop!\""]);
    }

    #[test]
    fn long_speech_without_pauses_is_settled_at_a_sentence_end_before_the_end() {
        let mut shaper = CueShaper::new(&CueOptions::default());
        let mut early = Vec::new();
        for k in 0..160 {
            let text = if k == 40 { " end." } else { " word" };
            let t = k as f64 * 0.25;
            early.extend(shaper.push_word(&w(t, t + 0.25, text)));
        }
        // 40 s of speech: everything up to "end." (10.25 s) came out before `finish`.
        let last_line = early.last().and_then(|c| c.lines.last());
        assert!(last_line.is_some_and(|l| l.ends_with("end.")), "{early:?}");
        assert!(early.iter().all(|c| c.end <= 10.25));
        let rest = shaper.finish(40.0);
        assert!((rest[0].start - 10.25).abs() < 1e-9);
    }
}
