//! Whisper's log-mel front end.
//!
//! Matches OpenAI Whisper / faster-whisper's `FeatureExtractor`: 16 kHz input, `n_fft` 400,
//! hop 160, periodic Hann window, centred STFT with reflect padding (the last frame dropped),
//! power spectrum, Slaney-normalised mel filter bank (librosa `mel(htk=False, norm="slaney")`,
//! 0-8000 Hz), `log10(max(x, 1e-10))`, floor at `max - 8`, `(x + 4) / 4`; a window whose speech
//! is far quieter than ordinary recordings is first made louder ([`quiet_lift`]).
//!
//! A window is 30 s: the audio from the window start (at most 480 000 samples) zero-padded to
//! 480 000 samples, 3000 frames. As in Whisper, frames past the end of the content are then set
//! to 0 (Whisper pads the *mel* segment with zeros to 3000 frames), so a short clip gives the
//! same encoder input as faster-whisper.

use rustfft::{num_complex::Complex32, Fft, FftPlanner};
use std::sync::Arc;

pub const SAMPLE_RATE: usize = 16_000;
pub const N_FFT: usize = 400;
pub const HOP: usize = 160;
pub const N_SAMPLES: usize = 480_000;
pub const N_FRAMES: usize = 3000;
const N_BINS: usize = N_FFT / 2 + 1;
/// The loudest log10 mel power of a window below which the window is lifted: ordinary speech
/// reaches 1.1-2.0 (the benchmark clips and home-video tracks at -20 dBFS); speech 20 dB
/// quieter reaches about -0.5.
const QUIET_WINDOW_MAX: f32 = 1.0;
/// The most a quiet window is lifted: 3 decades of power (30 dB).
const MAX_LIFT: f32 = 3.0;
/// Powers are kept down to 10^-13 before the lift so that a lifted window is exactly its audio
/// made louder (Whisper's clamp at 10^-10 applies after the lift).
const LOG_FLOOR_MARGIN: f32 = 1e-3;

/// How much to lift a window whose loudest log10 mel power is `loudest`: up to
/// [`QUIET_WINDOW_MAX`], never down, at most [`MAX_LIFT`]. Whisper's normalisation is relative
/// only in its floor (`max - 8`); its `(x + 4) / 4` is absolute, so quiet speech (a tape captured
/// at a low level, a distant voice) reaches the encoder shifted from what it was trained on: on
/// the home-video tracks scaled down 30 dB, lifting their windows took WER from 10.9 to 9.9 %
/// with speech detection's input brought up too (`vad_level.rs`). Windows of ordinary
/// recordings are left exactly as Whisper computes them.
fn quiet_lift(loudest: f32) -> f32 {
    (QUIET_WINDOW_MAX - loudest).clamp(0.0, MAX_LIFT)
}

/// Slaney mel scale (librosa, htk=False).
fn hz_to_mel(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// Mel filter bank `[n_mels][201]` as librosa `mel(sr=16000, n_fft=400, n_mels, fmin=0,
/// fmax=8000, htk=False, norm="slaney")`.
pub fn mel_filters(n_mels: usize) -> Vec<Vec<f32>> {
    let sr = SAMPLE_RATE as f64;
    let fftfreqs: Vec<f64> = (0..N_BINS).map(|i| i as f64 * sr / N_FFT as f64).collect();
    let min_mel = hz_to_mel(0.0);
    let max_mel = hz_to_mel(sr / 2.0);
    let freqs: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(min_mel + (max_mel - min_mel) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![vec![0f32; N_BINS]; n_mels];
    for (m, row) in out.iter_mut().enumerate() {
        let fdiff_lo = freqs[m + 1] - freqs[m];
        let fdiff_hi = freqs[m + 2] - freqs[m + 1];
        let enorm = 2.0 / (freqs[m + 2] - freqs[m]);
        for (k, w) in row.iter_mut().enumerate() {
            let lower = (fftfreqs[k] - freqs[m]) / fdiff_lo;
            let upper = (freqs[m + 2] - fftfreqs[k]) / fdiff_hi;
            let v = lower.min(upper).max(0.0);
            *w = (v * enorm) as f32;
        }
    }
    out
}

/// Reusable log-mel computer (FFT plan, window and filters are built once).
pub struct LogMel {
    n_mels: usize,
    /// Per filter: first non-zero bin and the weights from there.
    filters: Vec<(usize, Vec<f32>)>,
    window: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl LogMel {
    pub fn new(n_mels: usize) -> Self {
        let filters = mel_filters(n_mels)
            .into_iter()
            .map(|row| {
                let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w != 0.0).unwrap_or(0);
                (first, row[first..=last.max(first)].to_vec())
            })
            .collect();
        // Periodic Hann window (numpy hanning(401)[:-1]).
        let window = (0..N_FFT)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let fft = FftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            n_mels,
            filters,
            window,
            fft,
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Log-mel of one 30 s window, `[n_mels, 3000]` row-major, ready for the encoder.
    /// `audio` is the audio from the window start; only its first 480 000 samples are used.
    pub fn window(&self, audio: &[f32]) -> Vec<f32> {
        let content = audio.len().min(N_SAMPLES);
        let content_frames = content / HOP;
        let mut out = self.log_mel(&audio[..content], N_SAMPLES, N_FRAMES);
        for row in out.chunks_mut(N_FRAMES) {
            for v in &mut row[content_frames.min(N_FRAMES)..] {
                *v = 0.0;
            }
        }
        out
    }

    /// Log-mel of `audio` zero-padded to `padded_len` samples; returns `[n_mels, n_frames]`
    /// (frames counted from the start; the normalisation max is over these frames).
    pub fn log_mel(&self, audio: &[f32], padded_len: usize, n_frames: usize) -> Vec<f32> {
        let len = padded_len.max(audio.len());
        let pad = N_FFT / 2;
        // Reflect padding (numpy "reflect": the edge sample is not repeated).
        let sample = |i: isize| -> f32 {
            let n = len as isize;
            let mut j = i;
            if j < 0 {
                j = -j;
            }
            if j >= n {
                j = 2 * (n - 1) - j;
            }
            let j = j.clamp(0, n - 1) as usize;
            if j < audio.len() {
                audio[j]
            } else {
                0.0
            }
        };
        let total_frames = 1 + (len + 2 * pad - N_FFT) / HOP;
        let n_frames = n_frames.min(total_frames.saturating_sub(1));
        let mut power = vec![0f32; N_BINS];
        let mut buf = vec![Complex32::new(0.0, 0.0); N_FFT];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut mel = vec![0f32; self.n_mels * n_frames];
        for f in 0..n_frames {
            let start = (f * HOP) as isize - pad as isize;
            for (k, c) in buf.iter_mut().enumerate() {
                *c = Complex32::new(sample(start + k as isize) * self.window[k], 0.0);
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            for (p, c) in power.iter_mut().zip(&buf[..N_BINS]) {
                *p = c.re * c.re + c.im * c.im;
            }
            for (m, (first, w)) in self.filters.iter().enumerate() {
                let s: f32 = w
                    .iter()
                    .zip(&power[*first..*first + w.len()])
                    .map(|(a, b)| a * b)
                    .sum();
                mel[m * n_frames + f] = s.max(1e-10 * LOG_FLOOR_MARGIN).log10();
            }
        }
        let loudest = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lift = quiet_lift(loudest);
        let max = (loudest + lift).max(-10.0);
        let floor = max - 8.0;
        for v in &mut mel {
            *v = ((*v + lift).max(-10.0).max(floor) + 4.0) / 4.0;
        }
        mel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_slaney_normalised() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80);
        assert_eq!(f[0].len(), 201);
        // First filter peaks at bin 1 (25 Hz); Slaney norm makes the area ~ 1 per Hz-width.
        assert!(f[0][1] > 0.0);
        assert_eq!(f[0][0], 0.0);
        let f128 = mel_filters(128);
        assert_eq!(f128.len(), 128);
    }

    /// The fixture's signal (see tests/fixtures/gen_mel_fixture.py).
    fn fixture_signal(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                if i < 1600 {
                    return 0.0;
                }
                let t = i as f64 / 16000.0;
                let noise = ((i as u64 * 1103515245 + 12345) % 2147483648) as f64 / 2147483648.0
                    * 2.0
                    - 1.0;
                let amp = if i < 8000 { 1.0 } else { 0.3 };
                let pi = std::f64::consts::PI;
                (amp * (0.4 * (2.0 * pi * 440.0 * t).sin()
                    + 0.2 * (2.0 * pi * (300.0 + 800.0 * t) * t).sin()
                    + 0.05 * noise)) as f32
            })
            .collect()
    }

    #[test]
    fn matches_faster_whisper_feature_extractor() {
        let fx: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/mel_ref.json")).unwrap();
        let n = fx["n_samples"].as_u64().unwrap() as usize;
        let frames: Vec<usize> = fx["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let audio = fixture_signal(n);
        for n_mels in [80usize, 128] {
            let lm = LogMel::new(n_mels);
            let out = lm.window(&audio);
            let reference = fx["mels"][n_mels.to_string()].as_array().unwrap();
            let mut worst = 0f32;
            for (m, row) in reference.iter().enumerate() {
                for (k, v) in row.as_array().unwrap().iter().enumerate() {
                    let want = v.as_f64().unwrap() as f32;
                    let got = out[m * N_FRAMES + frames[k]];
                    worst = worst.max((want - got).abs());
                }
            }
            assert!(worst < 2e-3, "n_mels={n_mels}: max abs diff {worst}");
            // Past the content (n / 160 frames): zeros, as Whisper's pad_or_trim.
            assert_eq!(out[n / HOP], 0.0);
        }
    }

    /// A 440 Hz tone of amplitude `amp`, one second.
    fn tone(amp: f32) -> Vec<f32> {
        (0..16000)
            .map(|i| amp * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin())
            .collect()
    }

    fn loudest(window: &[f32]) -> f32 {
        window.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    #[test]
    fn ordinary_levels_are_not_lifted() {
        // A tone of amplitude 0.3 reaches a log10 mel power of 1.3: it and one twice as loud
        // keep their difference (2 log10 2 in power, a quarter of it after normalisation).
        let lm = LogMel::new(80);
        let (loud, louder) = (lm.window(&tone(0.3)), lm.window(&tone(0.6)));
        let shift = 2.0 * 2f32.log10() / 4.0;
        assert!((louder[0] - loud[0] - shift).abs() < 1e-4);
        assert!((loudest(&louder) - loudest(&loud) - shift).abs() < 1e-4);
    }

    #[test]
    fn quiet_windows_are_lifted_to_one_level() {
        // Amplitudes 0.02 and 0.01 (-37 and -43 dBFS RMS) are lifted to the same loudest power,
        // so the encoder sees the same input.
        let lm = LogMel::new(80);
        let (a, b) = (lm.window(&tone(0.02)), lm.window(&tone(0.01)));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{worst}");
        assert!((loudest(&a) - (QUIET_WINDOW_MAX + 4.0) / 4.0).abs() < 1e-5);
    }

    #[test]
    fn the_lift_is_capped() {
        // Both lifted by MAX_LIFT only: they stay 2 decades of power apart (the mel before
        // `window` zeroes the frames past the content).
        let lm = LogMel::new(80);
        let mel = |amp| lm.log_mel(&tone(amp), N_SAMPLES, N_FRAMES);
        let (faint, fainter) = (mel(1e-6), mel(1e-7));
        assert!((loudest(&faint) - loudest(&fainter) - 0.5).abs() < 1e-4);
        assert!(loudest(&faint) < (QUIET_WINDOW_MAX + 4.0) / 4.0);
    }

    #[test]
    fn silence_is_flat() {
        let lm = LogMel::new(80);
        let out = lm.window(&vec![0.0; 16000]);
        assert_eq!(out.len(), 80 * 3000);
        // log10(1e-10) = -10, floor = -18 -> max is -10 -> (-10+4)/4 = -1.5 over content.
        assert!((out[0] + 1.5).abs() < 1e-6);
        // Past the content: zeros.
        assert_eq!(out[2999], 0.0);
        assert_eq!(out[100], 0.0);
        assert!((out[99] + 1.5).abs() < 1e-6);
    }
}
