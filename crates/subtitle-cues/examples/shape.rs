//! Shapes cues from a JSON transcript on stdin and prints SRT (or WebVTT with `--vtt`), to look
//! at cues by hand:
//!
//! ```sh
//! cargo run -p subtitle-cues --example shape -- [--vtt] < transcript.json
//! ```
//!
//! Input: `{"audio_end": 11.0, "segments": [{"start": 0.0, "end": 8.06, "text": " And so",
//! "words": [{"start": 0.0, "end": 0.76, "text": " And"}, ...]}, ...]}` (`words` optional).

use serde::Deserialize;
use std::io::Read;
use subtitle_cues::{cues_from_segments, write_srt, write_vtt, CueOptions, Segment};

#[derive(Deserialize)]
struct Transcript {
    audio_end: f64,
    segments: Vec<Segment>,
    #[serde(default)]
    options: CueOptions,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let t: Transcript = serde_json::from_str(&input)
        .map_err(|e| format!("stdin is not a transcript ({e}); see the example's doc comment"))?;
    let started = std::time::Instant::now();
    let cues = cues_from_segments(&t.segments, t.audio_end, &t.options);
    eprintln!("{} cues in {:?}", cues.len(), started.elapsed());
    let vtt = std::env::args().any(|a| a == "--vtt");
    print!(
        "{}",
        if vtt {
            write_vtt(&cues)
        } else {
            write_srt(&cues)
        }
    );
    Ok(())
}
