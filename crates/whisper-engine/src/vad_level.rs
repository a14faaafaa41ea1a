//! The level speech detection hears. Silero's speech probabilities fall when speech is quiet:
//! on the home-video benchmark tracks turned down 20 / 30 dB (speech near -40 / -50 dBFS, as a
//! tape captured at a low level), the regions it found covered 91 / 84 % of the speech against
//! 95 % at the recorded level, and tiny.en-int8's WER rose 3.1 / 11.2 points (BENCHMARKS.md
//! "Quiet recordings"), most of it from the speech detection (in a probe at -30 dB, its input
//! alone brought back up left 0.9 points). It is not level-free the other way either (speech
//! near 0 dBFS lost regions too), so frames are only ever brought up, to where speech sits in
//! ordinary recordings.
//!
//! The gain follows an envelope of the loudest recent frames: a frame louder than the envelope
//! sets it at once, otherwise it falls slowly ([`RELEASE_DB_PER_FRAME`]), so the gain rises in
//! quiet stretches only over tens of seconds and a short loud sound holds it down for as long.
//! Each frame's gain is `TARGET_DBFS - envelope`, clamped to 0..[`MAX_BOOST_DB`]. Audio whose
//! loud frames come 10 dB over [`TARGET_DBFS`] at least every 40 s is heard exactly as it is. The
//! envelope is part of the VAD's state between blocks (`LstmState::level`), so a block's
//! result never depends on how the audio was chunked or where a stream resumed.

/// Where the envelope of the loudest frames is brought up to (dBFS, RMS of a 32 ms frame):
/// the home-video tracks' speech (active level -20 +/- 3 dBFS) has its loudest frames above it.
const TARGET_DBFS: f32 = -25.0;
/// The most a frame is brought up (dB).
const MAX_BOOST_DB: f32 = 30.0;
/// How fast the envelope falls: 0.25 dB/s at 31.25 frames/s (30 dB in two minutes).
const RELEASE_DB_PER_FRAME: f32 = 0.25 / 31.25;
/// The level of a frame of digital silence (dBFS).
const FLOOR_DBFS: f32 = -120.0;

/// RMS level of `samples` in dBFS.
fn level_dbfs(samples: &[f32]) -> f32 {
    let power = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
    (10.0 * power.log10()).max(FLOOR_DBFS)
}

/// Scale each row of `rows` (`context` samples of the frame before, then the frame's own
/// `width - context`) by its frame's gain, updating `envelope` (dBFS; `NEG_INFINITY` before the
/// first frame). Returns the scaled rows.
pub(crate) fn boosted(rows: &[f32], width: usize, context: usize, envelope: &mut f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.chunks(width) {
        let level = level_dbfs(&row[context.min(row.len())..]);
        *envelope = level.max(*envelope - RELEASE_DB_PER_FRAME);
        let gain_db = (TARGET_DBFS - *envelope).clamp(0.0, MAX_BOOST_DB);
        let gain = 10f32.powf(gain_db / 20.0);
        out.extend(row.iter().map(|s| s * gain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 576;
    const C: usize = 64;

    /// `frames` rows of a sine at `dbfs` (RMS).
    fn tone(frames: usize, dbfs: f32) -> Vec<f32> {
        let amp = 10f32.powf(dbfs / 20.0) * 2f32.sqrt();
        (0..frames * W)
            .map(|i| amp * (i as f32 * 0.2).sin())
            .collect()
    }

    #[test]
    fn ordinary_levels_pass_unchanged() {
        let rows = tone(40, -18.0);
        let mut env = f32::NEG_INFINITY;
        assert_eq!(boosted(&rows, W, C, &mut env), rows);
        assert!((env + 18.0).abs() < 0.1, "{env}");
    }

    #[test]
    fn quiet_audio_is_brought_up_to_the_target() {
        let rows = tone(40, -45.0);
        let mut env = f32::NEG_INFINITY;
        let out = boosted(&rows, W, C, &mut env);
        let got = level_dbfs(&out[W * 39 + C..]);
        assert!((got - TARGET_DBFS).abs() < 0.2, "{got}");
    }

    #[test]
    fn the_boost_is_capped() {
        let rows = tone(4, -80.0);
        let mut env = f32::NEG_INFINITY;
        let out = boosted(&rows, W, C, &mut env);
        let got = level_dbfs(&out[W * 3 + C..]);
        assert!((got - (-80.0 + MAX_BOOST_DB)).abs() < 0.2, "{got}");
    }

    #[test]
    fn a_loud_frame_holds_the_gain_down_and_it_recovers_slowly() {
        let mut rows = tone(1, -10.0);
        rows.extend(tone(31, -40.0));
        let mut env = f32::NEG_INFINITY;
        let out = boosted(&rows, W, C, &mut env);
        // One second after the loud frame the envelope has fallen 0.25 dB: no boost yet.
        assert!(
            (env - (-10.0 - 31.0 * RELEASE_DB_PER_FRAME)).abs() < 0.05,
            "{env}"
        );
        assert_eq!(&out[W..], &rows[W..]);
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let mut rows = tone(10, -50.0);
        rows.extend(tone(10, -30.0));
        let mut whole_env = f32::NEG_INFINITY;
        let whole = boosted(&rows, W, C, &mut whole_env);
        let mut env = f32::NEG_INFINITY;
        let mut parts = boosted(&rows[..W * 7], W, C, &mut env);
        parts.extend(boosted(&rows[W * 7..], W, C, &mut env));
        assert_eq!(parts, whole);
        assert_eq!(env.to_bits(), whole_env.to_bits());
    }
}
