//! Words for a segment that came without word times (a model without alignment heads, or a
//! window whose alignment failed): the segment's text is cut into words and its time shared out
//! in proportion to their length, so that the same shaping applies. Speech rate is roughly
//! constant per character, which makes this the least wrong guess without audio.
//!
//! Ideographic and kana characters (written without spaces) are words of their own, so that
//! such text can still be broken into lines (punctuation after them stays with them);
//! everything else splits at whitespace only.

use crate::{width, Word};

/// Words of `text`, spread evenly by characters over `start..end`.
pub(crate) fn words_from_text(start: f64, end: f64, text: &str) -> Vec<Word> {
    let pieces = pieces(text);
    let weight = |p: &str| width(p.trim_start()).max(1);
    let total: usize = pieces.iter().map(|p| weight(p)).sum();
    let span = if end > start { end - start } else { 0.0 };
    let mut done = 0usize;
    pieces
        .into_iter()
        .map(|text| {
            let w0 = done;
            done += weight(&text);
            Word {
                start: start + span * w0 as f64 / total as f64,
                end: start + span * done as f64 / total as f64,
                text,
            }
        })
        .collect()
}

/// Words with Whisper's convention: a leading space where a space separated them.
fn pieces(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for chunk in text.split_whitespace() {
        let mut current = String::from(" ");
        for c in chunk.chars() {
            // `current` is empty only right after an ideograph: punctuation closing it stays.
            if current.is_empty() && !c.is_alphanumeric() {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                    continue;
                }
            }
            if is_unspaced_script(c) && current.trim().chars().any(char::is_alphanumeric) {
                out.push(std::mem::take(&mut current));
            }
            current.push(c);
            if is_unspaced_script(c) {
                out.push(std::mem::take(&mut current));
            }
        }
        if !current.trim().is_empty() {
            out.push(current);
        }
    }
    out
}

/// Scripts written without spaces between words: CJK ideographs, hiragana, katakana.
fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_follows_characters() {
        let w = words_from_text(10.0, 13.0, " Hi there you");
        let texts: Vec<_> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, [" Hi", " there", " you"]);
        // 2 + 5 + 3 characters over 3 s.
        assert!((w[0].end - 10.6).abs() < 1e-9 && (w[1].end - 12.1).abs() < 1e-9);
        assert_eq!((w[0].start, w[2].end), (10.0, 13.0));
    }

    #[test]
    fn unspaced_scripts_split_per_character_punctuation_follows() {
        let w = words_from_text(0.0, 1.0, "今日は。OK");
        let texts: Vec<_> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, [" 今", "日", "は。", "OK"]);
        assert!(words_from_text(f64::NAN, 1.0, " a b").len() == 2);
        assert!(words_from_text(0.0, 1.0, "  ").is_empty());
    }
}
