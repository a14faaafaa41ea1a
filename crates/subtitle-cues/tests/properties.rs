//! Property tests: the limits hold for any plausible speech, and nothing breaks on any input.

use proptest::prelude::*;
use subtitle_cues::{
    cues_from_segments, cues_from_words, write_srt, write_vtt, Cue, CueOptions, CueShaper, Segment,
    Word,
};
use unicode_segmentation::UnicodeSegmentation;

const VOCABULARY: &[&str] = &[
    " the",
    " a",
    " and",
    " so",
    " we",
    " went",
    " home",
    " yesterday,",
    " really?",
    " Yes.",
    " to",
    " of",
    " I",
    " know",
    " it's",
    " Mr.",
    " U.S.",
    " country.",
    " you!",
    " wait...",
    " \"Hello",
    " there,\"",
    " ¿Qué",
    " pasa?",
    "-substantial",
    " café",
    " e\u{301}te\u{301}",
    "今日",
    "は",
    "。",
    " ,",
    " .",
    " \"",
    "  ",
    "",
    " Supercalifragilisticexpialidociousness",
    " antidisestablishmentarianism-and-then-some-more",
    " 42",
    " 3.14,",
];

/// Speech as Whisper times it: words of 0.2-1.5 s, pauses of 0-3 s (mostly none), the audio
/// running on 0-5 s after the last word.
fn plausible() -> impl Strategy<Value = (Vec<Word>, f64)> {
    let word = (
        prop_oneof![6 => Just(0.0), 2 => 0.0..0.6f64, 1 => 0.0..3.0f64],
        0.2..1.5f64,
        0..VOCABULARY.len(),
    );
    (
        prop::collection::vec(word, 0..120),
        0.0..5.0f64,
        0.0..2.0f64,
    )
        .prop_map(|(specs, tail, lead)| {
            let mut t = lead;
            let words = specs
                .into_iter()
                .map(|(gap, dur, k)| {
                    let start = t + gap;
                    t = start + dur;
                    Word {
                        start,
                        end: t,
                        text: VOCABULARY[k].into(),
                    }
                })
                .collect();
            (words, t + tail)
        })
}

fn options() -> impl Strategy<Value = CueOptions> {
    (
        10usize..60,
        1usize..4,
        2.0..10.0f64,
        10.0..25.0f64,
        0.0..0.5f64,
    )
        .prop_map(|(len, lines, dur, cps, hold)| CueOptions {
            max_line_length: len,
            max_lines: lines,
            max_cue_duration: dur,
            min_reading_cps: cps,
            hold,
            ..CueOptions::default()
        })
}

fn width(s: &str) -> usize {
    s.graphemes(true).count()
}

fn alnum(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect()
}

fn words_alnum(words: &[Word]) -> String {
    words.iter().map(|w| alnum(&w.text)).collect()
}

fn cues_alnum(cues: &[Cue]) -> String {
    cues.iter()
        .flat_map(|c| &c.lines)
        .map(|l| alnum(l))
        .collect()
}

/// Checks every limit.
fn check_limits(words: &[Word], audio_end: f64, o: &CueOptions, cues: &[Cue]) {
    let o = o.normalized();
    for c in cues {
        assert!(!c.lines.is_empty() && c.lines.len() <= o.max_lines, "{c:?}");
        for l in &c.lines {
            assert!(
                l.chars().any(char::is_alphanumeric),
                "empty or punctuation-only {c:?}"
            );
            assert_eq!(l.trim(), l, "{c:?}");
            if width(l) > o.max_line_length {
                // Only a single word longer than a line (with its punctuation) may exceed it.
                assert!(c.lines.len() == 1, "{c:?}");
                assert!(words.iter().any(|w| alnum(&w.text) == alnum(l)), "{c:?}");
            }
        }
        assert!(
            c.start >= 0.0 && c.end <= audio_end,
            "{c:?} outside 0..{audio_end}"
        );
        assert!(
            c.end - c.start >= o.frame() - 1e-9,
            "{c:?} shorter than a frame"
        );
        assert!(
            c.end - c.start <= o.max_cue_duration + 1e-9,
            "{c:?} too long"
        );
    }
    for p in cues.windows(2) {
        assert!(
            p[1].start - p[0].end >= o.min_gap() - 1e-9,
            "no frame gap: {p:?}"
        );
    }
    assert_eq!(cues_alnum(cues), words_alnum(words), "text lost or changed");
}

/// Each cue is on screen while its words are spoken: from its first word's start until its
/// last word's end (minus at most the gap, when the next cue follows without a pause).
fn check_cues_cover_their_words(words: &[Word], o: &CueOptions, cues: &[Cue]) {
    let mut rest = words.iter().filter(|w| !alnum(&w.text).is_empty());
    for c in cues {
        let mut text = cues_alnum(std::slice::from_ref(c));
        let mut spoken: Vec<&Word> = Vec::new();
        while !text.is_empty() {
            let w = rest.next().expect("cue text beyond the words");
            text = text
                .strip_prefix(alnum(&w.text).as_str())
                .expect("words out of order")
                .into();
            spoken.push(w);
        }
        let (first, last) = (spoken[0], spoken[spoken.len() - 1]);
        assert_eq!(c.start, first.start, "{c:?}");
        assert!(
            c.end >= last.end - o.normalized().min_gap() - 1e-9,
            "{c:?} ends before {last:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn plausible_speech_meets_every_limit((words, audio_end) in plausible(), o in options()) {
        let cues = cues_from_words(&words, audio_end, &o);
        check_limits(&words, audio_end, &o, &cues);
        check_cues_cover_their_words(&words, &o, &cues);
        // The writers never put an end before a start, and number every cue.
        let srt = write_srt(&cues);
        prop_assert_eq!(srt.matches(" --> ").count(), cues.len());
        prop_assert_eq!(write_vtt(&cues).matches(" --> ").count(), cues.len());
    }

    #[test]
    fn default_limits_hold((words, audio_end) in plausible()) {
        let o = CueOptions::default();
        let cues = cues_from_words(&words, audio_end, &o);
        check_limits(&words, audio_end, &o, &cues);
        check_cues_cover_their_words(&words, &o, &cues);
    }

    #[test]
    fn streaming_in_any_chunks_equals_batch(
        (words, audio_end) in plausible(),
        cut in 0usize..120,
    ) {
        let o = CueOptions::default();
        let mut shaper = CueShaper::new(&o);
        let cut = cut.min(words.len());
        let mut streamed: Vec<Cue> = words[..cut].iter().flat_map(|w| shaper.push_word(w)).collect();
        streamed.extend(words[cut..].iter().flat_map(|w| shaper.push_word(w)));
        streamed.extend(shaper.finish(audio_end));
        prop_assert_eq!(&streamed, &cues_from_words(&words, audio_end, &o));
        // The shaper is reusable after finish.
        let again: Vec<Cue> = words.iter().flat_map(|w| shaper.push_word(w)).collect();
        let mut again = again;
        again.extend(shaper.finish(audio_end));
        prop_assert_eq!(again, streamed);
    }

    #[test]
    fn segments_without_words_meet_the_limits(
        (words, audio_end) in plausible(),
        per_segment in 1usize..30,
    ) {
        // The same speech as segments with text only.
        let segments: Vec<Segment> = words
            .chunks(per_segment)
            .map(|c| Segment {
                start: c[0].start,
                end: c[c.len() - 1].end,
                text: c.iter().map(|w| w.text.as_str()).collect(),
                words: vec![],
            })
            .collect();
        let o = CueOptions::default();
        let cues = cues_from_segments(&segments, audio_end, &o);
        for c in &cues {
            prop_assert!(c.start >= 0.0 && c.end <= audio_end && c.start <= c.end);
            prop_assert!(c.end - c.start <= o.max_cue_duration + 1e-9);
            prop_assert!(c.lines.len() <= o.max_lines);
        }
        for p in cues.windows(2) {
            prop_assert!(p[1].start >= p[0].end);
        }
        prop_assert_eq!(cues_alnum(&cues), words_alnum(&words));
    }

    #[test]
    fn any_input_no_panic_ordered_bounded_nothing_lost(
        raw in prop::collection::vec((any::<f64>(), any::<f64>(), any::<String>()), 0..60),
        audio_end in any::<f64>(),
        max_line_length in any::<usize>(),
        max_lines in any::<usize>(),
        max_cue_duration in any::<f64>(),
        frame_rate in any::<f64>(),
    ) {
        let words: Vec<Word> =
            raw.into_iter().map(|(start, end, text)| Word { start, end, text }).collect();
        let o = CueOptions {
            max_line_length,
            max_lines,
            max_cue_duration,
            frame_rate,
            ..CueOptions::default()
        };
        let cues = cues_from_words(&words, audio_end, &o);
        let bound = if audio_end.is_finite() && audio_end >= 0.0 { audio_end } else { f64::INFINITY };
        for c in &cues {
            prop_assert!(c.start >= 0.0 && c.start <= c.end && c.end <= bound, "{:?}", c);
            prop_assert!(c.lines.iter().all(|l| l.chars().any(char::is_alphanumeric)));
        }
        for p in cues.windows(2) {
            prop_assert!(p[1].start >= p[0].end, "{:?}", p);
        }
        prop_assert_eq!(cues_alnum(&cues), words_alnum(&words));
        write_srt(&cues);
        write_vtt(&cues);
    }
}
