//! The map between a speech-only timeline (regions of the original audio laid end to end, as
//! Whisper hears them) and the original timeline, so that every time stamp maps back.

use crate::speech_regions::Region;

const SAMPLE_RATE: f64 = 16_000.0;

/// How far before the detected onset a region's first word may start. Silero decides on 32 ms
/// frames and flags a soft onset ("and", "the", an unvoiced "f") one to several frames late
/// (JFK's "And": 0.24 s); 0.1 s earlier is still "with the speech" for a viewer.
const ONSET_LEAD: f64 = 0.1;

/// Which side of a junction between two regions a time belongs to: a start (of a segment or
/// word) at a junction is the later region's start, an end is the earlier region's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// One region: where it starts in the speech-only timeline and in the original, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    speech_start: f64,
    original_start: f64,
    duration: f64,
    /// Earliest start of a word: the detected onset less [`ONSET_LEAD`], original seconds
    /// (`original_start` or later).
    onset: f64,
}

impl Piece {
    /// Original time of speech-only `t`, inside this piece.
    fn original(&self, t: f64) -> f64 {
        self.original_start + (t - self.speech_start).clamp(0.0, self.duration)
    }

    /// A start is not before the detected onset (less the lead): Whisper's alignment puts a
    /// region's first word at the start of its audio, i.e. in the padding kept before the
    /// speech (cues then showed a median 0.27 s early with 300 ms of padding).
    fn start_after_onset(&self, start: f64) -> f64 {
        start.max(self.onset)
    }
}

/// Speech-only time (seconds from the first region's start) -> original time (seconds).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimelineMap {
    pieces: Vec<Piece>,
}

impl TimelineMap {
    /// The map of `regions` (in order, not overlapping) laid end to end.
    pub fn new(regions: &[Region]) -> Self {
        let mut speech = 0u64;
        let pieces = regions
            .iter()
            .map(|r| {
                let p = Piece {
                    speech_start: speech as f64 / SAMPLE_RATE,
                    original_start: r.start as f64 / SAMPLE_RATE,
                    duration: r.len() as f64 / SAMPLE_RATE,
                    onset: (r.onset.clamp(r.start, r.end) as f64 / SAMPLE_RATE - ONSET_LEAD)
                        .max(r.start as f64 / SAMPLE_RATE),
                };
                speech += r.len();
                p
            })
            .collect();
        Self { pieces }
    }

    /// `[start, end)` of each region on the speech-only timeline, seconds.
    pub fn speech_spans(&self) -> Vec<(f64, f64)> {
        self.pieces
            .iter()
            .map(|p| (p.speech_start, p.speech_start + p.duration))
            .collect()
    }

    /// Length of the speech-only timeline, seconds.
    pub fn speech_duration(&self) -> f64 {
        self.pieces
            .last()
            .map_or(0.0, |p| p.speech_start + p.duration)
    }

    /// The piece holding time `t`; at a junction, the later piece for a start and the earlier
    /// one for an end. Times outside the timeline belong to the first or last piece.
    fn piece_at(&self, t: f64, edge: Edge) -> Option<&Piece> {
        self.pieces.get(self.piece_index(t, edge))
    }

    /// Index of [`Self::piece_at`] (0 for an empty map).
    fn piece_index(&self, t: f64, edge: Edge) -> usize {
        let after = |p: &Piece| match edge {
            Edge::Start => p.speech_start + p.duration <= t,
            Edge::End => p.speech_start + p.duration < t,
        };
        let i = self.pieces.partition_point(after);
        i.min(self.pieces.len().saturating_sub(1))
    }

    /// Original time of speech-only time `t`, clamped into the region it falls in (a time
    /// past the audio, which Whisper may give at the end, is the last region's end); a start
    /// is not before the region's detected onset.
    pub fn to_original(&self, t: f64, edge: Edge) -> f64 {
        match (self.piece_at(t, edge), edge) {
            (Some(p), Edge::Start) => p.start_after_onset(p.original(t)),
            (Some(p), Edge::End) => p.original(t),
            (None, _) => t,
        }
    }

    /// Original times of an interval that belongs to one region (a word): both ends are mapped
    /// through the region of its middle, so a word never straddles a removed silence; its
    /// start is not before the region's detected onset (nor after its end).
    pub fn interval_to_original(&self, start: f64, end: f64) -> (f64, f64) {
        self.interval_through(
            self.piece_index((start + end) / 2.0, Edge::Start),
            start,
            end,
        )
    }

    /// `[start, end)` mapped through piece `i` (identity for an empty map).
    fn interval_through(&self, i: usize, start: f64, end: f64) -> (f64, f64) {
        let Some(p) = self.pieces.get(i) else {
            return (start, end);
        };
        let end = p.original(end);
        (p.start_after_onset(p.original(start)).min(end), end)
    }

    /// Original times of the words of one segment, in order. A word across a junction goes
    /// to the region holding most of it when a neighbour in the segment is there too (the
    /// word before it for the earlier region, the word after it for the later one), else to
    /// the other region when its neighbour is there: Whisper's alignment can stretch a
    /// region's first word ("The") back over the noise or padding laid before it.
    pub fn words_to_original(&self, words: &[(f64, f64)]) -> Vec<(f64, f64)> {
        let middle = |&(s, e): &(f64, f64)| self.piece_index((s + e) / 2.0, Edge::Start);
        let mut out = Vec::with_capacity(words.len());
        let mut previous: Option<usize> = None;
        for (k, w) in words.iter().enumerate() {
            let first = self.piece_index(w.0, Edge::Start);
            let last = self.piece_index(w.1, Edge::End);
            let most = middle(w);
            let next = words.get(k + 1).map(middle);
            let neighbour_in =
                |p: usize| (p == first && previous == Some(p)) || (p == last && next == Some(p));
            let other = if most == first { last } else { first };
            let piece = if first < last && !neighbour_in(most) && neighbour_in(other) {
                other
            } else {
                most
            };
            out.push(self.interval_through(piece, w.0, w.1));
            previous = Some(piece);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> TimelineMap {
        // Regions 1.0-3.0 s and 10.0-11.5 s of the original: speech-only 0-2 s and 2-3.5 s.
        TimelineMap::new(&[Region::new(16_000, 48_000), Region::new(160_000, 184_000)])
    }

    #[test]
    fn times_inside_regions_shift_by_the_silence_removed_before_them() {
        let m = map();
        assert_eq!(m.speech_duration(), 3.5);
        assert_eq!(m.to_original(0.0, Edge::Start), 1.0);
        assert_eq!(m.to_original(0.5, Edge::Start), 1.5);
        assert_eq!(m.to_original(2.5, Edge::End), 10.5);
        assert_eq!(m.to_original(3.5, Edge::End), 11.5);
    }

    #[test]
    fn a_time_on_a_junction_goes_to_the_side_of_its_edge() {
        let m = map();
        // 2.0 s is both the end of the first region (3.0 s) and the start of the second (10 s).
        assert_eq!(m.to_original(2.0, Edge::End), 3.0);
        assert_eq!(m.to_original(2.0, Edge::Start), 10.0);
    }

    #[test]
    fn times_past_the_audio_are_clamped() {
        let m = map();
        assert_eq!(m.to_original(29.98, Edge::End), 11.5);
        assert_eq!(m.to_original(-0.1, Edge::Start), 1.0);
    }

    #[test]
    fn a_word_is_mapped_through_the_region_of_its_middle() {
        let m = map();
        // A word from 1.8 to 2.4 (middle 2.1: second region) lands at 10.0-10.4, not across
        // the removed 7 s of silence.
        let (s, e) = m.interval_to_original(1.8, 2.4);
        assert_eq!((s, e), (10.0, 10.4));
        let (s, e) = m.interval_to_original(1.2, 2.2);
        assert!((s - 2.2).abs() < 1e-9 && (e - 3.0).abs() < 1e-9, "{s} {e}");
    }

    #[test]
    fn starts_in_the_padding_before_the_onset_move_to_the_onset() {
        // A region padded 0.4 s: 0.6-2.0 s of the original, speech heard from 1.1 s, so no
        // word starts before 1.0 s (the lead).
        let m = TimelineMap::new(&[Region {
            start: 9_600,
            end: 32_000,
            onset: 17_600,
        }]);
        let near = |(s, e): (f64, f64), want: (f64, f64)| {
            assert!(
                (s - want.0).abs() < 1e-9 && (e - want.1).abs() < 1e-9,
                "{s} {e}"
            );
        };
        // The first word aligned at the start of the audio starts at the onset instead.
        near(m.interval_to_original(0.0, 0.7), (1.0, 1.3));
        near((m.to_original(0.1, Edge::Start), 0.0), (1.0, 0.0));
        // Later words and ends are untouched; a word wholly in the padding ends where it did.
        near(m.interval_to_original(0.6, 1.0), (1.2, 1.6));
        near((0.0, m.to_original(0.1, Edge::End)), (0.0, 0.7));
        near(m.interval_to_original(0.0, 0.3), (0.9, 0.9));
    }

    #[test]
    fn a_word_across_a_junction_goes_with_its_neighbour() {
        let m = map();
        // "The" from 1.7 to 2.4 (middle 2.05: second region) before "earliest" in the second
        // region: it starts the second region.
        let w = m.words_to_original(&[(1.7, 2.4), (2.4, 2.9)]);
        assert_eq!(w[0], (10.0, 10.4));
        // Stretched the other way (middle 1.95: first region), it still goes with "earliest".
        let w = m.words_to_original(&[(1.5, 2.4), (2.4, 2.9)]);
        assert_eq!(w[0], (10.0, 10.4));
        // Mostly in the first region after a word there, it ends the first region.
        let w = m.words_to_original(&[(1.0, 1.6), (1.7, 2.2)]);
        assert!(
            (w[1].0 - 2.7).abs() < 1e-9 && (w[1].1 - 3.0).abs() < 1e-9,
            "{w:?}"
        );
        // Mostly in the second region, between a word of each: the majority decides.
        let w = m.words_to_original(&[(1.0, 1.6), (1.9, 2.4), (2.4, 2.9)]);
        assert_eq!(w[1], (10.0, 10.4));
        // Alone, by its middle.
        let w = m.words_to_original(&[(1.5, 2.4)]);
        assert_eq!(w[0], m.interval_to_original(1.5, 2.4));
    }

    #[test]
    fn an_empty_map_is_the_identity() {
        let m = TimelineMap::default();
        assert_eq!(m.to_original(4.2, Edge::Start), 4.2);
    }
}
