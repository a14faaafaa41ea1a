//! Home-video-like soundtracks: speech clips over seeded brown noise (room rumble).

use super::{decode_audio, speech_dir, white_noise};

const SR: f64 = 16_000.0;

/// Seeded brown noise (leaky integral of white noise) at `dbfs` RMS.
pub fn brown_noise(n: usize, dbfs: f64, seed: u64) -> Vec<f32> {
    let white = white_noise(n, 1.0, seed);
    let mut y = 0f32;
    let mut out: Vec<f32> = white
        .iter()
        .map(|&w| {
            y = 0.995 * y + w;
            y
        })
        .collect();
    let rms = (out.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / n as f64).sqrt();
    let gain = (10f64.powf(dbfs / 20.0) / rms) as f32;
    out.iter_mut().for_each(|x| *x *= gain);
    out
}

/// The shared clips `names` laid over brown noise, each after the gap before it (seconds); the
/// last gap is the tail. Returns the audio and each clip's interval (seconds).
pub fn soundtrack(names: &[&str], gaps: &[f64], noise_dbfs: f64) -> (Vec<f32>, Vec<(f64, f64)>) {
    let clips: Vec<Vec<f32>> = names
        .iter()
        .map(|n| decode_audio(&speech_dir().join(n)))
        .collect();
    lay_over_noise(&clips, gaps, noise_dbfs)
}

/// `clips` laid over brown noise, each after the gap before it (seconds); the last gap is the
/// tail. Returns the audio and each clip's interval (seconds).
pub fn lay_over_noise(
    clips: &[Vec<f32>],
    gaps: &[f64],
    noise_dbfs: f64,
) -> (Vec<f32>, Vec<(f64, f64)>) {
    let total: usize = clips.iter().map(Vec::len).sum::<usize>()
        + gaps.iter().map(|g| (g * SR) as usize).sum::<usize>();
    let mut audio = brown_noise(total, noise_dbfs, 7);
    let mut at = 0usize;
    let mut spans = Vec::new();
    for (clip, gap) in clips.iter().zip(gaps) {
        at += (gap * SR) as usize;
        for (i, &s) in clip.iter().enumerate() {
            audio[at + i] += s;
        }
        spans.push((at as f64 / SR, (at + clip.len()) as f64 / SR));
        at += clip.len();
    }
    (audio, spans)
}
