// SPDX-License-Identifier: MIT OR Apache-2.0
//! SRT and WebVTT cue formatting (times relative to the scene start, cues numbered from 1 per
//! scene; WebVTT files start with their `WEBVTT` header).

/// The subtitle format of an output file, from its extension (`vtt` is WebVTT, anything else SRT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Srt,
    Vtt,
}

impl Format {
    pub fn for_output(path: &std::path::Path) -> Format {
        let vtt = path
            .extension()
            .map(|e| e.eq_ignore_ascii_case("vtt"))
            .unwrap_or(false);
        if vtt {
            Format::Vtt
        } else {
            Format::Srt
        }
    }

    /// What the file starts with.
    pub fn header(self) -> &'static str {
        match self {
            Format::Srt => "",
            Format::Vtt => "WEBVTT\n\n",
        }
    }

    /// One cue of this format; None for a cue with no visible text.
    pub fn cue(self, number: u32, start_ns: u64, end_ns: u64, text: &str) -> Option<String> {
        let cue = format_cue(number, start_ns, end_ns, text)?;
        Some(match self {
            Format::Srt => cue,
            // `N\nHH:MM:SS,mmm --> HH:MM:SS,mmm\n...`: WebVTT writes the milliseconds after a dot.
            Format::Vtt => {
                let (num, rest) = cue.split_once('\n')?;
                let (times, body) = rest.split_once('\n')?;
                format!("{num}\n{}\n{body}", times.replace(',', "."))
            }
        })
    }
}

/// `HH:MM:SS,mmm` for a time in nanoseconds (rounded to the millisecond).
pub fn srt_time(ns: u64) -> String {
    let ms = (ns + 500_000) / 1_000_000;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// One cue: number, time line, text (line endings normalised to `\n`, trailing blank lines
/// dropped, blank lines inside replaced so they cannot end the cue early), then a blank line.
/// Returns None for a cue with no visible text.
pub fn format_cue(number: u32, start_ns: u64, end_ns: u64, text: &str) -> Option<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let end_ns = end_ns.max(start_ns);
    Some(format!(
        "{number}\n{} --> {}\n{}\n\n",
        srt_time(start_ns),
        srt_time(end_ns),
        lines.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(srt_time(0), "00:00:00,000");
        assert_eq!(srt_time(1_234_567_890), "00:00:01,235");
        assert_eq!(srt_time(3_723_004_000_000), "01:02:03,004");
    }

    #[test]
    fn vtt() {
        let f = Format::for_output(std::path::Path::new("/x/a b.VTT"));
        assert_eq!(f, Format::Vtt);
        assert_eq!(f.header(), "WEBVTT\n\n");
        assert_eq!(
            f.cue(1, 500_000_000, 2_000_000_000, "a, b").unwrap(),
            "1\n00:00:00.500 --> 00:00:02.000\na, b\n\n"
        );
        assert_eq!(
            Format::for_output(std::path::Path::new("a.srt")),
            Format::Srt
        );
    }

    #[test]
    fn cues() {
        assert_eq!(
            format_cue(1, 500_000_000, 2_000_000_000, " Hello\r\n\r\nwörld \n").unwrap(),
            "1\n00:00:00,500 --> 00:00:02,000\n Hello\nwörld\n\n"
        );
        assert!(format_cue(2, 0, 1, " \n ").is_none());
        assert_eq!(
            format_cue(3, 5, 1, "x").unwrap(),
            "3\n00:00:00,000 --> 00:00:00,000\nx\n\n"
        );
    }
}
