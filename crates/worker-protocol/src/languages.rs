//! Whisper's language codes, shared by the element (checks its `language` property when it is
//! set) and the worker (checks them against the chosen model at start).
//!
//! The list is the one of openai-whisper's tokenizer (`LANGUAGES`): 99 languages for the
//! multilingual models up to large-v2, plus `yue` (Cantonese) added with large-v3. A model's own
//! `generation_config.json` (`lang_to_id`) says which of them it knows.

/// `(code, English name)` in Whisper's token order.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("mi", "maori"),
    ("ml", "malayalam"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("te", "telugu"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("az", "azerbaijani"),
    ("sl", "slovenian"),
    ("kn", "kannada"),
    ("et", "estonian"),
    ("mk", "macedonian"),
    ("br", "breton"),
    ("eu", "basque"),
    ("is", "icelandic"),
    ("hy", "armenian"),
    ("ne", "nepali"),
    ("mn", "mongolian"),
    ("bs", "bosnian"),
    ("kk", "kazakh"),
    ("sq", "albanian"),
    ("sw", "swahili"),
    ("gl", "galician"),
    ("mr", "marathi"),
    ("pa", "punjabi"),
    ("si", "sinhala"),
    ("km", "khmer"),
    ("sn", "shona"),
    ("yo", "yoruba"),
    ("so", "somali"),
    ("af", "afrikaans"),
    ("oc", "occitan"),
    ("ka", "georgian"),
    ("be", "belarusian"),
    ("tg", "tajik"),
    ("sd", "sindhi"),
    ("gu", "gujarati"),
    ("am", "amharic"),
    ("yi", "yiddish"),
    ("lo", "lao"),
    ("uz", "uzbek"),
    ("fo", "faroese"),
    ("ht", "haitian creole"),
    ("ps", "pashto"),
    ("tk", "turkmen"),
    ("nn", "nynorsk"),
    ("mt", "maltese"),
    ("sa", "sanskrit"),
    ("lb", "luxembourgish"),
    ("my", "myanmar"),
    ("bo", "tibetan"),
    ("tl", "tagalog"),
    ("mg", "malagasy"),
    ("as", "assamese"),
    ("tt", "tatar"),
    ("haw", "hawaiian"),
    ("ln", "lingala"),
    ("ha", "hausa"),
    ("ba", "bashkir"),
    ("jw", "javanese"),
    ("su", "sundanese"),
    ("yue", "cantonese"),
];

/// Other names openai-whisper accepts for a language.
const ALIASES: &[(&str, &str)] = &[
    ("burmese", "my"),
    ("valencian", "ca"),
    ("flemish", "nl"),
    ("haitian", "ht"),
    ("letzeburgesch", "lb"),
    ("pushto", "ps"),
    ("panjabi", "pa"),
    ("moldavian", "ro"),
    ("moldovan", "ro"),
    ("sinhalese", "si"),
    ("castilian", "es"),
    ("mandarin", "zh"),
];

/// The code for a language given as a code or an English name, any case (`de`, `German`,
/// `castilian`); `None` when Whisper does not know it.
pub fn code_of(language: &str) -> Option<&'static str> {
    let l = language.trim().to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(code, name)| *code == l || *name == l)
        .map(|(code, _)| *code)
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == l).map(|(_, c)| *c))
}

/// Whether a `language` setting means "detect it": empty or `auto`.
pub fn is_auto(language: &str) -> bool {
    let l = language.trim();
    l.is_empty() || l.eq_ignore_ascii_case("auto")
}

/// A `language` setting as the element keeps it: the code for a code or a name (`German` ->
/// `de`), unchanged when it asks for detection (`""`, `auto`); `Err` naming the valid choices.
pub fn parse_setting(language: &str) -> Result<String, String> {
    if is_auto(language) {
        return Ok(language.trim().to_string());
    }
    code_of(language)
        .map(str::to_string)
        .ok_or_else(|| unknown_language_message(language.trim()))
}

/// The error for a language Whisper does not know, with every valid choice.
pub fn unknown_language_message(language: &str) -> String {
    format!(
        "language '{language}' is not one Whisper knows; use one of: {}; or empty / auto to \
         detect it",
        valid_choices()
    )
}

/// `en (english), zh (chinese), ...`: every code with its name.
pub fn valid_choices() -> String {
    LANGUAGES
        .iter()
        .map(|(code, name)| format!("{code} ({name})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_whispers_hundred_codes_without_duplicates() {
        assert_eq!(LANGUAGES.len(), 100);
        let mut codes: Vec<&str> = LANGUAGES.iter().map(|(c, _)| *c).collect();
        assert_eq!(&codes[..3], ["en", "zh", "de"]);
        assert_eq!(codes[99], "yue");
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 100);
        let mut names: Vec<&str> = LANGUAGES.iter().map(|(_, n)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 100);
    }

    #[test]
    fn codes_names_and_aliases_resolve_in_any_case() {
        assert_eq!(code_of("de"), Some("de"));
        assert_eq!(code_of(" DE "), Some("de"));
        assert_eq!(code_of("German"), Some("de"));
        assert_eq!(code_of("castilian"), Some("es"));
        assert_eq!(code_of("haw"), Some("haw"));
        assert_eq!(code_of("xx"), None);
        assert_eq!(code_of("english-us"), None);
        assert_eq!(code_of(""), None);
    }

    #[test]
    fn settings_become_codes_or_are_refused() {
        assert_eq!(parse_setting("German").as_deref(), Ok("de"));
        assert_eq!(parse_setting(" fr").as_deref(), Ok("fr"));
        assert_eq!(parse_setting("").as_deref(), Ok(""));
        assert_eq!(parse_setting("auto").as_deref(), Ok("auto"));
        let e = parse_setting("xx").unwrap_err();
        assert!(e.contains("'xx'") && e.contains("en (english)"), "{e}");
    }

    #[test]
    fn auto_and_empty_mean_detection() {
        assert!(is_auto(""));
        assert!(is_auto(" AUTO "));
        assert!(!is_auto("en"));
    }

    #[test]
    fn the_unknown_language_message_lists_every_choice() {
        let m = unknown_language_message("xx");
        assert!(m.contains("'xx'"), "{m}");
        for (code, name) in LANGUAGES {
            assert!(
                m.contains(&format!("{code} ({name})")),
                "{code} missing: {m}"
            );
        }
        assert!(m.contains("auto"), "{m}");
    }
}
