//! Segments of a speech window decoded without timestamp tokens, cut into sentences.
//!
//! Without the tokens Whisper writes a window as one segment: up to 30 s of text (p001, 53 s of
//! a sonnet: two segments of 29 and 23 s, against seven of 6-9 s with the tokens). Subtitles do
//! not mind (cues are shaped from the words), but the JSON and text outputs are read a segment
//! at a time. Cut where the words say a sentence ends, then cut what is still longer than a
//! segment Whisper would write at the clause nearest its middle: Whisper's own segments end
//! at sentence ends or clause punctuation, at most a few seconds long.

use crate::Segment;

/// Longest segment left whole (seconds): Whisper's timestamped segments on running speech run
/// 5-9 s (p001: 6.2-8.4 s).
const MAX_SEGMENT_SECONDS: f64 = 10.0;

/// Abbreviations whose full stop ends no sentence (lower case, without the stop).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc", "e.g", "i.e", "no", "mt",
];

/// `s` cut after every word that ends a sentence, then each part longer than
/// [`MAX_SEGMENT_SECONDS`] cut at its clause punctuation or longest pause nearest the middle.
/// Parts are [`Segment::words_part`]s; a segment without words, or with nothing to cut, is
/// returned as it is.
pub(crate) fn split_into_sentences(s: Segment) -> Vec<Segment> {
    let n = s.words.len();
    if n < 2 {
        return vec![s];
    }
    let mut bounds = vec![0];
    for i in 1..n {
        if ends_sentence(&s.words[i - 1].word, i - 1 == *bounds.last().unwrap()) {
            bounds.push(i);
        }
    }
    bounds.push(n);
    let mut parts = Vec::new();
    for b in bounds.windows(2) {
        cut_long(&s, b[0], b[1], &mut parts);
    }
    if parts.len() == 1 {
        return vec![s];
    }
    parts.into_iter().map(|(a, b)| s.words_part(a, b)).collect()
}

/// Words `from..to` of `s` into `parts`, halved (recursively) while longer than the limit.
fn cut_long(s: &Segment, from: usize, to: usize, parts: &mut Vec<(usize, usize)>) {
    let span = s.words[to - 1].end - s.words[from].start;
    if span <= MAX_SEGMENT_SECONDS || to - from < 2 {
        parts.push((from, to));
        return;
    }
    let at = middle_cut(s, from, to);
    cut_long(s, from, at, parts);
    cut_long(s, at, to, parts);
}

/// Where to cut words `from..to` (a word index in `from+1..to`): after the clause punctuation
/// nearest the middle if there is any; else at the longest pause in the middle half.
fn middle_cut(s: &Segment, from: usize, to: usize) -> usize {
    let w = &s.words;
    let mid = (w[from].start + w[to - 1].end) / 2.0;
    let from_mid = |i: usize| (w[i].start - mid).abs();
    let clause = (from + 1..to).filter(|&i| ends_clause(&w[i - 1].word));
    if let Some(i) = clause.min_by(|&a, &b| from_mid(a).total_cmp(&from_mid(b))) {
        return i;
    }
    let quarter = (w[to - 1].end - w[from].start) / 4.0;
    let pause = |i: usize| w[i].start - w[i - 1].end;
    (from + 1..to)
        .filter(|&i| from_mid(i) <= quarter)
        .max_by(|&a, &b| {
            pause(a)
                .total_cmp(&pause(b))
                .then(from_mid(b).total_cmp(&from_mid(a)))
        })
        .unwrap_or((from + to) / 2)
}

/// A word ending in `.`, `?`, `!` or `…` (closing quotes and brackets aside), that is not a
/// known abbreviation, an initial ("J."), dotted letters ("U.S.") or, as a part's first word,
/// a number ("1." numbering a list or a poem).
fn ends_sentence(word: &str, first_of_part: bool) -> bool {
    let w = trim_closers(word.trim());
    let Some(body) = w.strip_suffix(['.', '?', '!', '…']) else {
        return false;
    };
    if !w.ends_with('.') {
        return true;
    }
    let lower = body.to_lowercase();
    let letters = body.chars().filter(|c| c.is_alphabetic()).count();
    let dotted = body.contains('.') && body.split('.').all(|p| p.chars().count() <= 1);
    let number = !body.is_empty() && body.chars().all(|c| c.is_ascii_digit());
    !(ABBREVIATIONS.contains(&lower.as_str())
        || (letters == 1 && body.chars().count() == 1)
        || dotted
        || (number && first_of_part))
}

/// A word ending in a comma, semicolon, colon or dash (closing quotes and brackets aside).
fn ends_clause(word: &str) -> bool {
    trim_closers(word.trim()).ends_with([',', ';', ':', '-', '—', '–'])
}

fn trim_closers(w: &str) -> &str {
    w.trim_end_matches(['"', '\'', '”', '’', ')', ']', '»'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_segments::segment_of as segment;

    fn texts(parts: &[Segment]) -> Vec<&str> {
        parts.iter().map(|p| p.text.as_str()).collect()
    }

    #[test]
    fn a_window_of_sentences_becomes_a_segment_each() {
        let s = segment(&[
            (" Ten", 0.0, 0.4),
            (" of", 0.4, 0.6),
            (" clubs.", 0.6, 1.1),
            (" Seven", 2.0, 2.4),
            (" of", 2.4, 2.6),
            (" hearts!", 2.6, 3.0),
            (" Really?", 3.5, 4.0),
            (" Yes.", 4.5, 4.9),
        ]);
        let parts = split_into_sentences(s);
        assert_eq!(
            texts(&parts),
            [" Ten of clubs.", " Seven of hearts!", " Really?", " Yes."]
        );
        assert_eq!((parts[1].start, parts[1].end), (2.0, 3.0));
        assert!(parts
            .iter()
            .all(|p| p.tokens.is_empty() && p.avg_logprob == -0.2));
    }

    #[test]
    fn abbreviations_initials_and_a_leading_number_end_no_sentence() {
        let s = segment(&[
            (" 1.", 0.0, 0.3),
            (" Mr.", 0.3, 0.6),
            (" J.", 0.6, 0.8),
            (" Smith", 0.8, 1.2),
            (" of", 1.2, 1.4),
            (" the", 1.4, 1.5),
            (" U.S.", 1.5, 2.0),
            (" came", 2.0, 2.3),
            (" in", 2.3, 2.4),
            (" 1990.", 2.4, 3.0),
            (" \"Fine.\"", 3.2, 3.6),
            (" Done", 3.8, 4.0),
        ]);
        let parts = split_into_sentences(s);
        assert_eq!(
            texts(&parts),
            [
                " 1. Mr. J. Smith of the U.S. came in 1990.",
                " \"Fine.\"",
                " Done"
            ]
        );
    }

    #[test]
    fn a_long_sentence_is_cut_at_the_clause_nearest_its_middle() {
        // 16 s, commas after 3 s, 7 s and 13 s: the cut after 7 s is nearest the middle (8 s).
        let mut words = Vec::new();
        for k in 0..16 {
            let t = k as f64;
            let text = match k {
                2 | 6 | 12 => " word,",
                15 => " end.",
                _ => " word",
            };
            words.push((text, t, t + 0.9));
        }
        let parts = split_into_sentences(segment(&words));
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].start, parts[0].end), (0.0, 6.9));
        assert_eq!((parts[1].start, parts[1].end), (7.0, 15.9));
    }

    #[test]
    fn without_punctuation_a_long_part_is_cut_at_its_longest_middle_pause() {
        // 19 s of words 1 s apart, a 0.6 s pause before the ninth word (10.1 s) and a longer
        // one before the second (outside the middle half): cut before the ninth.
        let mut words = Vec::new();
        let mut t = 0.0;
        for k in 0..17 {
            t += match k {
                1 => 1.5,
                8 => 0.6,
                _ => 0.0,
            };
            words.push((" w", t, t + 0.9));
            t += 1.0;
        }
        let parts = split_into_sentences(segment(&words));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].words.len(), 8);
        assert!(parts.iter().all(|p| p.end - p.start <= MAX_SEGMENT_SECONDS));
    }

    #[test]
    fn a_short_sentence_and_a_segment_without_words_stay_whole() {
        let s = segment(&[
            (" One", 0.0, 0.4),
            (" two", 0.4, 0.8),
            (" three.", 0.8, 1.2),
        ]);
        assert_eq!(split_into_sentences(s.clone()), vec![s.clone()]);
        let mut bare = s;
        bare.words.clear();
        assert_eq!(split_into_sentences(bare.clone()), vec![bare]);
    }
}
