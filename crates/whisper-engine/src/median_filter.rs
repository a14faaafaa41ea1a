//! The median filter word timing runs over each alignment head's attention row (openai-whisper
//! filters with width 7 before DTW). A million scores per window: width 7 goes through a
//! branch-free sorting network on integer keys that order as `f32::total_cmp`.

/// Median over a window of `width` (odd) with mirrored edges; rows too short are copied.
pub(crate) fn filter(row: &[f32], width: usize, out: &mut [f32]) {
    let n = row.len();
    let pad = width / 2;
    if n <= pad {
        out.copy_from_slice(row);
        return;
    }
    let mirror = |i: isize| -> f32 {
        let n = n as isize;
        let j = if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        };
        row[j as usize]
    };
    let padded: Vec<f32> = (-(pad as isize)..(n + pad) as isize).map(mirror).collect();
    if width == 7 {
        let keys: Vec<i32> = padded.iter().map(|&x| order_key(x)).collect();
        for (o, win) in out.iter_mut().zip(keys.windows(7)) {
            *o = from_order_key(median_of_7(win));
        }
        return;
    }
    let mut win = vec![0f32; width];
    for (o, w) in out.iter_mut().zip(padded.windows(width)) {
        win.copy_from_slice(w);
        *o = *win.select_nth_unstable_by(pad, f32::total_cmp).1;
    }
}

/// An integer whose order is `f32::total_cmp`'s (the same mapping `total_cmp` uses).
fn order_key(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ ((((bits >> 31) as u32) >> 1) as i32)
}

/// The inverse of [`order_key`] (the mapping is its own inverse).
fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ ((((k >> 31) as u32) >> 1) as i32)) as u32)
}

/// The middle of 7 keys by a 16-comparator sorting network of min/max (no branches): word
/// timing filters about a million scores per window, and sorting each 7-window was most of
/// the time its attention matrix took (31 of 39 ms for 8 heads x 83 tokens x 1469 frames).
fn median_of_7(win: &[i32]) -> i32 {
    const NETWORK: [(usize, usize); 16] = [
        (0, 6),
        (2, 3),
        (4, 5),
        (0, 2),
        (1, 4),
        (3, 6),
        (0, 1),
        (2, 5),
        (3, 4),
        (1, 2),
        (4, 6),
        (2, 3),
        (4, 5),
        (1, 2),
        (3, 4),
        (5, 6),
    ];
    let mut v = [0i32; 7];
    v.copy_from_slice(win);
    for (a, b) in NETWORK {
        let (lo, hi) = (v[a].min(v[b]), v[a].max(v[b]));
        v[a] = lo;
        v[b] = hi;
    }
    v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_filter_keeps_steps_and_drops_spikes() {
        let row = [0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let mut out = [0f32; 12];
        filter(&row, 7, &mut out);
        assert_eq!(
            out,
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        );
    }

    /// The first version (a sorted window), kept as the reference the network must match.
    fn median_by_sorting(row: &[f32], width: usize) -> Vec<f32> {
        let (n, pad) = (row.len() as isize, (width / 2) as isize);
        (0..n)
            .map(|i| {
                let mut win: Vec<f32> = (i - pad..=i + pad)
                    .map(|j| {
                        row[if j < 0 {
                            -j
                        } else if j >= n {
                            2 * (n - 1) - j
                        } else {
                            j
                        } as usize]
                    })
                    .collect();
                win.sort_by(f32::total_cmp);
                win[pad as usize]
            })
            .collect()
    }

    #[test]
    fn the_network_matches_sorting_on_rows_of_every_length() {
        // Pseudo-random scores with ties; rows shorter than the window too.
        let mut x = 0x2545_f491u32;
        let row: Vec<f32> = (0..301)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % 9 == 7 {
                    0.5
                } else {
                    (x % 1000) as f32 / 37.0 - 13.0
                }
            })
            .collect();
        for n in [4, 5, 8, 13, 301] {
            let mut out = vec![0f32; n];
            filter(&row[..n], 7, &mut out);
            assert_eq!(out, median_by_sorting(&row[..n], 7), "{n}");
        }
    }

    #[test]
    fn median_of_7_sorts_every_order() {
        // All 5040 orders of 7 distinct values, and values with ties and signed zeros.
        fn permutations(v: &mut [f32; 7], k: usize, seen: &mut usize) {
            if k == 7 {
                let mut sorted = *v;
                sorted.sort_by(f32::total_cmp);
                let keys = v.map(order_key);
                assert_eq!(
                    from_order_key(median_of_7(&keys)).to_bits(),
                    sorted[3].to_bits(),
                    "{v:?}"
                );
                *seen += 1;
                return;
            }
            for i in k..7 {
                v.swap(k, i);
                permutations(v, k + 1, seen);
                v.swap(k, i);
            }
        }
        let mut seen = 0;
        permutations(&mut [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0, &mut seen);
        assert_eq!(seen, 5040);
        permutations(&mut [1.0, -0.0, 0.0, 1.0, -2.0, 0.0, 1.0], 0, &mut 0);
    }
}
