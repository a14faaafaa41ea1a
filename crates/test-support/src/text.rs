//! Comparing transcripts: normalised words and the word error rate.

/// Lower-case words without punctuation (apostrophes kept), one space between.
pub fn words(text: &str) -> String {
    word_list(text).join(" ")
}

/// The words of [`words`], one item each.
pub fn word_list(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Word error rate of `hypothesis` against `reference` (edit distance over words).
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (word_list(reference), word_list(hypothesis));
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let sub = prev + usize::from(rw != hw);
            prev = row[j + 1];
            row[j + 1] = sub.min(row[j] + 1).min(prev + 1);
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_drop_case_and_punctuation() {
        assert_eq!(
            words("And so, my  fellow-Americans!"),
            "and so my fellow americans"
        );
        assert_eq!(words("don't"), "don't");
    }

    #[test]
    fn wer_counts_edits_over_reference_words() {
        assert_eq!(wer("a b c d", "a b c d"), 0.0);
        assert_eq!(wer("a b c d", "a x c"), 0.5);
        assert_eq!(wer("", "a"), 1.0);
    }
}
