//! Softmax sums over a vocabulary's logits or a row of encoder frames, eight lanes at a time
//! with `wide`'s polynomial `exp` (at most 1 ulp from libm's `expf` over [-87, 0], probed every
//! 0.00037). Scalar `expf` over 51864 logits per token, and over every alignment row, was most
//! of the decoder's own (non-OpenVINO) time.
//!
//! Sums run in eight lane-wise partial sums reduced in a fixed order: the same input gives the
//! same bits on every run and machine (for one build).

use wide::f32x8;

const LANES: usize = 8;

fn lanes(chunk: &[f32]) -> f32x8 {
    f32x8::from(<[f32; LANES]>::try_from(chunk).expect("a full chunk"))
}

/// The largest value; `NEG_INFINITY` for an empty slice.
pub(crate) fn max(xs: &[f32]) -> f32 {
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    let mut m = f32x8::splat(f32::NEG_INFINITY);
    for c in chunks {
        m = m.max(lanes(c));
    }
    let lane_max = m.to_array().into_iter().fold(f32::NEG_INFINITY, f32::max);
    rest.iter().copied().fold(lane_max, f32::max)
}

/// Σ exp(x - shift) (`shift` at least every x, usually their max).
pub(crate) fn sum_exp(xs: &[f32], shift: f32) -> f32 {
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    let s = f32x8::splat(shift);
    let mut acc = f32x8::ZERO;
    for c in chunks {
        acc += (lanes(c) - s).exp();
    }
    let tail: f32 = rest.iter().map(|&x| (x - shift).exp()).sum();
    acc.reduce_add() + tail
}

/// Every x becomes exp(x - shift); returns their sum.
pub(crate) fn exp_in_place(xs: &mut [f32], shift: f32) -> f32 {
    let s = f32x8::splat(shift);
    let mut acc = f32x8::ZERO;
    let mut chunks = xs.chunks_exact_mut(LANES);
    for c in &mut chunks {
        let e = (lanes(c) - s).exp();
        c.copy_from_slice(&e.to_array());
        acc += e;
    }
    let mut tail = 0.0;
    for x in chunks.into_remainder() {
        *x = (*x - shift).exp();
        tail += *x;
    }
    acc.reduce_add() + tail
}

/// ln Σ exp(x), computed stably; `NEG_INFINITY` when every x is (or there are none).
pub(crate) fn log_sum_exp(xs: &[f32]) -> f32 {
    max_and_log_sum_exp(xs).1
}

/// The largest value and ln Σ exp(x), from one pass for the max (a greedy pick needs both).
pub(crate) fn max_and_log_sum_exp(xs: &[f32]) -> (f32, f32) {
    let m = max(xs);
    if m == f32::NEG_INFINITY {
        return (m, m);
    }
    (m, m + sum_exp(xs, m).ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row like a vocabulary's logits: spread values, some disabled, a length that is not a
    /// multiple of the lanes.
    fn row(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| match i % 97 {
                5 => f32::NEG_INFINITY,
                k => ((i * 7919 % 1000) as f32 / 50.0) - 10.0 + k as f32 * 0.01,
            })
            .collect()
    }

    fn scalar_log_sum_exp(xs: &[f32]) -> f64 {
        let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        m + xs.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln()
    }

    #[test]
    fn log_sum_exp_matches_double_precision() {
        for n in [1, 7, 8, 9, 1500, 51864] {
            let xs = row(n);
            let want = scalar_log_sum_exp(&xs);
            let got = log_sum_exp(&xs) as f64;
            assert!(
                (got - want).abs() < 1e-5 * want.abs().max(1.0),
                "n={n}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn max_finds_the_largest_anywhere() {
        let mut xs = row(51865);
        xs[51864] = 99.0;
        assert_eq!(max(&xs), 99.0);
        xs[3] = 100.0;
        assert_eq!(max(&xs), 100.0);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }

    #[test]
    fn disabled_entries_add_nothing() {
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 11]), f32::NEG_INFINITY);
        let mut xs = vec![f32::NEG_INFINITY; 17];
        xs[12] = 2.5;
        assert!((log_sum_exp(&xs) - 2.5).abs() < 1e-6);
    }

    #[test]
    fn exp_in_place_gives_a_softmax_numerator() {
        let mut xs = row(1501);
        let m = max(&xs);
        let want: Vec<f64> = xs.iter().map(|&x| (x as f64 - m as f64).exp()).collect();
        let sum = exp_in_place(&mut xs, m);
        assert!((sum as f64 - want.iter().sum::<f64>()).abs() < 1e-4 * sum as f64);
        // x - shift is rounded to f32 first (about 1e-6 relative for |x - shift| near 20).
        for (g, w) in xs.iter().zip(&want) {
            assert!((*g as f64 - w).abs() <= 4e-6 * w, "{g} vs {w}");
        }
    }
}
