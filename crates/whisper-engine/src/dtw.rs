//! Dynamic time warping over a cost matrix: the cheapest monotonic path from (0, 0) to
//! (rows-1, cols-1) with diagonal, down and right steps.
//!
//! Written here rather than taken from a crate: the DTW crates compare two series under a
//! distance; word timing needs the path through a given matrix, with openai-whisper's tie rule
//! (on equal cost a step along the frames wins), so that words land where faster-whisper puts them.

/// The path as (row, column) pairs, from (0, 0) to the last cell. `cost` is row-major
/// `rows x cols`. Empty when the matrix is.
pub(crate) fn path(cost: &[f32], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    debug_assert_eq!(cost.len(), rows * cols);
    let w = cols + 1;
    // acc[(i, j)]: cheapest path cost to cell (i-1, j-1); row 0 and column 0 are the border.
    let mut acc = vec![f64::INFINITY; (rows + 1) * w];
    let mut step = vec![Step::Right; (rows + 1) * w];
    acc[0] = 0.0;
    for j in 1..=cols {
        for i in 1..=rows {
            let diag = acc[(i - 1) * w + j - 1];
            let up = acc[(i - 1) * w + j];
            let left = acc[i * w + j - 1];
            let (best, s) = if diag < up && diag < left {
                (diag, Step::Diagonal)
            } else if up < diag && up < left {
                (up, Step::Down)
            } else {
                (left, Step::Right)
            };
            acc[i * w + j] = cost[(i - 1) * cols + j - 1] as f64 + best;
            step[i * w + j] = s;
        }
    }
    let (mut i, mut j) = (rows, cols);
    let mut out = Vec::with_capacity(rows + cols);
    while i > 0 && j > 0 {
        out.push((i - 1, j - 1));
        match step[i * w + j] {
            Step::Diagonal => {
                i -= 1;
                j -= 1;
            }
            Step::Down => i -= 1,
            Step::Right => j -= 1,
        }
    }
    out.reverse();
    out
}

/// The column at which each row is entered: `starts[r]` = first column of row r on the path.
pub(crate) fn row_starts(path: &[(usize, usize)], rows: usize) -> Vec<usize> {
    let mut starts = vec![usize::MAX; rows];
    for &(r, c) in path {
        if starts[r] == usize::MAX {
            starts[r] = c;
        }
    }
    starts
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Diagonal,
    Down,
    Right,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix that is cheap (-1) on a known staircase and expensive (+1) elsewhere: the path
    /// must follow the staircase exactly.
    #[test]
    fn follows_a_known_staircase() {
        // rows 0..4 occupy columns [0,3), [3,4), [4,9), [9,12)
        let spans = [(0, 3), (3, 4), (4, 9), (9, 12)];
        let (rows, cols) = (4, 12);
        let mut cost = vec![1.0f32; rows * cols];
        for (r, &(a, b)) in spans.iter().enumerate() {
            for c in a..b {
                cost[r * cols + c] = -1.0;
            }
        }
        let p = path(&cost, rows, cols);
        let expected: Vec<(usize, usize)> = spans
            .iter()
            .enumerate()
            .flat_map(|(r, &(a, b))| (a..b).map(move |c| (r, c)))
            .collect();
        assert_eq!(p, expected);
        assert_eq!(row_starts(&p, rows), vec![0, 3, 4, 9]);
    }

    #[test]
    fn path_is_monotonic_and_complete_on_noise() {
        let (rows, cols) = (7, 40);
        let cost: Vec<f32> = (0..rows * cols)
            .map(|k| ((k * 7919) % 101) as f32 / 101.0)
            .collect();
        let p = path(&cost, rows, cols);
        assert_eq!(p.first(), Some(&(0, 0)));
        assert_eq!(p.last(), Some(&(rows - 1, cols - 1)));
        for w in p.windows(2) {
            let (di, dj) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            assert!(di <= 1 && dj <= 1 && di + dj >= 1, "{w:?}");
        }
        let starts = row_starts(&p, rows);
        assert!(starts.windows(2).all(|s| s[0] <= s[1]));
    }

    #[test]
    fn more_rows_than_columns_still_reach_the_end() {
        let p = path(&[0.0; 6], 3, 2);
        assert_eq!(p.first(), Some(&(0, 0)));
        assert_eq!(p.last(), Some(&(2, 1)));
    }

    #[test]
    fn empty_matrix_gives_an_empty_path() {
        assert!(path(&[], 0, 5).is_empty());
    }
}
