// SPDX-License-Identifier: MIT OR Apache-2.0
//! SRT and WebVTT cues from text buffers (times relative to the scene start, cues numbered from
//! 1 per scene; WebVTT files start with their `WEBVTT` header). The blocks themselves are the
//! `subtitle-cues` crate's writers, shared with the `arcwhisper-transcribe` CLI.

use subtitle_cues::{srt_block, vtt_block, Cue};

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

    /// One cue of this format from a text buffer's payload (its lines at `\n`, `\r\n` or `\r`,
    /// blank lines dropped so they cannot end the cue early); None for a cue with no visible
    /// text. WebVTT cues keep their number as the cue identifier, so both formats number alike.
    pub fn cue(self, number: u32, start_ns: u64, end_ns: u64, text: &str) -> Option<String> {
        let ns = |t: u64| t as f64 / 1e9;
        let cue = Cue::from_text(ns(start_ns), ns(end_ns), text);
        match self {
            Format::Srt => srt_block(number as usize, &cue),
            Format::Vtt => vtt_block(&cue).map(|block| format!("{number}\n{block}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt() {
        let f = Format::for_output(std::path::Path::new("/x/a b.VTT"));
        assert_eq!(f, Format::Vtt);
        assert_eq!(f.header(), "WEBVTT\n\n");
        assert_eq!(
            f.cue(1, 500_000_000, 2_000_000_000, "a, b").unwrap(),
            "1\n00:00:00.500 --> 00:00:02.000\na, b\n\n"
        );
        // Two lines stay two lines; markup characters are escaped.
        assert_eq!(
            f.cue(2, 0, 1_234_567_890, "Tom & Jerry\n<3 cats").unwrap(),
            "2\n00:00:00.000 --> 00:00:01.235\nTom &amp; Jerry\n&lt;3 cats\n\n"
        );
        assert_eq!(
            Format::for_output(std::path::Path::new("a.srt")),
            Format::Srt
        );
    }

    #[test]
    fn srt_cues() {
        let f = Format::Srt;
        assert_eq!(
            f.cue(1, 500_000_000, 2_000_000_000, " Hello\r\n\r\nwörld \n")
                .unwrap(),
            "1\n00:00:00,500 --> 00:00:02,000\n Hello\nwörld\n\n"
        );
        assert!(f.cue(2, 0, 1, " \n ").is_none());
        assert_eq!(
            f.cue(3, 5, 1, "x").unwrap(),
            "3\n00:00:00,000 --> 00:00:00,000\nx\n\n"
        );
        assert_eq!(
            f.cue(4, 3_723_004_000_000, 3_723_005_000_000, "a\nb")
                .unwrap(),
            "4\n01:02:03,004 --> 01:02:03,005\na\nb\n\n"
        );
    }
}
