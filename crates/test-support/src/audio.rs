//! Test audio as samples: real clips decoded by ffmpeg.

use std::path::Path;

/// Any audio file as 16 kHz mono f32 samples, decoded by ffmpeg.
pub fn decode_f32(path: &Path) -> Vec<f32> {
    assert!(path.is_file(), "missing test audio {}", path.display());
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-ar", "16000", "-ac", "1", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg must be installed for the tests (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
