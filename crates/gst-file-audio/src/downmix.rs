//! Stereo to mono that survives a channel wired out of phase.
//!
//! audioconvert mixes stereo to mono as (L + R) / 2. On a tape digitised with one channel's
//! polarity reversed (a miswired capture lead, a deck with an inverted output), speech recorded
//! alike on both channels cancels in that sum: Whisper hears only what differs between them and
//! the scene gets no subtitles at all. So each block of 0.1 s is mixed as the sum, or as the
//! difference (L - R) / 2 once that carries clearly more energy than the sum: where the channels
//! are anti-correlated. Speech recorded in phase, one dead channel, or unrelated noise on both
//! keep the sum (the difference then carries as much or less). The mix changes back only when
//! the sum carries clearly more, so that a recording between the two does not flip its polarity
//! block after block.

/// Frames decided together: 0.1 s at 16 kHz (short enough to follow a recording that changes,
/// long enough that a few samples of noise do not decide).
pub const BLOCK_FRAMES: usize = 1600;

/// How much more energy one mix must carry than the other to be switched to: 2 is a correlation
/// below -1/3 (to the difference) or above 1/3 (back to the sum) for channels of equal level;
/// in-phase speech is far above 1/3, unrelated noise is 0.
const CLEARLY_MORE: f64 = 2.0;

/// Mixes interleaved stereo to mono block by block, counting the frames it took as differences.
#[derive(Debug, Default, Clone)]
pub struct StereoDownmix {
    frames: u64,
    inverted_frames: u64,
    /// The last block was mixed from the difference.
    inverted: bool,
}

impl StereoDownmix {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the mono mix of `interleaved` (`channels` samples a frame) to `out`. Mono passes
    /// through; a channel count other than 1 or 2 keeps the first two (the pipelines ask
    /// audioconvert for at most two).
    pub fn push(&mut self, interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
        if channels <= 1 {
            out.extend_from_slice(interleaved);
            return;
        }
        for block in interleaved.chunks(BLOCK_FRAMES * channels) {
            let frames = block.chunks_exact(channels);
            let n = frames.len() as u64;
            let (sum, diff) = mix_energies(block, channels);
            if self.inverted {
                self.inverted = sum <= CLEARLY_MORE * diff;
            } else {
                self.inverted = diff > CLEARLY_MORE * sum;
            }
            let sign = if self.inverted { -1.0 } else { 1.0 };
            out.extend(frames.map(|f| 0.5 * (f[0] + sign * f[1])));
            self.frames += n;
            if self.inverted {
                self.inverted_frames += n;
            }
        }
    }

    /// Like [`Self::push`] for F32LE bytes (a trailing partial sample is dropped).
    pub fn push_f32le(&mut self, bytes: &[u8], channels: usize, out: &mut Vec<f32>) {
        if channels <= 1 {
            out.extend(crate::f32_samples(bytes));
            return;
        }
        let interleaved: Vec<f32> = crate::f32_samples(bytes).collect();
        self.push(&interleaved, channels, out);
    }

    /// "out of phase in 11.0 of 11.0 s: mixed from their difference there" (frames at `rate`
    /// Hz), or None when no frame was mixed from the difference: what the CLI and the elements
    /// say of it.
    pub fn summary(&self, rate: u32) -> Option<String> {
        let seconds = |frames: u64| frames as f64 / f64::from(rate);
        (self.inverted_frames > 0).then(|| {
            format!(
                "out of phase in {:.1} of {:.1} s: mixed from their difference there",
                seconds(self.inverted_frames),
                seconds(self.frames)
            )
        })
    }

    /// Stereo frames mixed so far.
    pub fn stereo_frames(&self) -> u64 {
        self.frames
    }

    /// Of those, the frames taken as the channels' difference (out of phase).
    pub fn inverted_frames(&self) -> u64 {
        self.inverted_frames
    }
}

/// Energies of the block's sum and difference of its first two channels.
fn mix_energies(block: &[f32], channels: usize) -> (f64, f64) {
    let (mut sum, mut diff) = (0.0f64, 0.0f64);
    for f in block.chunks_exact(channels) {
        let (l, r) = (f64::from(f[0]), f64::from(f[1]));
        sum += (l + r) * (l + r);
        diff += (l - r) * (l - r);
    }
    (sum, diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 440 Hz tone with a slow swell, `n` samples at 16 kHz.
    fn speechlike(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                0.3 * (t * 3.0).sin().abs() * (t * 440.0 * std::f32::consts::TAU).sin()
            })
            .collect()
    }

    fn interleave(l: &[f32], r: &[f32]) -> Vec<f32> {
        l.iter().zip(r).flat_map(|(&a, &b)| [a, b]).collect()
    }

    fn mix(l: &[f32], r: &[f32]) -> (Vec<f32>, StereoDownmix) {
        let mut d = StereoDownmix::new();
        let mut out = Vec::new();
        d.push(&interleave(l, r), 2, &mut out);
        (out, d)
    }

    fn max_error(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn in_phase_channels_are_averaged() {
        let x = speechlike(16_000);
        let (out, d) = mix(&x, &x);
        assert!(max_error(&out, &x) < 1e-6);
        assert_eq!((d.stereo_frames(), d.inverted_frames()), (16_000, 0));
        assert_eq!(d.summary(16_000), None);
    }

    #[test]
    fn a_channel_out_of_phase_gives_the_signal_not_silence() {
        let x = speechlike(16_000);
        let minus: Vec<f32> = x.iter().map(|v| -v).collect();
        let (out, d) = mix(&x, &minus);
        assert!(
            max_error(&out, &x) < 1e-6,
            "the difference, halved, is the signal"
        );
        assert_eq!(d.inverted_frames(), 16_000);
        assert_eq!(
            d.summary(16_000).as_deref(),
            Some("out of phase in 1.0 of 1.0 s: mixed from their difference there")
        );
        // Reversed the other way round too, and at unequal levels.
        let weak: Vec<f32> = x.iter().map(|v| -0.4 * v).collect();
        let (out, _) = mix(&weak, &x);
        let energy: f32 = out.iter().map(|v| v * v).sum();
        let full: f32 = x.iter().map(|v| v * v).sum();
        assert!(energy > 0.45 * full, "{energy} of {full}");
    }

    #[test]
    fn one_dead_channel_or_unrelated_noise_keep_the_sum() {
        let x = speechlike(8_000);
        let zero = vec![0.0; x.len()];
        let (out, d) = mix(&zero, &x);
        let half: Vec<f32> = x.iter().map(|v| 0.5 * v).collect();
        assert!(max_error(&out, &half) < 1e-6);
        assert_eq!(d.inverted_frames(), 0);
        // Two unrelated noises (a fixed LCG): neither mix carries clearly more.
        let mut seed = 7u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let (a, b): (Vec<f32>, Vec<f32>) = (0..32_000).map(|_| (noise(), noise())).unzip();
        let (_, d) = mix(&a, &b);
        assert_eq!(d.inverted_frames(), 0);
    }

    /// Unrelated noise on both channels: the sum stays the sum, and after a stretch out of phase
    /// the difference stays the difference (no polarity flips block after block).
    #[test]
    fn an_ambiguous_block_keeps_the_mix_before_it() {
        let mut seed = 11u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let (a, b): (Vec<f32>, Vec<f32>) =
            (0..8 * BLOCK_FRAMES).map(|_| (noise(), noise())).unzip();
        let x = speechlike(BLOCK_FRAMES);
        let minus: Vec<f32> = x.iter().map(|v| -v).collect();
        let mut d = StereoDownmix::new();
        let mut out = Vec::new();
        d.push(&interleave(&a, &b), 2, &mut out);
        assert_eq!(d.inverted_frames(), 0);
        d.push(&interleave(&x, &minus), 2, &mut out);
        d.push(&interleave(&a, &b), 2, &mut out);
        assert_eq!(d.inverted_frames(), 9 * BLOCK_FRAMES as u64);
        d.push(&interleave(&x, &x), 2, &mut out);
        assert_eq!(
            d.inverted_frames(),
            9 * BLOCK_FRAMES as u64,
            "in phase again"
        );
    }

    #[test]
    fn a_stretch_out_of_phase_is_followed_and_mono_passes_through() {
        let x = speechlike(2 * BLOCK_FRAMES);
        let (first, second) = x.split_at(BLOCK_FRAMES);
        // In phase for one block, out of phase for the next.
        let r: Vec<f32> = first
            .iter()
            .copied()
            .chain(second.iter().map(|v| -v))
            .collect();
        let (out, d) = mix(&x, &r);
        assert!(max_error(&out, &x) < 1e-6);
        assert_eq!(d.inverted_frames(), BLOCK_FRAMES as u64);
        let mut mono = Vec::new();
        StereoDownmix::new().push(&x, 1, &mut mono);
        assert_eq!(mono, x);
    }
}
