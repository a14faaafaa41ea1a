//! Segments -> the output file. The one place that formats results: SRT and WebVTT are the
//! `subtitle-cues` crate's shaped cues (the same the `arcwhisper` element pushes), JSON the raw
//! segments with their words, text the segments' text.

use anyhow::{Context, Result};
use clap::ValueEnum;
use std::io::Write;
use std::path::Path;
use subtitle_cues::CueOptions;
use whisper_engine::Segment;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Srt,
    Vtt,
    Txt,
    Json,
}

impl Format {
    /// The format an output name asks for (`clip.json` -> Json), if its extension is one of ours.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Format::from_str(&ext, true).ok()
    }
}

/// What subtitle cues are shaped with.
pub struct Subtitles {
    /// Length of the audio: no cue runs past it.
    pub audio_seconds: f64,
    pub cues: CueOptions,
}

/// The whole output text. JSON is the engine's segments as serde writes them, so every field the
/// engine adds to `Segment` (e.g. word timestamps) appears without a change here.
pub fn render(
    segments: &[Segment],
    format: Format,
    language: Option<&str>,
    subtitles: &Subtitles,
) -> Result<String> {
    Ok(match format {
        Format::Srt => subtitle_cues::write_srt(&cues(segments, subtitles)),
        Format::Vtt => subtitle_cues::write_vtt(&cues(segments, subtitles)),
        Format::Txt => txt(segments),
        Format::Json => {
            let v = serde_json::json!({ "language": language, "segments": segments });
            serde_json::to_string_pretty(&v).context("serialising the segments")? + "\n"
        }
    })
}

/// Cues from the segments' words (or their text where a segment has none).
fn cues(segments: &[Segment], subtitles: &Subtitles) -> Vec<subtitle_cues::Cue> {
    let segments: Vec<subtitle_cues::Segment> = segments
        .iter()
        .map(|s| subtitle_cues::Segment {
            start: s.start,
            end: s.end,
            text: s.text.clone(),
            words: s
                .words
                .iter()
                .map(|w| subtitle_cues::Word {
                    start: w.start,
                    end: w.end,
                    text: w.word.clone(),
                })
                .collect(),
        })
        .collect();
    subtitle_cues::cues_from_segments(&segments, subtitles.audio_seconds, &subtitles.cues)
}

fn txt(segments: &[Segment]) -> String {
    let mut s = segments
        .iter()
        .map(|x| x.text.trim())
        .collect::<Vec<_>>()
        .join("\n");
    s.push('\n');
    s
}

/// Write to `dest` atomically (a temporary file beside it, synced, renamed: an interrupted run
/// never leaves a half-written file that looks finished), or to stdout.
pub fn write(dest: Option<&Path>, text: &str) -> Result<()> {
    let Some(dest) = dest else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .context("writing to stdout")?;
        return Ok(());
    };
    let name = dest
        .file_name()
        .context("the output path has no file name")?;
    let tmp = dest.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", dest.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    // Segments are checked on real runs (tests/cli.rs): a hand-made `Segment` here would break
    // each time the engine adds a field.
    use super::*;

    #[test]
    fn format_follows_the_output_extension() {
        assert_eq!(
            Format::from_extension(Path::new("a/clip.JSON")),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_extension(Path::new("clip.txt")),
            Some(Format::Txt)
        );
        assert_eq!(
            Format::from_extension(Path::new("clip.VTT")),
            Some(Format::Vtt)
        );
        assert_eq!(Format::from_extension(Path::new("clip.ass")), None);
        assert_eq!(Format::from_extension(Path::new("clip")), None);
    }
}
