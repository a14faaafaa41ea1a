//! Speech that Whisper skipped inside a packed window.
//!
//! Regions laid end to end change sound abruptly at each junction (another speaker, another
//! recording, music before speech). Whisper then sometimes jumps its timestamps over a whole
//! region of speech and goes on after it: seen on home-video tracks as an 11 s sentence
//! missing between two transcribed ones. The detector heard speech there, so such a region
//! is decoded again as the start of a window of its own (see `speech_stream.rs`).

use crate::speech_regions::Region;
use crate::Segment;

const SAMPLE_RATE: f64 = 16_000.0;

/// Regions shorter than this from their onset to their end (padding after the speech
/// included) are not worth a second decode: a door or a click that the detector let through.
const MIN_SPEECH_S: f64 = 1.0;

/// Speech runs at 2-3 words a second; a region with fewer words than one per two seconds was
/// not transcribed. Only words within the region count: the alignment stretches a neighbouring
/// sentence's first or last word over the junction between two packed regions, which no
/// spoken word can cross (the audio either side comes from different times). Seen on a home-
/// video track: "five five" (1.3 s) between two sentences, skipped by base, with the next
/// sentence's "The" aligned from inside it across the junction; counted by its middle, that
/// one word had passed for the region's transcription.
const MIN_WORDS_PER_SECOND: f64 = 0.5;

/// Word times are whole 20 ms frames of the alignment: a word within a region ends at most a
/// frame past the region's end.
const FRAME_S: f64 = 0.02;

/// The first region that holds speech by the detector but next to none of the window's words
/// (`words`: word intervals in the window's time, seconds), with the window time where it
/// starts: the window's words up to there stand, the rest is decoded again from there. The
/// window's first region counts only when the window was `conditioned` on earlier text: a
/// decode without that text is then another try (seen on a home-video track: after "... with
/// ugly ones." a sonnet's first 12 s came back without words, and without the text before,
/// "From fairest creatures we desire increase, ..."); otherwise the retry would be the same
/// decode. `spans`: each region's `[start, end)` in the window's time
/// (`TimelineMap::speech_spans`). `words` is `None` when the words have no times (word timing
/// off, or an IR without the alignment output): then nothing can be told. A window that gave
/// no words at all is `Some(&[])`, and its regions count as skipped: seen on a home-video
/// track, a window of a sonnet's first 21 s after "Seven of clubs." came back empty.
pub(crate) fn first_skipped_region(
    regions: &[Region],
    spans: &[(f64, f64)],
    words: Option<&[(f64, f64)]>,
    conditioned: bool,
) -> Option<(usize, f64)> {
    let words = words?;
    let first = usize::from(!conditioned);
    (first..regions.len())
        .find(|&k| region_skipped(&regions[k], spans[k], words))
        .map(|k| (k, spans[k].0))
}

/// Seconds of a region from its speech onset (padding before it left out) to its end.
fn heard_seconds(r: &Region) -> f64 {
    r.end.saturating_sub(r.onset.max(r.start)) as f64 / SAMPLE_RATE
}

/// Whether region `r` (window time `span`) holds speech by the detector but next to none of
/// `words` (see [`first_skipped_region`]).
fn region_skipped(r: &Region, (start, end): (f64, f64), words: &[(f64, f64)]) -> bool {
    let heard = heard_seconds(r);
    let inside = words
        .iter()
        .filter(|&&(s, e)| s >= start - FRAME_S && e <= end + FRAME_S)
        .count();
    heard >= MIN_SPEECH_S && (inside as f64) < heard * MIN_WORDS_PER_SECOND
}

/// Whether an unconditioned window's first region was skipped while Whisper transcribed the
/// regions after it: decoded again alone, without the later speech it jumped to, that is
/// another try (seen on a home-video track, base-int8 unconditioned: a sonnet's last 23 s,
/// then "Ten of clubs.": the window gave the cards and the sentences after them, of the
/// sonnet nothing; alone, the sonnet). The window's words from its second region on stand.
/// Not for a window of one region (the retry would be the same decode), nor a conditioned
/// one ([`first_skipped_region`] decodes it again without the earlier text), nor a first
/// region shorter than [`MIN_FIRST_ALONE_S`].
pub(crate) fn skipped_first_of_several(
    regions: &[Region],
    spans: &[(f64, f64)],
    words: Option<&[(f64, f64)]>,
    conditioned: bool,
) -> bool {
    let Some(r) = regions.first() else {
        return false;
    };
    let heard = heard_seconds(r);
    match words {
        Some(words) if !conditioned && regions.len() > 1 && heard >= MIN_FIRST_ALONE_S => {
            region_skipped(r, spans[0], words)
        }
        _ => false,
    }
}

/// A first region Whisper left without words is decoded alone only from this long (seconds
/// from its onset): the detector's shorter first regions are mostly the noise a scene opens
/// on (a clatter, a door, 6 s of music), which Whisper rightly left without words: decoded
/// alone, 13 of 40 runs of the home-video tracks spent a window on one to the same text, and
/// one found a 1 s "five five". The skipped sonnet ran 23 s.
const MIN_FIRST_ALONE_S: f64 = 8.0;

/// Detected speech after a window's last word, this long or longer within the region holding
/// that word, was not transcribed: a region's pauses are shorter than `min_silence` (2 s by
/// default) and its padding 0.4 s. Seen on a home-video track: a sonnet's first 30 s as one
/// region, after which base-int8 (bf16 decoder, AVX-512 EPYC) wrote "1." and ended the window
/// with a timestamp at its end, so the next window began 29 s later.
const MIN_SKIPPED_TAIL_S: f64 = 5.0;

/// Window time from which a window is decoded again: the earlier of a skipped region's start
/// ([`first_skipped_region`]) and a skipped tail ([`skipped_tail`]).
pub(crate) fn first_skipped(
    regions: &[Region],
    spans: &[(f64, f64)],
    words: Option<&[(f64, f64)]>,
    conditioned: bool,
) -> Option<f64> {
    let region = first_skipped_region(regions, spans, words, conditioned).map(|(_, at)| at);
    [region, skipped_tail(spans, words)]
        .into_iter()
        .flatten()
        .min_by(f64::total_cmp)
}

/// The end of the window's last word when the region holding it goes on for at least
/// [`MIN_SKIPPED_TAIL_S`] after it: Whisper stopped transcribing and jumped to the window's
/// end. The first region counts too: the rest of it is decoded from a later start, so the
/// decode cannot repeat itself. `None` without words (then [`first_skipped_region`] decides).
pub(crate) fn skipped_tail(spans: &[(f64, f64)], words: Option<&[(f64, f64)]>) -> Option<f64> {
    let last = words?.iter().map(|&(_, e)| e).max_by(f64::total_cmp)?;
    let &(_, end) = spans
        .iter()
        .find(|&&(s, e)| last > s && last <= e + FRAME_S)?;
    (last > 0.0 && end - last >= MIN_SKIPPED_TAIL_S).then_some(last)
}

/// The window's segments up to window time `at`: words whose middle lies before it, a
/// segment cut after its last such word ([`Segment::words_part`]).
pub(crate) fn segments_before(segments: Vec<Segment>, at: f64) -> Vec<Segment> {
    let before = |w: &crate::Word| (w.start + w.end) / 2.0 < at;
    segments
        .into_iter()
        .filter_map(|s| {
            let n = s.words.iter().take_while(|w| before(w)).count();
            match n {
                0 => None,
                n if n < s.words.len() => Some(s.words_part(0, n)),
                _ => Some(s),
            }
        })
        .collect()
}

/// The window's segments from window time `at` (a junction) on: words that end after it, a
/// segment cut before its first such word. A word across the junction goes with the later
/// region, where the alignment stretched it from (seen: "Ten" of "Ten of clubs." begun in the
/// skipped sonnet before it, its middle there).
pub(crate) fn segments_from(segments: Vec<Segment>, at: f64) -> Vec<Segment> {
    let before = |w: &crate::Word| w.end <= at;
    segments
        .into_iter()
        .filter_map(|s| {
            let n = s.words.iter().take_while(|w| before(w)).count();
            match n {
                0 => Some(s),
                n if n < s.words.len() => Some(s.words_part(n, s.words.len())),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_segments::segment_of as segment;
    use crate::timeline::TimelineMap;

    fn skipped(regions: &[Region], words: &[(f64, f64)]) -> Option<(usize, f64)> {
        first_skipped_region(
            regions,
            &TimelineMap::new(regions).speech_spans(),
            Some(words),
            false,
        )
    }

    #[test]
    fn segments_are_cut_where_the_skipped_speech_starts() {
        let a = segment(&[(" Especially", 0.5, 1.0), (" letters.", 6.0, 7.0)]);
        let b = segment(&[
            (" Then", 7.5, 7.8),
            (" in", 22.2, 22.4),
            (" ugly", 23.0, 23.5),
        ]);
        let c = segment(&[(" ones.", 24.0, 24.5)]);
        let kept = segments_before(vec![a.clone(), b, c], 8.0);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], a);
        assert_eq!(kept[1].text, " Then");
        assert_eq!((kept[1].start, kept[1].end), (7.5, 7.8));
        assert!(kept[1].tokens.is_empty());
        assert!(segments_before(vec![segment(&[(" x", 9.0, 9.5)])], 8.0).is_empty());
    }

    /// A region of `secs` seconds with `pad` seconds of padding before its onset.
    fn region(at_s: f64, secs: f64, pad: f64) -> Region {
        let s = (at_s * SAMPLE_RATE) as u64;
        Region {
            start: s,
            end: s + (secs * SAMPLE_RATE) as u64,
            onset: s + (pad * SAMPLE_RATE) as u64,
        }
    }

    #[test]
    fn a_speech_region_without_words_between_worded_ones_is_skipped_speech() {
        // 8 s of speech, 3 s of music, 11 s of speech, 3 s of speech: window time 0-8, 8-11,
        // 11-22, 22-25. Whisper wrote words in the first and last only.
        let regions = [
            region(80.0, 8.0, 0.4),
            region(93.0, 3.0, 0.4),
            region(112.0, 11.0, 0.4),
            region(125.0, 3.0, 0.4),
        ];
        let words = [(0.5, 1.0), (7.0, 7.5), (22.5, 23.0)];
        // The music is the first region without words: decoding starts again there.
        assert_eq!(skipped(&regions, &words), Some((1, 8.0)));
        // With words in the music, the sentence after it is the skipped one, also when the
        // alignment stretched the next sentence's first word into its end.
        let words = [
            (0.5, 1.0),
            (9.0, 9.5),
            (9.5, 10.0),
            (21.0, 22.2),
            (22.5, 23.0),
        ];
        assert_eq!(skipped(&regions, &words), Some((2, 11.0)));
        // Transcribed, it stands.
        let said: Vec<(f64, f64)> = (0..25).map(|i| (i as f64, i as f64 + 0.5)).collect();
        assert_eq!(skipped(&regions, &said), None);
    }

    #[test]
    fn a_word_stretched_across_a_junction_does_not_count_for_the_region_it_reaches_into() {
        // 6.5 s of speech, "five five" (1.7 s region, 1.3 s heard), 9.6 s of speech: window
        // time 0-6.5, 6.5-8.2, 8.2-17.8. The third region's first word ("The") is aligned from
        // 7.7 s, across the junction at 8.2 s.
        let regions = [
            region(0.7, 6.5, 0.4),
            region(11.15, 1.7, 0.4),
            region(45.9, 9.6, 0.4),
        ];
        let first = [(0.0, 0.7), (4.9, 5.9)];
        let third: Vec<(f64, f64)> = (0..9).map(|i| (8.3 + i as f64, 8.8 + i as f64)).collect();
        let with = |middle: &[(f64, f64)]| [&first[..], middle, &third[..]].concat();
        assert_eq!(skipped(&regions, &with(&[(7.7, 8.26)])), Some((1, 6.5)));
        // Its own words count, the last one ending within a frame of its end.
        let own = with(&[(7.0, 7.5), (7.6, 8.21)]);
        assert_eq!(skipped(&regions, &own), None);
    }

    #[test]
    fn short_noises_and_the_first_region_are_not_decoded_again() {
        let regions = [
            region(10.0, 4.0, 0.4),
            region(20.0, 0.9, 0.4), // a door: 0.5 s heard
            region(30.0, 4.0, 0.4),
        ];
        let words = [(0.5, 1.0), (5.2, 5.6), (6.0, 6.5), (7.0, 7.5)];
        assert_eq!(skipped(&regions, &words), None);
        // Unconditioned, the first region without words is Whisper's own call (a retry would
        // be the same decode).
        let words = [(5.5, 6.0)];
        assert_eq!(skipped(&regions[..1], &words), None);
        assert_eq!(skipped(&regions, &[]), Some((2, 4.9)));
    }

    #[test]
    fn speech_left_after_the_last_word_is_a_skipped_tail_in_the_first_region_too() {
        // A sonnet's first 30 s as one region; Whisper wrote "1." (0.0-0.8) and jumped to the
        // window's end.
        let sonnet = [region(37.6, 30.0, 0.4)];
        let spans = TimelineMap::new(&sonnet).speech_spans();
        let one = [(0.0, 0.84)];
        assert_eq!(skipped_tail(&spans, Some(&one)), Some(0.84));
        assert_eq!(
            first_skipped(&sonnet, &spans, Some(&one), false),
            Some(0.84)
        );
        // Transcribed to within the padding and a pause: it stands; so does a window whose
        // words have no times or that has none (the region rule's case).
        let said: Vec<(f64, f64)> = (0..26).map(|i| (i as f64, i as f64 + 0.6)).collect();
        assert_eq!(skipped_tail(&spans, Some(&said)), None);
        assert_eq!(skipped_tail(&spans, None), None);
        assert_eq!(skipped_tail(&spans, Some(&[])), None);
    }

    #[test]
    fn the_earlier_of_a_skipped_tail_and_a_skipped_region_is_decoded_again() {
        // 12 s of speech with words up to 3 s only, then 6 s of speech without words.
        let regions = [region(10.0, 12.0, 0.4), region(40.0, 6.0, 0.4)];
        let spans = TimelineMap::new(&regions).speech_spans();
        let words = [(0.5, 1.0), (2.0, 3.0)];
        // The tail's start, not the second region's (12 s).
        assert_eq!(
            first_skipped(&regions, &spans, Some(&words), false),
            Some(3.0)
        );
        // The first region transcribed: the second is the skipped one.
        let words: Vec<(f64, f64)> = (0..12).map(|i| (i as f64, i as f64 + 0.5)).collect();
        assert_eq!(skipped_tail(&spans, Some(&words)), None);
        assert_eq!(
            first_skipped(&regions, &spans, Some(&words), false),
            Some(12.0)
        );
        // A tail shorter than 5 s (a region's pauses are under 2 s, its padding 0.4 s) stands.
        let words: Vec<(f64, f64)> = (0..8).map(|i| (i as f64, i as f64 + 0.5)).collect();
        let second: Vec<(f64, f64)> = (0..5).map(|i| (12.5 + i as f64, 13.0 + i as f64)).collect();
        let with_second = [&words[..], &second[..]].concat();
        assert_eq!(
            first_skipped(&regions, &spans, Some(&with_second), false),
            None
        );
    }

    #[test]
    fn a_window_without_words_is_checked_unless_words_have_no_times() {
        // The carried end of the window before (8 ms), then 20.8 s of a sonnet: Whisper wrote
        // nothing for the window.
        let regions = [region(175.656, 0.008, 0.0), region(178.672, 20.832, 0.4)];
        let spans = TimelineMap::new(&regions).speech_spans();
        assert_eq!(
            first_skipped_region(&regions, &spans, Some(&[]), false),
            Some((1, 0.008))
        );
        assert_eq!(first_skipped_region(&regions, &spans, None, false), None);
    }

    #[test]
    fn an_unconditioned_windows_skipped_first_region_is_decoded_alone_when_more_follow() {
        // A sonnet's last 23 s without words, then "Ten of clubs." and a sentence.
        let regions = [
            region(70.0, 23.0, 0.0),
            region(130.0, 1.5, 0.4),
            region(133.0, 8.0, 0.4),
        ];
        let spans = TimelineMap::new(&regions).speech_spans();
        let words: Vec<(f64, f64)> = (0..14)
            .map(|i| (23.5 + i as f64 * 0.5, 23.8 + i as f64 * 0.5))
            .collect();
        assert!(skipped_first_of_several(
            &regions,
            &spans,
            Some(&words),
            false
        ));
        // Conditioned (the region rule retries it), alone, without word times, or transcribed.
        assert!(!skipped_first_of_several(
            &regions,
            &spans,
            Some(&words),
            true
        ));
        assert!(!skipped_first_of_several(
            &regions[..1],
            &spans,
            Some(&words),
            false
        ));
        assert!(!skipped_first_of_several(&regions, &spans, None, false));
        assert!(!skipped_first_of_several(&[], &[], Some(&words), false));
        // A first region of 6 s (the music a scene opens on) stays as Whisper left it.
        let music = [region(0.0, 6.0, 0.0), region(10.0, 8.0, 0.4)];
        let spans_m = TimelineMap::new(&music).speech_spans();
        let later = [(6.5, 7.0), (7.2, 7.6), (8.0, 8.5), (9.0, 9.5), (10.0, 10.5)];
        assert!(!skipped_first_of_several(
            &music,
            &spans_m,
            Some(&later),
            false
        ));
        let said: Vec<(f64, f64)> = (0..40)
            .map(|i| (i as f64 * 0.5, i as f64 * 0.5 + 0.3))
            .collect();
        assert!(!skipped_first_of_several(
            &regions,
            &spans,
            Some(&said),
            false
        ));
    }

    #[test]
    fn segments_from_a_time_keep_the_words_after_it() {
        let s = segment(&[(" a", 1.0, 1.5), (" b", 2.0, 2.5), (" c", 3.0, 3.5)]);
        let later = segments_from(vec![s.clone()], 1.4);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].text, " a b c");
        let later = segments_from(vec![s.clone()], 1.5);
        assert_eq!(later[0].text, " b c");
        assert_eq!(segments_from(vec![s.clone()], 0.0), vec![s.clone()]);
        assert!(segments_from(vec![s], 4.0).is_empty());
    }

    #[test]
    fn the_first_region_is_tried_again_only_when_earlier_text_may_have_led_past_it() {
        // After "... with ugly ones.": a sonnet's first 12 s without words, then its next lines.
        let regions = [region(100.0, 12.0, 0.4), region(115.0, 8.0, 0.4)];
        let spans = TimelineMap::new(&regions).speech_spans();
        let words: Vec<(f64, f64)> = (0..16)
            .map(|i| (12.9 + i as f64 * 0.5, 13.2 + i as f64 * 0.5))
            .collect();
        assert_eq!(
            first_skipped(&regions, &spans, Some(&words), true),
            Some(0.0)
        );
        assert_eq!(first_skipped(&regions, &spans, Some(&words), false), None);
        // Transcribed: nothing to try again, conditioned or not.
        let said: Vec<(f64, f64)> = (0..30)
            .map(|i| (0.5 + i as f64 * 0.7, 0.9 + i as f64 * 0.7))
            .collect();
        assert_eq!(first_skipped(&regions, &spans, Some(&said), true), None);
    }
}
