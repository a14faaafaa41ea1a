//! Where the next window starts once a window has word timestamps, and which of its segments are
//! possible hallucinations surrounded by silence (faster-whisper's and openai-whisper's
//! `hallucination_silence_threshold` rules, our own rendering).

use crate::{Segment, Word};

/// Punctuation that does not count as a word when scoring.
const PUNCTUATION: &str = "\"'“¿([{-\"'.。,，!！?？:：”)]}、";
const FRAMES_PER_SECOND: f64 = 100.0;

/// The window as the rules see it; times in seconds from the stream start.
pub(crate) struct WindowView {
    /// The window's seek (mel frames) and its start time.
    pub seek: u64,
    pub time_offset: f64,
    /// Seconds of audio in the window.
    pub duration: f64,
    /// The window ended with a lone timestamp, or is a speech window decoded without timestamp
    /// tokens: nothing is cut short, the seek stays.
    pub consumed: bool,
    /// End of the last word before this window.
    pub last_speech: f64,
    /// End of the stream, when it lies within this window (the stream is finishing).
    pub stream_end: Option<f64>,
    pub threshold: Option<f64>,
}

/// What to do with the window's segments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// Keep `segments[..keep]`.
    pub keep: usize,
    /// The next window's seek (mel frames).
    pub seek: u64,
}

/// `seek` is where the window's timestamps put the next window.
pub(crate) fn review(segments: &[Segment], w: &WindowView, seek: u64) -> Verdict {
    let mut seek = seek;
    if !w.consumed {
        // The next window starts after the last word (not after Whisper's last timestamp).
        if let Some(end) = last_word_end(segments).filter(|&e| e > w.time_offset) {
            let after_words = frames(end);
            if after_words > w.seek {
                seek = after_words;
            }
        }
    }
    let Some(threshold) = w.threshold else {
        return Verdict {
            keep: segments.len(),
            seek,
        };
    };
    // A possible hallucination first, after a long silence: redo the window from its start.
    if let Some(first) = segments.iter().find(|s| !s.words.is_empty()) {
        let gap = first.start - w.time_offset;
        if is_anomaly(Some(first)) && gap > threshold {
            return Verdict {
                keep: 0,
                seek: w.seek + frames(gap),
            };
        }
    }
    let window_end = w.time_offset + 30.0;
    let mut last_end = w.last_speech;
    for (i, seg) in segments.iter().enumerate() {
        if seg.words.is_empty() {
            continue;
        }
        if is_anomaly(Some(seg)) {
            let next = segments[i + 1..].iter().find(|s| !s.words.is_empty());
            let next_start = next.map_or(w.time_offset + w.duration, |n| n.words[0].start);
            let silence_before = seg.start - last_end > threshold
                || seg.start < threshold
                || seg.start - w.time_offset < 2.0;
            let silence_after =
                next_start - seg.end > threshold || is_anomaly(next) || window_end - seg.end < 2.0;
            if silence_before && silence_after {
                let mut seek = frames(seg.start.max(w.time_offset + 1.0));
                if let Some(end) = w.stream_end.filter(|&e| e - seg.end < threshold) {
                    seek = frames(end);
                }
                return Verdict { keep: i, seek };
            }
        }
        last_end = seg.end;
    }
    Verdict {
        keep: segments.len(),
        seek,
    }
}

/// End of the last word, else of the last segment.
pub(crate) fn last_word_end(segments: &[Segment]) -> Option<f64> {
    segments
        .iter()
        .rev()
        .find_map(|s| s.words.last().map(|w| w.end))
        .or_else(|| segments.last().map(|s| s.end))
}

fn frames(seconds: f64) -> u64 {
    (seconds * FRAMES_PER_SECOND).round().max(0.0) as u64
}

/// Improbable, very short or very long words score; a segment whose first eight words score as
/// much as their count (or 3) is probably invented.
fn is_anomaly(segment: Option<&Segment>) -> bool {
    let Some(seg) = segment else { return false };
    let words: Vec<&Word> = seg
        .words
        .iter()
        .filter(|w| !PUNCTUATION.contains(w.word.as_str()))
        .take(8)
        .collect();
    if words.is_empty() {
        return false;
    }
    let score: f64 = words.iter().map(|w| word_anomaly(w)).sum();
    score >= 3.0 || score + 0.01 >= words.len() as f64
}

fn word_anomaly(w: &Word) -> f64 {
    let duration = w.end - w.start;
    let mut score = 0.0;
    if w.probability < 0.15 {
        score += 1.0;
    }
    if duration < 0.133 {
        score += (0.133 - duration) * 15.0;
    }
    if duration > 2.0 {
        score += duration - 2.0;
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(words: &[(f64, f64, f32)]) -> Segment {
        Segment {
            start: words[0].0,
            end: words[words.len() - 1].1,
            text: String::new(),
            tokens: vec![],
            avg_logprob: -0.3,
            no_speech_prob: 0.1,
            temperature: 0.0,
            compression_ratio: 1.2,
            words: words
                .iter()
                .map(|&(start, end, probability)| Word {
                    start,
                    end,
                    word: " w".into(),
                    probability,
                })
                .collect(),
        }
    }

    fn view(threshold: Option<f64>) -> WindowView {
        WindowView {
            seek: 3000,
            time_offset: 30.0,
            duration: 30.0,
            consumed: false,
            last_speech: 29.0,
            stream_end: None,
            threshold,
        }
    }

    #[test]
    fn next_window_starts_after_the_last_word() {
        let segs = [seg(&[(30.5, 31.0, 0.9), (31.0, 31.4, 0.9)])];
        let v = review(&segs, &view(Some(2.0)), 5800);
        assert_eq!(
            v,
            Verdict {
                keep: 1,
                seek: 3140
            }
        );
    }

    #[test]
    fn an_improbable_segment_after_silence_redoes_the_window_from_it() {
        // one good sentence would be kept; an improbable one 10 s into the window is not
        let bad = seg(&[(40.0, 40.05, 0.05), (40.05, 40.1, 0.1)]);
        let v = review(&[bad], &view(Some(2.0)), 6000);
        assert_eq!(
            v,
            Verdict {
                keep: 0,
                seek: 4000
            }
        );
    }

    #[test]
    fn a_hallucination_between_silences_is_cut_off() {
        let good = seg(&[(30.2, 30.6, 0.9), (30.6, 31.0, 0.8)]);
        let bad = seg(&[(45.0, 45.05, 0.02), (45.05, 45.1, 0.03)]);
        let v = review(&[good, bad], &view(Some(2.0)), 6000);
        assert_eq!(
            v,
            Verdict {
                keep: 1,
                seek: 4500
            }
        );
        // without the threshold both stay
        let good = seg(&[(30.2, 30.6, 0.9)]);
        let bad = seg(&[(45.0, 45.05, 0.02)]);
        assert_eq!(review(&[good, bad], &view(None), 6000).keep, 2);
    }

    #[test]
    fn plausible_words_are_no_anomaly() {
        assert!(!is_anomaly(Some(&seg(&[(1.0, 1.3, 0.6), (1.3, 1.5, 0.4)]))));
        assert!(is_anomaly(Some(&seg(&[(1.0, 4.5, 0.1)]))));
    }
}
