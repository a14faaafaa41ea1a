//! Text already emitted is not emitted again.
//!
//! Each window is conditioned on the text before it (its prompt). When the window holds no
//! speech Whisper can follow (music, a door, clatter that the speech detector let through),
//! Whisper tends to write the prompt's last sentence again: seen on home-video soundtracks as
//! a whole sentence repeated two seconds after it was said. Such a copy is recognised by its
//! words: a window's first segment whose words are exactly the last words of its prompt.

/// Shorter copies are kept: people do say "no, no" or "five, five" twice in a row.
const MIN_COPIED_WORDS: usize = 3;

/// Lower-case words without punctuation, as a viewer compares two lines.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// How many of a window's first segments copy the prompt's end (they are dropped): the
/// longest run of first segments whose words, together, are the prompt's last words (a copy
/// of the last two sentences comes as two segments).
pub(crate) fn leading_copies<'a>(
    prompt_text: &str,
    segment_texts: impl IntoIterator<Item = &'a str>,
) -> usize {
    let prompt = words(prompt_text);
    let mut run: Vec<String> = Vec::new();
    let mut copies = 0;
    for (i, text) in segment_texts.into_iter().enumerate() {
        run.extend(words(text));
        if run.len() > prompt.len() {
            break;
        }
        if run.len() >= MIN_COPIED_WORDS && prompt.ends_with(&run) {
            copies = i + 1;
        }
    }
    copies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copies_prompt(prompt: &str, text: &str) -> bool {
        leading_copies(prompt, [text]) == 1
    }

    const PROMPT: &str = " And so, my fellow Americans, ask not what your country can do for you, \
                          ask what you can do for your country.";

    #[test]
    fn a_sentence_written_again_after_its_prompt_is_a_copy() {
        assert!(copies_prompt(
            PROMPT,
            " ask what you can do for your country!"
        ));
        assert!(copies_prompt(
            PROMPT,
            "Ask what you can do for your Country"
        ));
    }

    #[test]
    fn new_text_and_short_repeats_are_not_copies() {
        assert!(!copies_prompt(PROMPT, " Then in the same operations."));
        // Words that occur in the prompt but not at its end.
        assert!(!copies_prompt(PROMPT, " ask not what your country can do"));
        // Two words: people repeat those.
        assert!(!copies_prompt(PROMPT, " your country."));
        assert!(!copies_prompt("", " your country can do"));
    }

    #[test]
    fn a_copy_of_the_last_two_sentences_is_two_leading_copies() {
        let texts = [
            " And so my fellow Americans, ask not what your country can do for you,",
            " ask what you can do for your country.",
            " Then in the same operations.",
        ];
        assert_eq!(leading_copies(PROMPT, texts), 2);
        assert_eq!(leading_copies(PROMPT, [texts[1], texts[2]]), 1);
        assert_eq!(leading_copies(PROMPT, [texts[2], texts[1]]), 0);
        assert_eq!(leading_copies("", texts), 0);
    }
}
