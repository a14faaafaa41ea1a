//! Turns words as Whisper gives them into clean tokens.
//!
//! Rules (the input is never trusted, nothing here panics):
//! - Text order is authoritative; times are repaired around it, never used to reorder words.
//! - Whitespace inside a word collapses to one space; a word that was only whitespace is dropped.
//!   A leading space means "a space before this word" (Whisper's convention, which also keeps
//!   languages written without spaces joined correctly).
//! - A word of punctuation only (no letter or digit) is glued to its neighbour: opening marks
//!   (`"` `¿` `(` ...) to the next word, the rest to the previous one (dropped before the
//!   first word, and opening marks after the last), so no cue or line ever consists of
//!   punctuation alone.
//! - A missing time (NaN or infinite) takes the previous word's end (0 for the first); negative
//!   times become 0; a start before the previous word's start is moved up to it; an end before
//!   its start becomes the start; a previous word overlapping this one is cut at this start
//!   (a wild end on one word must not push every later word).

use unicode_segmentation::UnicodeSegmentation;

/// A cleaned word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub start: f64,
    pub end: f64,
    /// Visible text, no surrounding whitespace, never empty.
    pub text: String,
    /// Whether a space separates this word from the previous one on the same line.
    pub space_before: bool,
}

impl Token {
    /// Width on screen in grapheme clusters.
    pub fn width(&self) -> usize {
        self.text.graphemes(true).count()
    }
}

/// What a raw word's text turned out to be.
#[derive(Debug, PartialEq)]
pub(crate) enum CleanText {
    Empty,
    /// Punctuation only; `opening` marks go to the next word.
    Punctuation {
        text: String,
        opening: bool,
    },
    Word {
        text: String,
        space_before: bool,
    },
}

/// Marks that open a phrase and belong to the word after them.
const OPENING: &str = "\"'“‘«¿¡([{„‚";

pub(crate) fn clean_text(raw: &str) -> CleanText {
    let space_before = raw.starts_with(char::is_whitespace);
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        CleanText::Empty
    } else if !text.chars().any(char::is_alphanumeric) {
        // A straight quote opens only when a space precedes it (` "Hi` vs `Hi"`).
        let opening = text.chars().all(|c| OPENING.contains(c))
            && (space_before || !text.contains(['"', '\'']));
        CleanText::Punctuation { text, opening }
    } else {
        CleanText::Word { text, space_before }
    }
}

/// A usable time: finite and not negative, else `None` (negative becomes 0).
fn finite(t: f64) -> Option<f64> {
    t.is_finite().then_some(t.max(0.0))
}

/// Repairs one word's times against the previous token (which may be shortened) and returns
/// `(start, end)`.
pub(crate) fn fix_times(prev: Option<&mut Token>, start: f64, end: f64) -> (f64, f64) {
    let prev_start = prev.as_ref().map_or(0.0, |p| p.start);
    let prev_end = prev.as_ref().map_or(0.0, |p| p.end);
    let start = finite(start).unwrap_or(prev_end).max(prev_start);
    let end = finite(end).unwrap_or(start).max(start);
    if let Some(p) = prev {
        p.end = p.end.min(start);
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(start: f64, end: f64) -> Token {
        Token {
            start,
            end,
            text: "x".into(),
            space_before: true,
        }
    }

    #[test]
    fn text_classes() {
        assert_eq!(
            clean_text(" Hello,"),
            CleanText::Word {
                text: "Hello,".into(),
                space_before: true
            }
        );
        assert_eq!(
            clean_text("世界"),
            CleanText::Word {
                text: "世界".into(),
                space_before: false
            }
        );
        assert_eq!(
            clean_text(" so\n\tdid"),
            CleanText::Word {
                text: "so did".into(),
                space_before: true
            }
        );
        assert_eq!(clean_text(" \n"), CleanText::Empty);
        assert_eq!(
            clean_text(" ¿"),
            CleanText::Punctuation {
                text: "¿".into(),
                opening: true
            }
        );
        assert_eq!(
            clean_text("\""),
            CleanText::Punctuation {
                text: "\"".into(),
                opening: false
            }
        );
        assert_eq!(
            clean_text("..."),
            CleanText::Punctuation {
                text: "...".into(),
                opening: false
            }
        );
    }

    #[test]
    fn times_are_repaired_in_text_order() {
        assert_eq!(fix_times(None, f64::NAN, 1.0), (0.0, 1.0));
        assert_eq!(fix_times(None, -2.0, -1.0), (0.0, 0.0));
        let mut p = tok(1.0, 9.0);
        // Wild end of the previous word is cut at this start; this start is kept.
        assert_eq!(fix_times(Some(&mut p), 2.0, 2.5), (2.0, 2.5));
        assert_eq!(p.end, 2.0);
        let mut p = tok(3.0, 4.0);
        // Start before the previous start moves up; NaN end becomes the start.
        assert_eq!(fix_times(Some(&mut p), 1.0, f64::NAN), (3.0, 3.0));
        assert_eq!(p.end, 3.0);
        let mut p = tok(3.0, 4.0);
        assert_eq!(fix_times(Some(&mut p), f64::INFINITY, 5.0), (4.0, 5.0));
    }
}
