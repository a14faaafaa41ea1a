//! When each cue appears and disappears.
//!
//! A cue appears when its first word starts (later only if the previous cue plus the gap is
//! still on screen, which happens only with implausibly crowded word times). It stays until its
//! last word ends plus the hold, longer if the reading-speed floor or the minimum duration ask
//! for it, but never past the next cue's first word minus the frame gap, past the audio end, or
//! longer than the maximum duration. When speech runs on without a gap, that cuts the cue the
//! gap before the next speaker's first word, as subtitlers do. A cue is shown at least one
//! frame unless the audio end leaves no room (then it is squeezed to zero length at the audio
//! end: never dropped, never overlapping).

use crate::options::CueOptions;
use crate::sanitize::Token;
use crate::split::Shaped;
use crate::Cue;

/// Times the cues of one stretch. `prev_end`: end of the cue before them; `next_speech`: start
/// of the speech after them; `audio_end`: the hard bound (infinite when unknown).
pub(crate) fn place(
    tokens: &[Token],
    shaped: Vec<Shaped>,
    prev_end: Option<f64>,
    next_speech: f64,
    audio_end: f64,
    opts: &CueOptions,
) -> Vec<Cue> {
    let gap = opts.min_gap();
    let mut prev_end = prev_end;
    let mut cues = Vec::with_capacity(shaped.len());
    let next_starts: Vec<f64> = shaped
        .iter()
        .skip(1)
        .map(|s| tokens[s.words.start].start)
        .chain([next_speech])
        .collect();
    for (s, next_start) in shaped.into_iter().zip(next_starts) {
        let first = &tokens[s.words.start];
        let last = &tokens[s.words.end - 1];
        let start = prev_end
            .map_or(first.start, |p| first.start.max(p + gap))
            .min(audio_end);
        let chars: usize = s.lines.iter().map(|l| crate::width(l)).sum();
        let reading = opts
            .min_cue_duration
            .max(chars as f64 / opts.min_reading_cps);
        let wanted = (last.end + opts.hold).max(start + reading);
        let cap = (next_start - gap)
            .min(audio_end)
            .min(start + opts.max_cue_duration);
        let end = wanted.min(cap).max((start + opts.frame()).min(audio_end));
        prev_end = Some(end);
        cues.push(Cue {
            start,
            end,
            lines: s.lines,
        });
    }
    cues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(start: f64, end: f64, text: &str) -> Token {
        Token {
            start,
            end,
            text: text.into(),
            space_before: true,
        }
    }

    fn one(tokens: &[Token], k: usize) -> Shaped {
        Shaped {
            words: k..k + 1,
            lines: vec![tokens[k].text.clone()],
        }
    }

    #[test]
    fn hold_reading_floor_gap_and_audio_end() {
        let o = CueOptions::default();
        let t = [
            tok(1.0, 1.3, "Hi."),   // short: reading floor, into silence only
            tok(1.5, 4.0, "Well"),  // contiguous with the next: cut 2 frames before it
            tok(4.0, 4.5, "then."), // hold, bounded by the audio end
        ];
        let shaped = (0..3).map(|k| one(&t, k)).collect();
        let c = place(&t, shaped, None, f64::INFINITY, 4.7, &o);
        assert_eq!((c[0].start, c[0].end), (1.0, 1.5 - 0.08));
        assert_eq!((c[1].start, c[1].end), (1.5, 4.0 - 0.08));
        assert_eq!((c[2].start, c[2].end), (4.0, 4.7));
        let c = place(&t[..1], vec![one(&t, 0)], None, 9.0, 99.0, &o);
        assert_eq!(
            c[0].end,
            1.0 + o.min_cue_duration,
            "reading floor into the silence"
        );
    }

    #[test]
    fn crowded_times_push_starts_and_squeeze_at_the_audio_end() {
        let o = CueOptions::default();
        let t = [tok(2.0, 2.0, "a"), tok(2.0, 2.0, "b"), tok(2.0, 2.0, "c")];
        let shaped = (0..3).map(|k| one(&t, k)).collect();
        let c = place(&t, shaped, None, f64::INFINITY, 2.1, &o);
        assert_eq!((c[0].start, c[0].end), (2.0, 2.04));
        assert!((c[1].start - 2.1).abs() < 1e-9 && c[1].end == 2.1);
        assert_eq!((c[2].start, c[2].end), (2.1, 2.1));
    }
}
