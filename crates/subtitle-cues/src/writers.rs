//! SRT and WebVTT text for cues.
//!
//! Times are rounded to the nearest millisecond, each cue's end never before its start after
//! rounding (rounding is monotonic, so ordered cues stay ordered). Lines are written one per
//! text line; blank lines are dropped (in both formats a blank line ends the cue) and a cue with
//! no text left is skipped, so SRT numbers stay consecutive from 1. WebVTT escapes `&`, `<` and
//! `>` (its payload is markup, and `-->` may not appear in it); SRT has no escaping.

use crate::Cue;

/// Milliseconds: rounded to the nanosecond (GStreamer's clock unit) first, then to the
/// millisecond half up, so a time that came from a buffer PTS (`ns / 1e9`) formats exactly as
/// the integer PTS does in `sceneckptsink`. Negative or NaN is 0.
fn millis(seconds: f64) -> u64 {
    let ns = (seconds.max(0.0) * 1e9).round() as u64; // `as` saturates
    ns.saturating_add(500_000) / 1_000_000
}

fn clock(ms: u64, separator: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// `HH:MM:SS,mmm` (SRT).
pub fn srt_time(seconds: f64) -> String {
    clock(millis(seconds), ',')
}

/// `HH:MM:SS.mmm` (WebVTT).
pub fn vtt_time(seconds: f64) -> String {
    clock(millis(seconds), '.')
}

/// Visible lines of a cue: embedded line breaks split, trailing space trimmed, blanks dropped.
fn visible_lines(cue: &Cue) -> Vec<&str> {
    cue.lines
        .iter()
        .flat_map(|l| l.lines())
        .flat_map(|l| l.split('\r'))
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Start and end in ms, end not before start.
fn span(cue: &Cue) -> (u64, u64) {
    let start = millis(cue.start);
    (start, millis(cue.end).max(start))
}

/// One SRT block (`number`, times, text, blank line), or `None` for a cue without text.
pub fn srt_block(number: usize, cue: &Cue) -> Option<String> {
    let lines = visible_lines(cue);
    if lines.is_empty() {
        return None;
    }
    let (start, end) = span(cue);
    Some(format!(
        "{number}\n{} --> {}\n{}\n\n",
        clock(start, ','),
        clock(end, ','),
        lines.join("\n")
    ))
}

/// One WebVTT cue block (times, escaped text, blank line), or `None` for a cue without text.
pub fn vtt_block(cue: &Cue) -> Option<String> {
    let lines = visible_lines(cue);
    if lines.is_empty() {
        return None;
    }
    let (start, end) = span(cue);
    let text: Vec<String> = lines.iter().map(|l| escape_vtt(l)).collect();
    Some(format!(
        "{} --> {}\n{}\n\n",
        clock(start, '.'),
        clock(end, '.'),
        text.join("\n")
    ))
}

fn escape_vtt(line: &str) -> String {
    line.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A whole SRT file, numbered from 1.
pub fn write_srt(cues: &[Cue]) -> String {
    let mut written = 0;
    cues.iter()
        .filter_map(|c| {
            let block = srt_block(written + 1, c)?;
            written += 1;
            Some(block)
        })
        .collect()
}

/// A whole WebVTT file.
pub fn write_vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    out.extend(cues.iter().filter_map(vtt_block));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: f64, end: f64, lines: &[&str]) -> Cue {
        Cue {
            start,
            end,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn times_round_to_the_millisecond() {
        assert_eq!(srt_time(0.0), "00:00:00,000");
        assert_eq!(srt_time(1.2345678), "00:00:01,235");
        assert_eq!(srt_time(3723.004), "01:02:03,004");
        assert_eq!(srt_time(59.9996), "00:01:00,000");
        assert_eq!(vtt_time(360_000.5), "100:00:00.500");
        assert_eq!(srt_time(-1.0), "00:00:00,000");
        assert_eq!(srt_time(f64::NAN), "00:00:00,000");
        assert_eq!(srt_time(f64::INFINITY), srt_time(u64::MAX as f64));
    }

    #[test]
    fn times_from_nanosecond_pts_round_like_integers() {
        // Half-millisecond PTS values, where a float product could land either side.
        // (504.5 ms as 0.5045 s times 1000 is 504.4999..: naive rounding gives 504.)
        for ns in [
            504_500_000u64,
            2_023_500_000,
            4_053_500_000,
            2_000_499_999,
            86_399_999_500_000,
        ] {
            let ms = (ns + 500_000) / 1_000_000;
            assert_eq!(millis(ns as f64 / 1e9), ms, "{ns}");
        }
    }

    #[test]
    fn srt_numbers_from_one_skips_empty_and_keeps_end_after_start() {
        let cues = [
            cue(0.5, 2.0, &["And so my fellow Americans,"]),
            cue(3.0, 4.0, &["", " "]),
            cue(5.0004, 5.0001, &["ask not", "what your country"]),
        ];
        assert_eq!(
            write_srt(&cues),
            "1\n00:00:00,500 --> 00:00:02,000\nAnd so my fellow Americans,\n\n\
             2\n00:00:05,000 --> 00:00:05,000\nask not\nwhat your country\n\n"
        );
    }

    #[test]
    fn vtt_has_header_and_escapes_markup() {
        let cues = [
            cue(61.25, 62.5, &["Tom & Jerry <3", "a --> b"]),
            cue(70.0, 71.0, &[]),
        ];
        assert_eq!(
            write_vtt(&cues),
            "WEBVTT\n\n00:01:01.250 --> 00:01:02.500\nTom &amp; Jerry &lt;3\na --&gt; b\n\n"
        );
        assert_eq!(write_vtt(&[]), "WEBVTT\n\n");
    }

    #[test]
    fn embedded_blank_lines_cannot_end_a_cue_early() {
        let c = cue(1.0, 2.0, &["one\n\ntwo\r\n"]);
        assert_eq!(
            srt_block(7, &c).unwrap(),
            "7\n00:00:01,000 --> 00:00:02,000\none\ntwo\n\n"
        );
    }
}
