//! How good a place between two words is for ending a cue or a line.
//!
//! Subtitling guides agree on the order: end of a sentence, then clause punctuation, then before
//! a conjunction or preposition (the new phrase starts on the new line), and never right after
//! an article, possessive, preposition or conjunction (which would leave it dangling from the
//! phrase it belongs to). Pauses are handled by the splitter, which always ends a cue there.
//! The word lists are English; other languages still get the punctuation rules.

/// Kinds of break, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Break {
    Sentence,
    Clause,
    BeforeLinkWord,
    Plain,
    AfterFunctionWord,
}

impl Break {
    /// Cost of ending a cue here. A cue end separates more than a line break (the viewer
    /// reads the two parts at different moments), so a break without punctuation costs far more
    /// here than between lines: an extra cue at two commas beats one cue end mid-phrase.
    pub fn cue_cost(self) -> f64 {
        match self {
            Break::Sentence => 0.0,
            Break::Clause => 3.0,
            Break::BeforeLinkWord => 12.0,
            Break::Plain => 25.0,
            Break::AfterFunctionWord => 40.0,
        }
    }

    /// Cost of a line break here, in units of 5 characters of line imbalance: syntax first,
    /// shape second (Netflix: line breaks follow the phrase; the pyramid is only a preference).
    pub fn line_cost(self) -> f64 {
        match self {
            Break::Sentence => 0.0,
            Break::Clause => 1.0,
            Break::BeforeLinkWord => 4.0,
            Break::Plain => 8.0,
            Break::AfterFunctionWord => 14.0,
        }
    }
}

const SENTENCE_END: &[char] = &['.', '?', '!', '…', '。', '？', '！', '‼', '⁇', '؟', '।'];
const CLAUSE_END: &[char] = &[',', ';', ':', '—', '–', '-', '，', '、', '；', '：', '،'];
/// Closing marks that may follow the sentence or clause punctuation.
const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '}', '»'];
/// Short words ending in '.' that do not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "mt", "no", "approx", "e.g", "i.e",
];
/// Words a new phrase starts with: break before them.
const LINK_WORDS: &[&str] = &[
    "and", "but", "or", "nor", "so", "yet", "because", "although", "though", "while", "if", "when",
    "whereas", "unless", "until", "since", "that", "which", "who", "whom", "whose", "where",
    "what", "how", "why", "to", "of", "in", "on", "at", "for", "with", "from", "by", "about",
    "into", "than", "like", "after", "before", "as",
];
/// Modal verbs start the predicate: break before them, unless a pronoun subject would be left
/// alone ("the 15th century / may be" but not "we / may be").
const MODALS: &[&str] = &[
    "may", "might", "can", "could", "will", "would", "shall", "should", "must",
];
const PRONOUNS: &[&str] = &["i", "you", "he", "she", "it", "we", "they"];
/// Words that belong to what follows them: never break after them.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this", "these", "those",
    "to", "of", "in", "on", "at", "for", "with", "from", "by", "into", "and", "or", "but", "i",
    "very", "mr.", "mrs.", "ms.", "dr.",
];

/// The break between `left` and `right` (cleaned word texts).
pub(crate) fn classify(left: &str, right: &str) -> Break {
    let core = left.trim_end_matches(CLOSERS);
    let next = bare_lower(right);
    let starts_phrase = LINK_WORDS.contains(&next.as_str())
        || (MODALS.contains(&next.as_str()) && !PRONOUNS.contains(&bare_lower(left).as_str()));
    if ends_sentence(core) {
        Break::Sentence
    } else if core.ends_with(CLAUSE_END) {
        Break::Clause
    } else if FUNCTION_WORDS.contains(&left.to_lowercase().as_str()) {
        Break::AfterFunctionWord
    } else if starts_phrase {
        Break::BeforeLinkWord
    } else {
        Break::Plain
    }
}

fn ends_sentence(core: &str) -> bool {
    if !core.ends_with(SENTENCE_END) {
        return false;
    }
    // "Mr." or "U.S." or an initial "J." do not end a sentence; "..." and "?" do.
    let Some(stem) = core.strip_suffix('.') else {
        return true;
    };
    if stem.is_empty() || stem.ends_with('.') {
        return true;
    }
    let stem_lower = stem.to_lowercase();
    let is_initial = stem.chars().count() == 1 && stem.chars().all(char::is_uppercase);
    !(is_initial || stem.contains('.') || ABBREVIATIONS.contains(&stem_lower.as_str()))
}

/// Lower-case word without leading/trailing punctuation.
fn bare_lower(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify("country.", "And"), Break::Sentence);
        assert_eq!(classify("you?\"", "He"), Break::Sentence);
        assert_eq!(classify("wait...", "no"), Break::Sentence);
        assert_eq!(classify("Mr.", "Smith"), Break::AfterFunctionWord);
        assert_eq!(classify("U.S.", "army"), Break::Plain);
        assert_eq!(classify("J.", "Kennedy"), Break::Plain);
        assert_eq!(classify("Americans,", "ask"), Break::Clause);
        assert_eq!(classify("house", "and"), Break::BeforeLinkWord);
        assert_eq!(classify("the", "house"), Break::AfterFunctionWord);
        assert_eq!(classify("to", "the"), Break::AfterFunctionWord);
        assert_eq!(classify("went", "to"), Break::BeforeLinkWord);
        assert_eq!(classify("big", "house"), Break::Plain);
        assert_eq!(classify("century", "may"), Break::BeforeLinkWord);
        assert_eq!(classify("we", "may"), Break::Plain);
        assert_eq!(classify("好。", "我"), Break::Sentence);
    }
}
