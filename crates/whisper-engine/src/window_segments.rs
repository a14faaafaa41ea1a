//! How a decoded window's tokens split into segments (openai-whisper's and faster-whisper's
//! rule: a segment ends between two consecutive timestamps), shared by the stream, which makes
//! the segments, and batched decoding, which aligns their text ahead (`batch.rs`).

use crate::mel::{HOP, N_FRAMES, N_SAMPLES};
use std::ops::Range;

/// Mel frames (10 ms) of a window whose audio has `content_samples` samples (at most 30 s).
pub(crate) fn content_frames(content_samples: usize) -> usize {
    (content_samples.min(N_SAMPLES) / HOP).min(N_FRAMES)
}

/// Whether a window's tokens end on one timestamp after text (the window's speech ends inside
/// it, so the seek moves to the window's end).
pub(crate) fn ends_on_single_timestamp(tokens: &[u32], timestamp_begin: u32) -> bool {
    let n = tokens.len();
    n >= 2 && tokens[n - 2] < timestamp_begin && tokens[n - 1] >= timestamp_begin
}

/// The token ranges of a window's segments, cut between consecutive timestamps (the last
/// range ends at the last such pair, or at the end on a single timestamp ending); `None`
/// without consecutive timestamps: the window's tokens are one segment.
pub(crate) fn timestamped_ranges(
    tokens: &[u32],
    timestamp_begin: u32,
) -> Option<Vec<Range<usize>>> {
    let is_ts = |i: usize| tokens[i] >= timestamp_begin;
    let mut cuts: Vec<usize> = (1..tokens.len())
        .filter(|&i| is_ts(i) && is_ts(i - 1))
        .collect();
    if cuts.is_empty() {
        return None;
    }
    if ends_on_single_timestamp(tokens, timestamp_begin) {
        cuts.push(tokens.len());
    }
    let starts = std::iter::once(0).chain(cuts.iter().copied());
    Some(
        starts
            .zip(cuts.iter().copied())
            .map(|(a, b)| a..b)
            .collect(),
    )
}

/// How many of a window's tokens its segments hold: tokens after the last pair of
/// consecutive timestamps (an unfinished segment) are dropped and decoded again from the seek.
pub(crate) fn segment_tokens_len(tokens: &[u32], timestamp_begin: u32) -> usize {
    timestamped_ranges(tokens, timestamp_begin)
        .map_or(tokens.len(), |r| r.last().map_or(0, |last| last.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: u32 = 100; // timestamps from 100 on; text below

    #[test]
    fn segments_end_between_consecutive_timestamps() {
        // <0.00> a b <1.00><1.00> c <2.00><2.00> d   (the last segment unfinished)
        let t = [100, 1, 2, 150, 150, 3, 200, 200, 4];
        assert_eq!(timestamped_ranges(&t, TS), Some(vec![0..4, 4..7]));
        assert_eq!(segment_tokens_len(&t, TS), 7);
        assert!(!ends_on_single_timestamp(&t, TS));
    }

    #[test]
    fn a_single_timestamp_ending_closes_the_last_segment() {
        // <0.00> a <1.00><1.00> b <2.00>
        let t = [100, 1, 150, 150, 2, 200];
        assert!(ends_on_single_timestamp(&t, TS));
        assert_eq!(timestamped_ranges(&t, TS), Some(vec![0..3, 3..6]));
        assert_eq!(segment_tokens_len(&t, TS), 6);
    }

    #[test]
    fn without_consecutive_timestamps_the_window_is_one_segment() {
        let t = [100, 1, 2, 3, 180];
        assert_eq!(timestamped_ranges(&t, TS), None);
        assert_eq!(segment_tokens_len(&t, TS), 5);
        assert_eq!(timestamped_ranges(&[], TS), None);
    }

    #[test]
    fn content_frames_stop_at_a_window() {
        assert_eq!(content_frames(16_000), 100);
        assert_eq!(content_frames(16_000 * 45), N_FRAMES);
        assert_eq!(content_frames(HOP - 1), 0);
    }
}
