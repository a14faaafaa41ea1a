//! Cues for real speech (word times from faster-whisper on `../shared/speech`), checked as a
//! viewer would read them. `cargo test -p subtitle-cues --test realistic -- --nocapture` prints
//! every SRT.

#[rustfmt::skip]
mod fixtures;

use fixtures::{jfk, jfk_tiny_raw, kitchen, lj_with_gaps, sonnet};
use subtitle_cues::{
    cues_from_segments, cues_from_words, write_srt, write_vtt, Cue, CueOptions, Segment,
};

fn shaped(name: &str, cues: &[Cue]) -> Vec<String> {
    println!("--- {name}\n{}", write_srt(cues));
    cues.iter().map(|c| c.lines.join(" / ")).collect()
}

#[test]
fn jfk_cues_follow_the_clauses_exact_srt_and_vtt() {
    let cues = cues_from_words(&jfk(), 11.0, &CueOptions::default());
    shaped("jfk", &cues);
    // Cue 1 holds 0.4 s into the pause; cue 2 ends 2 frames before cue 3 (no pause between).
    assert_eq!(
        write_srt(&cues),
        "1\n00:00:00,000 --> 00:00:02,660\nAnd so my fellow Americans,\n\n\
         2\n00:00:03,300 --> 00:00:07,980\nask not what your country can do for you,\n\n\
         3\n00:00:08,060 --> 00:00:10,900\nask what you can do for your country.\n\n"
    );
    assert_eq!(
        write_vtt(&cues),
        "WEBVTT\n\n\
         00:00:00.000 --> 00:00:02.660\nAnd so my fellow Americans,\n\n\
         00:00:03.300 --> 00:00:07.980\nask not what your country can do for you,\n\n\
         00:00:08.060 --> 00:00:10.900\nask what you can do for your country.\n\n"
    );
}

#[test]
fn jfk_without_punctuation_still_fits_and_breaks_before_a_clause_word() {
    let cues = cues_from_words(&jfk_tiny_raw(), 11.0, &CueOptions::default());
    assert_eq!(
        shaped("jfk tiny.en raw", &cues),
        [
            "And so my fellow Americans ask not",
            "what your country can do for you ask / what you can do for your country"
        ]
    );
}

#[test]
fn sonnet_cues_end_at_verse_punctuation_and_pauses() {
    let cues = cues_from_words(&sonnet(), 53.267, &CueOptions::default());
    assert_eq!(
        shaped("sonnet", &cues),
        [
            "1.",
            "From fairest creatures we desire increase,",
            "that thereby beauty's rose / might never die,",
            "but as the writer should by time deceased,",
            "his tender air might bear his memory.",
            "But thou, contracted / to thy known bright eyes,",
            "feet thy lights flame / with self-substantial fuel,",
            "making a famine where abundance lies,",
            "thy self thy foe / to thy sweet self-too cruel.",
        ]
    );
    // Every cue appears with its first word and leaves the gap before the next one.
    let starts = [0.0, 2.76, 6.04, 9.2, 12.18, 15.3, 19.06, 22.54, 25.86];
    for (c, s) in cues.iter().zip(starts) {
        assert_eq!(c.start, s);
    }
    for p in cues.windows(2) {
        assert!(p[1].start - p[0].end >= 0.08 - 1e-9, "{p:?}");
    }
}

#[test]
fn read_speech_with_silences_between_sentences() {
    let cues = cues_from_words(&lj_with_gaps(), 49.655, &CueOptions::default());
    assert_eq!(
        shaped("LJ001-0001..6 with gaps", &cues),
        [
            "Printing, in the only sense / with which we are at present concern,",
            "differs from most if not from all the arts / and crafts represented in the exhibition,",
            "in being comparatively modern.",
            "For although the Chinese took impressions / from wood blocks engraved in relief",
            "for centuries before the woodcutters / of the Netherlands by a similar process,",
            "produced the block books",
            "which were the immediate predecessors / of the true printed book.",
            "The invention of movable metal letters / in the middle of the 15th century",
            "may justly be considered / as the invention of the art of printing.",
            "And it is worth mention in passing / that as an example of fine typography,",
        ]
    );
    // Nothing is on screen in the 2 s and 5 s silences (after a 0.4 s hold).
    for c in &cues {
        assert!(c.end <= 12.44 + 1e-9 || c.start >= 13.92, "{c:?}");
        assert!(c.end <= 30.78 + 1e-9 || c.start >= 34.46, "{c:?}");
    }
}

#[test]
fn home_video_exchange_reads_naturally() {
    let cues = cues_from_words(&kitchen(), 21.0, &CueOptions::default());
    assert_eq!(
        shaped("kitchen", &cues),
        [
            "Hey! Come here.",
            "Look at this.",
            "Yes. I know, I saw it yesterday",
            "when we came back from the lake / and you were still asleep in the car.",
            "Supercalifragilisticexpialidocious!",
            "Supercalifragilisticexpialidociousandmoreandmore",
        ]
    );
    // 68 characters at 17/s need 4 s: the cue stays into the silence after "car." (17.3 s).
    assert!((cues[3].end - 18.0).abs() < 1e-9);
    // The over-long word is kept whole and bounded by the audio end.
    assert_eq!(cues[5].end, 21.0);
}

#[test]
fn segments_without_words_get_the_same_limits() {
    // LJSpeech LJ001-0014 and -0015 read back to back, as segments without word times.
    let segments = [
        Segment {
            start: 0.0,
            end: 9.945,
            text:
                " And it was a matter of course that in the Middle Ages, when the craftsmen took \
                   care that beautiful form should always be a part of their productions whatever \
                   they were,"
                    .into(),
            words: vec![],
        },
        Segment {
            start: 10.4,
            end: 19.637,
            text: " the forms of printed letters should be beautiful, and that their arrangement \
                   on the page should be reasonable and a help to the shapeliness of the letters \
                   themselves."
                .into(),
            words: vec![],
        },
    ];
    let cues = cues_from_segments(&segments, 20.0, &CueOptions::default());
    let texts = shaped("LJ001-0014/15 from segments", &cues);
    for (c, t) in cues.iter().zip(&texts) {
        assert!(
            c.lines.len() <= 2 && c.lines.iter().all(|l| l.chars().count() <= 42),
            "{t}"
        );
        assert!(c.end - c.start <= 7.0, "{t}");
    }
    assert_eq!(
        texts,
        [
            "And it was a matter of course / that in the Middle Ages,",
            "when the craftsmen took care that / beautiful form should always be a part",
            "of their productions whatever they were,",
            "the forms of printed letters / should be beautiful,",
            "and that their arrangement / on the page should be reasonable",
            "and a help to the shapeliness / of the letters themselves.",
        ]
    );
    // The second segment's first word starts its cue; the last cue stops at the audio end.
    assert_eq!((cues[3].start, cues[5].end), (10.4, 20.0));
}
