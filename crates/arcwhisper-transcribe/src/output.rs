//! Segments -> the output file. The one place that formats results: SRT/WebVTT shaping will come
//! from the `subtitle-cues` crate, which replaces `render`'s SRT arm and nothing else.

use anyhow::{Context, Result};
use clap::ValueEnum;
use std::io::Write;
use std::path::Path;
use whisper_engine::Segment;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Srt,
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

/// The whole output text. JSON is the engine's segments as serde writes them, so every field the
/// engine adds to `Segment` (e.g. word timestamps) appears without a change here.
pub fn render(segments: &[Segment], format: Format, language: Option<&str>) -> Result<String> {
    Ok(match format {
        Format::Srt => srt(segments),
        Format::Txt => txt(segments),
        Format::Json => {
            let v = serde_json::json!({ "language": language, "segments": segments });
            serde_json::to_string_pretty(&v).context("serialising the segments")? + "\n"
        }
    })
}

fn srt(segments: &[Segment]) -> String {
    let mut s = String::new();
    for (i, seg) in segments.iter().enumerate() {
        s.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            srt_time(seg.start),
            srt_time(seg.end),
            seg.text.trim()
        ));
    }
    s
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

fn srt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
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
    fn srt_times_are_hours_minutes_seconds_millis() {
        assert_eq!(srt_time(0.0), "00:00:00,000");
        assert_eq!(srt_time(3661.2504), "01:01:01,250");
        assert_eq!(srt_time(-0.5), "00:00:00,000");
    }

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
        assert_eq!(Format::from_extension(Path::new("clip.vtt")), None);
        assert_eq!(Format::from_extension(Path::new("clip")), None);
    }
}
