//! Real scene files made with ffmpeg, like scenes cut from a digitised tape.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `ffmpeg` that overwrites its output and prints only errors; add the inputs and outputs.
pub fn ffmpeg() -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]);
    cmd
}

/// Runs [`ffmpeg`] with `args`; panics with its stderr on failure.
pub fn ffmpeg_ok(args: &[&str]) {
    let out = ffmpeg()
        .args(args)
        .output()
        .expect("ffmpeg must be installed for the tests (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A stereo copy of `audio` whose right channel is its left one inverted, as a tape digitised
/// with one channel's polarity reversed: summed to mono (audioconvert's mix) it is silence.
pub fn out_of_phase_stereo(audio: &Path, out: &Path) {
    ffmpeg_ok(&[
        "-i",
        audio.to_str().unwrap(),
        "-af",
        "aformat=channel_layouts=mono,pan=stereo|c0=c0|c1=-1*c0",
        out.to_str().unwrap(),
    ]);
}

/// A 2 s, 440 Hz tone at `rate` Hz (ffmpeg's sine, at 1/8 of full scale) made stereo out of
/// phase ([`out_of_phase_stereo`]): `<dir>/<name>.flac`, nothing else left in `dir`.
pub fn out_of_phase_tone(dir: &Path, name: &str, rate: u32) -> PathBuf {
    let tone = dir.join(format!("{name}.tone.wav"));
    let sine = format!("sine=frequency=440:sample_rate={rate}:duration=2");
    ffmpeg_ok(&["-f", "lavfi", "-i", &sine, tone.to_str().unwrap()]);
    let out = dir.join(format!("{name}.flac"));
    out_of_phase_stereo(&tone, &out);
    std::fs::remove_file(&tone).unwrap();
    out
}

/// Asserts that 16 kHz mono `samples` are [`out_of_phase_tone`]'s 2 s at the tone's level (mixed
/// from the channels' difference), not the silence their sum is.
pub fn assert_is_the_tone(samples: &[f32]) {
    let n = samples.len();
    assert!((31_900..=32_100).contains(&n), "{n} samples");
    // RMS of a sine at 1/8 of full scale: 0.125 / sqrt(2).
    let rms = (samples.iter().map(|v| v * v).sum::<f32>() / n as f32).sqrt();
    assert!((0.08..0.095).contains(&rms), "RMS {rms}");
}

/// Makes a real scene: `testsrc` video muxed with the audio of `audio` (any format ffmpeg reads).
pub fn make_scene(audio: &Path, out: &Path) {
    let status = ffmpeg()
        .args(["-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10")
        .arg("-i")
        .arg(audio)
        .args([
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
}

/// Concatenates clips (with a pause of `gap_s` after each) into one 16 kHz mono WAV.
pub fn concat_clips(clips: &[PathBuf], gap_s: f32, out: &Path) {
    let mut cmd = ffmpeg();
    for c in clips {
        cmd.arg("-i").arg(c);
    }
    let mut filter = String::new();
    for i in 0..clips.len() {
        filter.push_str(&format!(
            "[{i}:a]aresample=16000,aformat=channel_layouts=mono,apad=pad_dur={gap_s}[a{i}];"
        ));
    }
    for i in 0..clips.len() {
        filter.push_str(&format!("[a{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=0:a=1[out]", clips.len()));
    cmd.args([
        "-filter_complex",
        &filter,
        "-map",
        "[out]",
        "-ar",
        "16000",
        "-ac",
        "1",
    ])
    .arg(out);
    assert!(
        cmd.status().expect("ffmpeg runs").success(),
        "concat failed"
    );
}
