//! The level speech detection hears. Silero's speech probabilities fall when speech is quiet:
//! on the home-video benchmark tracks turned down 20 / 30 dB (speech near -40 / -50 dBFS, as a
//! tape captured at a low level), the regions it found covered 91 / 84 % of the speech against
//! 95 % at the recorded level, and tiny.en-int8's WER rose 3.1 / 11.2 points (BENCHMARKS.md
//! "Quiet and hot recordings"), most of it from the speech detection (in a probe at -30 dB, its input
//! alone brought back up left 0.9 points). Too loud loses speech as well: the tracks 14 dB
//! louder (clipped, a capture at too hot a level) lost 3 points, 2 of them back with Silero's
//! input alone turned down. So frames are brought toward where speech sits in ordinary
//! recordings, from both sides, by two slow measures of the level ([`Level`]):
//!
//! - Up, by an envelope of the loudest recent frames: a frame louder than it sets it at once,
//!   otherwise it falls slowly ([`RELEASE_DB_PER_FRAME`]); the gain brings it to [`TARGET_DBFS`],
//!   at most [`MAX_BOOST_DB`]. It rises in quiet stretches only over tens of seconds, and a
//!   short loud sound holds it down for as long.
//! - Down, by the sustained loudness: a running mean (in dB) that loud frames pull up only a
//!   little each ([`RISE_PER_FRAME`]), falling as slowly as the envelope; what it has over
//!   [`CEILING_DBFS`] is taken off. A door slam moves it by a few dB; seconds of hot speech move
//!   it all the way. A single loud frame cannot turn the speech after it down.
//!
//! Audio whose loud frames come 10 dB over [`TARGET_DBFS`] at least every 40 s and whose
//! sustained loudness stays under [`CEILING_DBFS`] is heard exactly as it is (seeds 21 and 31 of
//! the benchmark tracks at their level gave identical subtitles). The measures are part of the VAD's state between blocks (`LstmState::envelope`,
//! `LstmState::loudness`), so a block's result never depends on how the audio was chunked or
//! where a stream resumed.

/// Where the envelope of the loudest frames is brought up to (dBFS, RMS of a 32 ms frame):
/// the home-video tracks' speech (active level -20 +/- 3 dBFS) has its loudest frames above it.
const TARGET_DBFS: f32 = -25.0;
/// The most a frame is brought up (dB).
const MAX_BOOST_DB: f32 = 30.0;
/// How fast the envelope falls: 0.25 dB/s at 31.25 frames/s (30 dB in two minutes).
const RELEASE_DB_PER_FRAME: f32 = 0.25 / 31.25;
/// Where the sustained loudness is brought down to (dBFS): over the benchmark tracks' speech
/// (-20 +/- 3 dBFS active), under where Silero starts to lose it.
const CEILING_DBFS: f32 = -17.0;
/// How far one louder frame pulls the sustained loudness toward its own level (a time constant
/// of about 1 s of loud frames).
const RISE_PER_FRAME: f32 = 0.03;
/// The level of a frame of digital silence (dBFS).
const FLOOR_DBFS: f32 = -120.0;

/// RMS level of `samples` in dBFS.
fn level_dbfs(samples: &[f32]) -> f32 {
    let power = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
    (10.0 * power.log10()).max(FLOOR_DBFS)
}

/// The two measures of the level so far (dBFS; `NEG_INFINITY` before the first frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Level {
    /// Envelope of the loudest recent frames.
    pub envelope: f32,
    /// Sustained loudness.
    pub loudness: f32,
}

impl Default for Level {
    /// No frame heard yet.
    fn default() -> Self {
        Level {
            envelope: f32::NEG_INFINITY,
            loudness: f32::NEG_INFINITY,
        }
    }
}

impl Level {
    /// Take in a frame at `level` dBFS; returns the frame's gain in dB.
    fn gain_db(&mut self, level: f32) -> f32 {
        self.envelope = level.max(self.envelope - RELEASE_DB_PER_FRAME);
        // Before any frame the loudness is taken as ordinary, so that whatever comes first, a
        // slam or hot speech, has to pull it up like any later frame.
        let loudness = if self.loudness.is_finite() {
            self.loudness
        } else {
            TARGET_DBFS
        };
        self.loudness = if level > loudness {
            loudness + (level - loudness) * RISE_PER_FRAME
        } else {
            level.max(loudness - RELEASE_DB_PER_FRAME)
        };
        let up = (TARGET_DBFS - self.envelope).clamp(0.0, MAX_BOOST_DB);
        let down = (self.loudness - CEILING_DBFS).max(0.0);
        up - down
    }
}

/// Scale each row of `rows` (`context` samples of the frame before, then the frame's own
/// `width - context`) by its frame's gain, updating `level`. Returns the scaled rows.
pub(crate) fn leveled(rows: &[f32], width: usize, context: usize, level: &mut Level) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.chunks(width) {
        let gain_db = level.gain_db(level_dbfs(&row[context.min(row.len())..]));
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

    /// The level of the frame of row `k`.
    fn frame_dbfs(rows: &[f32], k: usize) -> f32 {
        level_dbfs(&rows[W * k + C..W * (k + 1)])
    }

    /// The level the last of `frames` frames at `dbfs` is heard at, from no level yet.
    fn heard_after(frames: usize, dbfs: f32) -> f32 {
        let out = leveled(&tone(frames, dbfs), W, C, &mut Level::default());
        frame_dbfs(&out, frames - 1)
    }

    #[test]
    fn ordinary_levels_pass_unchanged() {
        let rows = tone(40, -18.0);
        let mut level = Level::default();
        assert_eq!(leveled(&rows, W, C, &mut level), rows);
        assert!((level.envelope + 18.0).abs() < 0.1, "{level:?}");
    }

    #[test]
    fn quiet_audio_is_brought_up_to_the_target() {
        let got = heard_after(40, -45.0);
        assert!((got - TARGET_DBFS).abs() < 0.2, "{got}");
    }

    #[test]
    fn the_boost_is_capped() {
        let got = heard_after(4, -80.0);
        assert!((got - (-80.0 + MAX_BOOST_DB)).abs() < 0.2, "{got}");
    }

    #[test]
    fn a_loud_frame_holds_the_gain_down_and_it_recovers_slowly() {
        let mut rows = tone(1, -10.0);
        rows.extend(tone(31, -40.0));
        let mut level = Level::default();
        let out = leveled(&rows, W, C, &mut level);
        // One second after the loud frame the envelope has fallen 0.25 dB: no boost yet, and
        // the one frame did not make the audio loud.
        let env = level.envelope;
        assert!(
            (env - (-10.0 - 31.0 * RELEASE_DB_PER_FRAME)).abs() < 0.05,
            "{env}"
        );
        assert_eq!(&out[W..], &rows[W..]);
    }

    #[test]
    fn hot_speech_is_brought_down_to_the_ceiling() {
        let got = heard_after(200, -3.0);
        assert!((got - CEILING_DBFS).abs() < 0.3, "{got}");
    }

    #[test]
    fn a_slam_turns_the_speech_after_it_down_by_little() {
        // 2 s of speech at -20 dBFS, a 0.5 s slam at -5, then speech again.
        let mut rows = tone(64, -20.0);
        rows.extend(tone(15, -5.0));
        rows.extend(tone(32, -20.0));
        let out = leveled(&rows, W, C, &mut Level::default());
        let after = frame_dbfs(&out, 64 + 15);
        assert!(after < -20.0 && after > -23.0, "{after}");
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let mut rows = tone(10, -50.0);
        rows.extend(tone(10, -30.0));
        rows.extend(tone(10, -2.0));
        let mut whole_level = Level::default();
        let whole = leveled(&rows, W, C, &mut whole_level);
        let mut level = Level::default();
        let mut parts = leveled(&rows[..W * 7], W, C, &mut level);
        parts.extend(leveled(&rows[W * 7..], W, C, &mut level));
        assert_eq!(parts, whole);
        assert_eq!(level, whole_level);
    }
}
