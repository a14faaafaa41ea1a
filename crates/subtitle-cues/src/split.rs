//! Where one stretch of speech (no pause longer than `pause_split` inside) is cut into cues.
//!
//! A dynamic programme over the places between words picks the cheapest sequence of cues that
//! all fit the limits (lines, line length, duration; a single word always fits). A cue costs:
//! - a fixed amount, so text is not cut without a reason;
//! - the kind of break it ends on (sentence end free, then clause, then before a conjunction,
//!   ...), see [`crate::breaks`];
//! - its line layout, see [`crate::lines`];
//! - the time it would fall short of the reading-speed floor or the minimum duration, counting
//!   the silence after it (falling short of the minimum, a flash, costs more): this merges
//!   "Yes." into the next phrase instead of flashing it;
//! - for a sentence that starts inside it, the time that sentence is on screen before it is
//!   spoken: two short sentences share a cue, two long ones get one each.
//!
//! Greedy filling would leave one-word cues at the end of a sentence; the optimum over the whole
//! stretch does not, and it is still deterministic and linear in the number of words (the
//! cues are bounded in size).

use crate::breaks::Break;
use crate::lines::{join, layout};
use crate::options::CueOptions;
use crate::sanitize::Token;
use std::ops::Range;

const PER_CUE: f64 = 3.0;
/// Cost per second a cue falls short of its reading time.
const SHORT_PER_SECOND: f64 = 8.0;
/// Further cost per second a cue falls short of the minimum duration: a flash that cannot be
/// read at all is worse than a cue read a little fast, so a long word is better shown together
/// with the next one than alone for a third of a second.
const FLASH_PER_SECOND: f64 = 12.0;
/// Cost per second a following sentence is shown before it is spoken.
const EARLY_SENTENCE_PER_SECOND: f64 = 6.0;
/// More words than this never share a cue (bounds the work on pathological input; 84
/// characters in two lines hold far fewer words, even one-character CJK ones).
const MAX_TOKENS_PER_CUE: usize = 128;

/// One cue's words and lines, before timing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shaped {
    pub words: Range<usize>,
    pub lines: Vec<String>,
}

/// Cuts `tokens` (`breaks[i]` between `tokens[i]` and `tokens[i + 1]`) into cues. `room_end`:
/// the latest time the last cue could stay up (next speech minus the gap, or the audio end).
pub(crate) fn split(
    tokens: &[Token],
    breaks: &[Break],
    room_end: f64,
    opts: &CueOptions,
) -> Vec<Shaped> {
    let n = tokens.len();
    let mut best = vec![f64::INFINITY; n + 1];
    let mut from = vec![0usize; n + 1];
    best[0] = 0.0;
    for j in 1..=n {
        for i in (j.saturating_sub(MAX_TOKENS_PER_CUE)..j).rev() {
            let Some(c) = cue_cost(tokens, breaks, i..j, room_end, opts) else {
                break; // a longer cue fits no better
            };
            if best[i] + c < best[j] {
                best[j] = best[i] + c;
                from[j] = i;
            }
        }
    }
    let mut cuts = vec![n];
    while let Some(&j) = cuts.last().filter(|&&j| j > 0) {
        cuts.push(from[j]);
    }
    cuts.reverse();
    cuts.windows(2)
        .map(|w| shaped(tokens, breaks, w[0]..w[1], opts))
        .collect()
}

fn shaped(tokens: &[Token], breaks: &[Break], r: Range<usize>, opts: &CueOptions) -> Shaped {
    let lines = fitted_lines(tokens, breaks, r.clone(), opts)
        .map(|l| l.0)
        .unwrap_or_else(|| vec![join(&tokens[r.clone()])]);
    Shaped { words: r, lines }
}

/// Lines and layout cost of a cue, `None` if it does not fit; a single word always fits.
fn fitted_lines(
    tokens: &[Token],
    breaks: &[Break],
    r: Range<usize>,
    opts: &CueOptions,
) -> Option<(Vec<String>, f64)> {
    let inner = &breaks[r.start..r.end - 1];
    match layout(
        &tokens[r.clone()],
        inner,
        opts.max_line_length,
        opts.max_lines,
    ) {
        Some(l) => Some((l.lines, l.cost)),
        None if r.len() == 1 => Some((vec![tokens[r.start].text.clone()], 0.0)),
        None => None,
    }
}

fn cue_cost(
    tokens: &[Token],
    breaks: &[Break],
    r: Range<usize>,
    room_end: f64,
    opts: &CueOptions,
) -> Option<f64> {
    let start = tokens[r.start].start;
    if r.len() > 1 && tokens[r.end - 1].end - start > opts.max_cue_duration {
        return None;
    }
    let (lines, layout_cost) = fitted_lines(tokens, breaks, r.clone(), opts)?;
    let end_break = breaks.get(r.end - 1).map_or(0.0, |b| b.cue_cost());
    let chars: usize = lines.iter().map(|l| crate::width(l)).sum();
    let room = tokens
        .get(r.end)
        .map_or(room_end, |t| t.start - opts.min_gap());
    let available = (room - start).min(opts.max_cue_duration);
    let needed = opts
        .min_cue_duration
        .max(chars as f64 / opts.min_reading_cps);
    let short = SHORT_PER_SECOND * (needed - available).max(0.0)
        + FLASH_PER_SECOND * (opts.min_cue_duration - available).max(0.0);
    let early: f64 = (r.start..r.end - 1)
        .filter(|&k| breaks[k] == Break::Sentence)
        .map(|k| EARLY_SENTENCE_PER_SECOND * (tokens[k + 1].start - start))
        .sum();
    Some(PER_CUE + end_break + layout_cost + short + early)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaks::classify;

    /// Words spoken back to back, `secs` each.
    fn speech(text: &str, secs: f64) -> (Vec<Token>, Vec<Break>) {
        let tokens: Vec<Token> = text
            .split(' ')
            .enumerate()
            .map(|(k, w)| Token {
                start: k as f64 * secs,
                end: (k + 1) as f64 * secs,
                text: w.into(),
                space_before: true,
            })
            .collect();
        let breaks = tokens
            .windows(2)
            .map(|w| classify(&w[0].text, &w[1].text))
            .collect();
        (tokens, breaks)
    }

    fn texts(text: &str, secs: f64) -> Vec<String> {
        let (t, b) = speech(text, secs);
        split(&t, &b, f64::INFINITY, &CueOptions::default())
            .into_iter()
            .map(|s| s.lines.join(" / "))
            .collect()
    }

    #[test]
    fn short_sentences_share_a_cue_long_ones_do_not() {
        assert_eq!(texts("Yes. I know.", 0.3), ["Yes. I know."]);
        assert_eq!(
            texts(
                "I went to the store yesterday afternoon. Then I came home and cooked dinner.",
                0.35
            ),
            [
                "I went to the store yesterday afternoon.",
                "Then I came home and cooked dinner."
            ]
        );
    }

    #[test]
    fn long_text_is_cut_at_clauses_within_limits() {
        let cues = texts(
            "And so my fellow Americans, ask not what your country can do for you, \
             ask what you can do for your country.",
            0.3,
        );
        assert!(cues.len() == 2, "{cues:?}");
        assert!(cues[0].ends_with(','), "{cues:?}");
    }

    #[test]
    fn duration_limit_cuts_slow_speech() {
        let (t, b) = speech("one two three four five six seven eight nine ten", 1.0);
        for s in split(&t, &b, f64::INFINITY, &CueOptions::default()) {
            assert!(t[s.words.end - 1].end - t[s.words.start].start <= 7.0);
        }
    }
}
