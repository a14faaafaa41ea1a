//! Segments cut where speech detection removed a silence between two of their words.
//!
//! Regions laid end to end leave Whisper only the padding of a pause that lasted seconds, so
//! it sometimes writes two utterances as one segment (LJSpeech clips 6 s apart, on the AVX2
//! EPYC in f32: one segment from 56.99 to 76.24 s, its middle in the silence). Mapped back,
//! such a segment would claim the silence; cut there, each part spans speech only, as
//! Whisper would have cut it had it heard the pause.

use crate::Segment;

/// Removed silence (seconds of the original timeline that Whisper did not hear) between two
/// words of a segment that cuts it: longer than the detector's padding on both sides, shorter
/// than any pause a viewer would not notice.
const MIN_REMOVED_SILENCE: f64 = 1.0;

/// `s` (words already on the original timeline) cut after every word followed by at least
/// [`MIN_REMOVED_SILENCE`] that Whisper did not hear; `heard` holds the same words' times on
/// the speech-only timeline it decoded. The parts are [`Segment::words_part`]s (as
/// `coverage::segments_before` cuts): their words' text, the segment's scores, no tokens.
pub(crate) fn split_at_removed_silence(s: Segment, heard: &[(f64, f64)]) -> Vec<Segment> {
    let cuts: Vec<usize> = (1..s.words.len().min(heard.len()))
        .filter(|&i| {
            let pause = s.words[i].start - s.words[i - 1].end;
            let heard_pause = heard[i].0 - heard[i - 1].1;
            pause - heard_pause.max(0.0) >= MIN_REMOVED_SILENCE
        })
        .collect();
    if cuts.is_empty() {
        return vec![s];
    }
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(cuts)
        .chain(std::iter::once(s.words.len()))
        .collect();
    bounds
        .windows(2)
        .map(|b| s.words_part(b[0], b[1]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_segments::segment_of as segment;

    #[test]
    fn a_segment_across_a_removed_silence_is_cut_there() {
        // Heard: " typography," ends at 5.6, " the" starts at 5.9 (0.3 s of padding);
        // originally 6 s apart.
        let s = segment(&[
            (" fine", 60.9, 61.2),
            (" typography,", 61.2, 62.1),
            (" the", 68.2, 68.4),
            (" earliest", 68.4, 68.8),
        ]);
        let heard = [(4.7, 5.0), (5.0, 5.6), (5.9, 6.1), (6.1, 6.5)];
        let parts = split_at_removed_silence(s, &heard);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].text, " fine typography,");
        assert_eq!((parts[0].start, parts[0].end), (60.9, 62.1));
        assert_eq!(parts[1].text, " the earliest");
        assert_eq!((parts[1].start, parts[1].end), (68.2, 68.8));
        assert!(parts.iter().all(|p| p.tokens.is_empty()));
        assert!(parts.iter().all(|p| p.avg_logprob == -0.2));
    }

    #[test]
    fn a_pause_whisper_heard_or_a_short_removal_keeps_the_segment_whole() {
        // 2 s pause heard in full (nothing removed), then 0.6 s removed.
        let s = segment(&[(" one", 1.0, 1.3), (" two", 3.3, 3.6), (" three", 4.5, 4.8)]);
        let heard = [(1.0, 1.3), (3.3, 3.6), (3.9, 4.2)];
        let parts = split_at_removed_silence(s.clone(), &heard);
        assert_eq!(parts, vec![s]);
    }

    #[test]
    fn a_segment_without_words_stays_as_it_is() {
        let mut s = segment(&[(" x", 0.0, 1.0)]);
        s.words.clear();
        assert_eq!(split_at_removed_silence(s.clone(), &[]), vec![s]);
    }
}
