//! Reading the SRT files the pipelines write.

/// One subtitle cue.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub index: u32,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// `00:00:07,540` in milliseconds.
fn parse_time(s: &str) -> u64 {
    let (hms, ms) = s.trim().split_once(',').expect("SRT time has a comma");
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().expect("number"));
    let (h, m, sec) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    ((h * 60 + m) * 60 + sec) * 1000 + ms.parse::<u64>().unwrap()
}

/// Parses an SRT strictly: numbering from 1 without gaps, `start --> end` with start <= end.
pub fn parse_srt(srt: &str) -> Vec<Cue> {
    let mut cues = Vec::new();
    for block in srt.replace("\r\n", "\n").split("\n\n") {
        let block = block.trim_matches('\n');
        if block.is_empty() {
            continue;
        }
        let mut lines = block.lines();
        let index: u32 = lines.next().unwrap().trim().parse().expect("cue number");
        let times = lines.next().expect("time line");
        let (a, b) = times.split_once("-->").expect("-->");
        let cue = Cue {
            index,
            start_ms: parse_time(a),
            end_ms: parse_time(b),
            text: lines.collect::<Vec<_>>().join("\n"),
        };
        assert!(
            cue.start_ms <= cue.end_ms,
            "cue ends before it starts: {cue:?} in\n{srt}"
        );
        cues.push(cue);
    }
    for (i, c) in cues.iter().enumerate() {
        assert_eq!(
            c.index as usize,
            i + 1,
            "cues numbered from 1 without gaps in\n{srt}"
        );
    }
    cues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_times_and_text() {
        let cues = parse_srt("1\r\n00:00:00,000 --> 00:00:01,500\r\nHello\r\n\r\n2\n01:02:03,004 --> 01:02:04,000\nthere\nyou\n");
        assert_eq!(cues.len(), 2);
        assert_eq!(
            (cues[0].start_ms, cues[0].end_ms, cues[0].text.as_str()),
            (0, 1500, "Hello")
        );
        assert_eq!(cues[1].start_ms, 3_723_004);
        assert_eq!(cues[1].text, "there\nyou");
    }

    #[test]
    #[should_panic(expected = "without gaps")]
    fn a_gap_in_the_numbering_fails() {
        parse_srt("1\n00:00:00,000 --> 00:00:01,000\na\n\n3\n00:00:01,000 --> 00:00:02,000\nb\n");
    }
}
