// SPDX-License-Identifier: MIT OR Apache-2.0
//! `gst_check::Harness` tests of the elements on their own.

mod common;

use gst::prelude::*;
use gstsceneckpt::fsutil;

fn scene_start(
    dir: &std::path::Path,
    stem: &str,
    index: u32,
    base_pts: u64,
    claim: &str,
) -> gst::Event {
    gst::event::CustomDownstreamSticky::new(
        gst::Structure::builder("sceneckpt-scene-start")
            .field("scene", dir.join(format!("{stem}.mkv")).to_str().unwrap())
            .field("stem", stem)
            .field("index", index)
            .field("total", 2u32)
            .field("task", "subtitles")
            .field("output", dir.join(format!("{stem}.srt")).to_str().unwrap())
            .field("markers-dir", dir.to_str().unwrap())
            .field("claim", claim)
            .field("base-pts", base_pts)
            .build(),
    )
}

fn scene_end(dir: &std::path::Path, stem: &str, index: u32) -> gst::Event {
    gst::event::CustomDownstream::new(
        gst::Structure::builder("sceneckpt-scene-end")
            .field("scene", dir.join(format!("{stem}.mkv")).to_str().unwrap())
            .field("index", index)
            .field("audio-duration", 5_000_000_000u64)
            .field("device", "GPU.1")
            .field("model", "base")
            .field("worker-pid", 4384i64)
            .build(),
    )
}

fn text(s: &str, pts_ms: u64, dur_ms: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_slice(s.as_bytes().to_vec());
    let bm = b.get_mut().unwrap();
    bm.set_pts(gst::ClockTime::from_mseconds(pts_ms));
    bm.set_duration(gst::ClockTime::from_mseconds(dur_ms));
    b
}

#[test]
fn sink_formats_srt_per_scene_and_commits_marker_stats_and_claim() {
    common::init();
    let dir = common::tmpdir("harness-sink");
    // A claim of ours (pid/host) that the sink removes after committing.
    let claim = dir.join(".b.subtitles.claim");
    std::fs::write(
        &claim,
        format!(
            r#"{{"pid":{},"host":"{}"}}"#,
            std::process::id(),
            fsutil::hostname()
        ),
    )
    .unwrap();
    let mut h = gst_check::Harness::new("sceneckptsink");
    h.set_src_caps(
        gst::Caps::builder("text/x-raw")
            .field("format", "utf8")
            .build(),
    );
    h.play();
    assert!(h.push_event(scene_start(&dir, "a", 0, 0, "")));
    h.push(text(" Hello there.", 500, 1500)).unwrap();
    h.push(text("Second cue,\nwith two lines", 2000, 1234))
        .unwrap();
    assert!(h.push_event(scene_end(&dir, "a", 0)));
    // The second scene starts 60 s into the stream: its times are relative to that.
    assert!(h.push_event(scene_start(
        &dir,
        "b",
        1,
        60_000_000_000,
        claim.to_str().unwrap()
    )));
    h.push(text("Ünïcödé ✓", 60_250, 3_750_000)).unwrap();
    assert!(h.push_event(scene_end(&dir, "b", 1)));
    // A third scene that never ends: its temp file is discarded at EOS.
    assert!(h.push_event(scene_start(&dir, "c", 2, 70_000_000_000, "")));
    h.push(text("lost", 70_000, 1000)).unwrap();
    assert!(h.push_event(gst::event::Eos::new()));

    assert_eq!(
        std::fs::read_to_string(dir.join("a.srt")).unwrap(),
        "1\n00:00:00,500 --> 00:00:02,000\n Hello there.\n\n2\n00:00:02,000 --> 00:00:03,234\nSecond cue,\nwith two lines\n\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("b.srt")).unwrap(),
        "1\n00:00:00,250 --> 01:02:30,250\nÜnïcödé ✓\n\n"
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".b.subtitles.done")).unwrap()).unwrap();
    assert_eq!(m["device"], "GPU.1");
    assert_eq!(m["model"], "base");
    assert_eq!(m["worker-pid"], 4384);
    assert_eq!(
        m["sha256"],
        fsutil::sha256_file(&dir.join("b.srt")).unwrap()
    );
    assert!(!claim.exists(), "claim removed after commit");
    assert!(!dir.join("c.srt").exists() && !dir.join(".c.subtitles.done").exists());
    let names = common::names(&dir);
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
    let stats = common::stats_lines(&dir);
    assert_eq!(stats.len(), 2);
    assert_eq!(
        (
            stats[1].device.as_str(),
            stats[1].worker_pid,
            stats[1].audio_seconds
        ),
        ("GPU.1", 4384, 5.0)
    );
}

#[test]
fn sink_discards_temp_on_scene_failed() {
    common::init();
    let dir = common::tmpdir("harness-failed");
    let mut h = gst_check::Harness::new("sceneckptsink");
    h.set_src_caps(
        gst::Caps::builder("text/x-raw")
            .field("format", "utf8")
            .build(),
    );
    h.play();
    assert!(h.push_event(scene_start(&dir, "x", 0, 0, "")));
    h.push(text("partial", 0, 1000)).unwrap();
    assert!(h.push_event(gst::event::CustomDownstream::new(
        gst::Structure::builder("sceneckpt-scene-failed")
            .field("scene", dir.join("x.mkv").to_str().unwrap())
            .field("index", 0u32)
            .field("error", "boom")
            .build()
    )));
    assert!(common::names(&dir).is_empty(), "{:?}", common::names(&dir));
}

#[test]
fn source_outputs_f32_16k_mono_with_continuous_pts() {
    common::init();
    let dir = common::tmpdir("harness-src");
    common::put(&dir, "s1.mkv", "a.mkv");
    common::put(&dir, "s2.webm", "b.webm");
    let mut h = gst_check::Harness::new("sceneckpt");
    h.element()
        .unwrap()
        .set_property("location", dir.to_str().unwrap());
    h.element().unwrap().set_property("claim", false);
    h.play();
    let mut next = 0u64;
    let mut total = 0u64;
    let mut scene_starts = Vec::new();
    while let Some(b) = h.pull_until_eos().expect("no error") {
        let pts = b.pts().unwrap().nseconds();
        assert_eq!(pts, next, "continuous PTS");
        next = pts + b.duration().unwrap().nseconds();
        total += (b.size() / 4) as u64;
    }
    while let Some(ev) = h.try_pull_event() {
        if let Some(s) = ev.structure() {
            if s.name() == "sceneckpt-scene-start" {
                scene_starts.push(s.get::<u64>("base-pts").unwrap());
            }
        }
    }
    assert!(total > 16_000 * 3, "both scenes' audio: {total} samples");
    assert_eq!(next, total * 1_000_000_000 / 16_000);
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(caps.to_string(), "audio/x-raw, format=(string)F32LE, rate=(int)16000, channels=(int)1, layout=(string)interleaved");
    assert_eq!(scene_starts.len(), 2);
    assert_eq!(scene_starts[0], 0);
    assert!(
        scene_starts[1] > 1_000_000_000,
        "second scene starts where the first ended"
    );
}
