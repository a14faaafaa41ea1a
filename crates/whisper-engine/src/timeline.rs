//! The map between a speech-only timeline (regions of the original audio laid end to end, as
//! Whisper hears them) and the original timeline, so that every time stamp maps back.

use crate::speech_regions::Region;

const SAMPLE_RATE: f64 = 16_000.0;

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
                };
                speech += r.len();
                p
            })
            .collect();
        Self { pieces }
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
        let after = |p: &Piece| match edge {
            Edge::Start => p.speech_start + p.duration <= t,
            Edge::End => p.speech_start + p.duration < t,
        };
        let i = self.pieces.partition_point(after);
        self.pieces.get(i.min(self.pieces.len().saturating_sub(1)))
    }

    /// Original time of speech-only time `t`, clamped into the region it falls in (a time
    /// past the audio, which Whisper may give at the end, is the last region's end).
    pub fn to_original(&self, t: f64, edge: Edge) -> f64 {
        match self.piece_at(t, edge) {
            Some(p) => p.original_start + (t - p.speech_start).clamp(0.0, p.duration),
            None => t,
        }
    }

    /// Original times of an interval that belongs to one region (a word): both ends are mapped
    /// through the region of its middle, so a word never straddles a removed silence.
    pub fn interval_to_original(&self, start: f64, end: f64) -> (f64, f64) {
        let Some(p) = self.piece_at((start + end) / 2.0, Edge::Start) else {
            return (start, end);
        };
        let map = |t: f64| p.original_start + (t - p.speech_start).clamp(0.0, p.duration);
        (map(start), map(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> TimelineMap {
        // Regions 1.0-3.0 s and 10.0-11.5 s of the original: speech-only 0-2 s and 2-3.5 s.
        TimelineMap::new(&[
            Region {
                start: 16_000,
                end: 48_000,
            },
            Region {
                start: 160_000,
                end: 184_000,
            },
        ])
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
    fn an_empty_map_is_the_identity() {
        let m = TimelineMap::default();
        assert_eq!(m.to_original(4.2, Edge::Start), 4.2);
    }
}
