//! Line breaking inside one cue.
//!
//! Text that fits on one line stays on one line (Netflix: "keep to one line unless it exceeds
//! the limit"). Otherwise the fewest lines that fit are used, and among the ways to break them
//! the cheapest wins: a good linguistic break (see [`crate::breaks`]) plus lines of similar
//! length, an upper line longer than the one below costing more than the reverse (the
//! bottom-heavy pyramid of the style guides), and a line of one short word (an orphan) costing
//! extra. A small dynamic programme over break positions finds the optimum exactly.

use crate::breaks::Break;
use crate::sanitize::Token;

/// Lines of one cue and how good they are (lower is better).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub lines: Vec<String>,
    pub cost: f64,
}

/// Cost per character of a line's distance from the mean line length.
const IMBALANCE: f64 = 0.2;
/// Extra cost per character by which a line that is not the last is longer than the mean.
const TOP_HEAVY: f64 = 0.2;
/// A line holding a single word this short or shorter is an orphan.
const ORPHAN_WIDTH: usize = 3;
const ORPHAN: f64 = 4.0;

/// Lays out `tokens` (`breaks[i]` is the break after `tokens[i]`) in at most `max_lines` lines
/// of `max_len`; `None` if they do not fit without splitting a word.
pub(crate) fn layout(
    tokens: &[Token],
    breaks: &[Break],
    max_len: usize,
    max_lines: usize,
) -> Option<Layout> {
    let widths = Widths::new(tokens);
    (1..=max_lines.min(tokens.len()))
        .find_map(|n| best_in_lines(tokens, breaks, &widths, max_len, n))
}

/// Prefix sums of word widths, so that a line's width is O(1).
struct Widths {
    word_sum: Vec<usize>,
    space_sum: Vec<usize>,
}

impl Widths {
    fn new(tokens: &[Token]) -> Self {
        let mut word_sum = vec![0];
        let mut space_sum = vec![0];
        for t in tokens {
            word_sum.push(word_sum.last().unwrap_or(&0) + t.width());
            space_sum.push(space_sum.last().unwrap_or(&0) + usize::from(t.space_before));
        }
        Widths {
            word_sum,
            space_sum,
        }
    }

    /// Width of the line holding tokens `a..b` (the first one's space is not drawn).
    fn line(&self, a: usize, b: usize) -> usize {
        self.word_sum[b] - self.word_sum[a] + self.space_sum[b] - self.space_sum[a + 1]
    }
}

fn best_in_lines(
    tokens: &[Token],
    breaks: &[Break],
    widths: &Widths,
    max_len: usize,
    n_lines: usize,
) -> Option<Layout> {
    let n = tokens.len();
    let mean = widths.line(0, n) as f64 / n_lines as f64;
    let line_cost = |a: usize, b: usize, last: bool| -> f64 {
        let w = widths.line(a, b) as f64;
        let mut cost = IMBALANCE * (w - mean).abs();
        if !last && w > mean {
            cost += TOP_HEAVY * (w - mean);
        }
        if n_lines > 1 && b - a == 1 && tokens[a].width() <= ORPHAN_WIDTH {
            cost += ORPHAN;
        }
        if a > 0 {
            cost += breaks[a - 1].line_cost();
        }
        cost
    };
    // best[l][j]: cheapest way to put tokens[..j] in l lines; from[l][j]: where line l starts.
    let mut best = vec![vec![f64::INFINITY; n + 1]; n_lines + 1];
    let mut from = vec![vec![0usize; n + 1]; n_lines + 1];
    best[0][0] = 0.0;
    for l in 1..=n_lines {
        // The first line starts at word 0 and the last ends at word n: skipping the other
        // cases keeps a two-line layout linear in the words.
        let ends = if l == n_lines { n..=n } else { l..=n };
        for j in ends {
            let first = if l == 1 { 0 } else { l - 1 };
            for i in (first..j).rev() {
                if widths.line(i, j) > max_len {
                    break;
                }
                if l == 1 && i > 0 {
                    continue;
                }
                let c = best[l - 1][i] + line_cost(i, j, l == n_lines);
                if c < best[l][j] {
                    best[l][j] = c;
                    from[l][j] = i;
                }
            }
        }
    }
    if !best[n_lines][n].is_finite() {
        return None;
    }
    let mut starts = vec![0; n_lines + 1];
    starts[n_lines] = n;
    for l in (1..=n_lines).rev() {
        starts[l - 1] = from[l][starts[l]];
    }
    let lines = starts
        .windows(2)
        .map(|w| join(&tokens[w[0]..w[1]]))
        .collect();
    let cost = if n_lines == 1 { 0.0 } else { best[n_lines][n] };
    Some(Layout { lines, cost })
}

/// Text of tokens on one line.
pub(crate) fn join(tokens: &[Token]) -> String {
    let mut s = String::new();
    for (k, t) in tokens.iter().enumerate() {
        if k > 0 && t.space_before {
            s.push(' ');
        }
        s.push_str(&t.text);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaks::classify;

    fn toks(text: &str) -> (Vec<Token>, Vec<Break>) {
        let tokens: Vec<Token> = text
            .split(' ')
            .map(|w| Token {
                start: 0.0,
                end: 0.0,
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

    fn lines(text: &str, max_len: usize, max_lines: usize) -> Option<Vec<String>> {
        let (t, b) = toks(text);
        layout(&t, &b, max_len, max_lines).map(|l| l.lines)
    }

    #[test]
    fn one_line_when_it_fits() {
        assert_eq!(
            lines("ask what you can do for your country.", 42, 2)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn breaks_at_the_clause_bottom_heavy() {
        assert_eq!(
            lines(
                "And so my fellow Americans, ask not what your country can do for you,",
                42,
                2
            )
            .unwrap(),
            [
                "And so my fellow Americans,",
                "ask not what your country can do for you,"
            ]
        );
    }

    #[test]
    fn breaks_before_a_conjunction_not_after_an_article() {
        assert_eq!(
            lines(
                "We walked along the river for an hour and then we went home",
                42,
                2
            )
            .unwrap(),
            [
                "We walked along the river",
                "for an hour and then we went home"
            ]
        );
        // The balanced break would leave "the" dangling at the end of the first line.
        assert_eq!(
            lines(
                "She said she would bring the chocolate cake to the party",
                42,
                2
            )
            .unwrap(),
            [
                "She said she would bring",
                "the chocolate cake to the party"
            ]
        );
    }

    #[test]
    fn too_long_is_none_and_widths_count_graphemes() {
        assert!(lines("aaaa bbbb cccc", 9, 1).is_none());
        assert_eq!(
            lines("aaaa bbbb cccc", 9, 2).unwrap(),
            ["aaaa", "bbbb cccc"]
        );
        // "é" as e + combining accent is one character on screen.
        assert_eq!(lines("cafe\u{301} cafe\u{301}", 9, 1).unwrap().len(), 1);
    }
}
