//! A segment made of words, for the unit tests that cut segments (`coverage.rs`,
//! `silence_split.rs`).

use crate::{Segment, Word};

/// A segment of `(word, start, end)`, spanning its words; scores and tokens are placeholders.
pub(crate) fn segment_of(words: &[(&str, f64, f64)]) -> Segment {
    Segment {
        start: words[0].1,
        end: words[words.len() - 1].2,
        text: words.iter().map(|w| w.0).collect(),
        tokens: vec![1, 2, 3],
        avg_logprob: -0.2,
        no_speech_prob: 0.1,
        temperature: 0.0,
        compression_ratio: 1.2,
        words: words
            .iter()
            .map(|&(word, start, end)| Word {
                start,
                end,
                word: word.into(),
                probability: 0.9,
            })
            .collect(),
    }
}
