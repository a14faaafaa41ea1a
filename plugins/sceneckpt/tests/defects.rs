// SPDX-License-Identifier: MIT OR Apache-2.0
//! The defects of issue 9 that live in sceneckpt (items 1, 5, 7, 8, 9), each driven the way a
//! user meets it, over real scene files. `sceneckpttesttext` is test scaffolding standing in for
//! arcwhisper (see tests/common).

mod common;

use common::*;
use gst::glib;
use gst::prelude::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn v(s: impl ToValue) -> glib::Value {
    s.to_value()
}

fn loc(d: &Path) -> (&'static str, glib::Value) {
    ("location", v(d.to_str().unwrap()))
}

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Make `dir` read-only from now on, as a user remounting it mid-run: a read-only bind mount of
/// it over itself (files already open for writing stay writable, as on a real remount). Root
/// only; None (the test says it is skipped) otherwise.
fn read_only_from_now(dir: &Path) -> Option<Mount> {
    let mount = |args: &[&str]| {
        std::process::Command::new("mount")
            .args(args)
            .arg(dir)
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !mount(&["--bind"]) {
        return None;
    }
    let m = Mount(dir.to_path_buf());
    let ro = std::process::Command::new("mount")
        .args(["-o", "remount,ro,bind"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(ro.success(), "remount {} read-only", dir.display());
    Some(m)
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.ends_with(suffix))
        .collect()
}

/// Item 5: a scene name near the 255-byte limit no longer stops the folder. Its markers get a
/// hashed name (the real scene is recorded inside); a scene whose own output name cannot exist
/// gets a `.failed` marker and the walk goes on; reruns behave the same.
#[test]
fn long_scene_names_get_hashed_markers_and_the_walk_goes_on() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = tmpdir("longnames");
    let long = format!("{}.mkv", "a".repeat(246)); // 250 bytes: fits, its markers did not
    let longest = format!("{}.mkv", "b".repeat(251)); // 255 bytes: <stem>.srt still fits
    let too_long = format!("{}.ts", "c".repeat(252)); // 255 bytes: <stem>.srt would be 256
    put(&d, "s1.mkv", &long);
    put(&d, "s3.mkv", &longest);
    put(&d, "s1.mkv", &too_long);
    put(&d, "s2.webm", "d_short.webm");
    let r = run(&[loc(&d)], 0.0);
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(r.count("done"), 3, "{:?}", r.scenes);
    assert_eq!(r.count("failed"), 1, "{:?}", r.scenes);
    assert!(d.join(format!("{}.srt", "a".repeat(246))).exists());
    assert!(d.join(format!("{}.srt", "b".repeat(251))).exists());
    assert!(d.join("d_short.srt").exists());
    for n in names(&d) {
        assert!(n.len() <= 255, "{n}");
    }
    let done = files_ending(&d, ".subtitles.done");
    assert_eq!(done.len(), 3, "{done:?}");
    let failed = files_ending(&d, ".subtitles.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let f: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join(&failed[0])).unwrap()).unwrap();
    assert!(
        f["scene"].as_str().unwrap().ends_with(&too_long),
        "the real name is recorded inside: {f}"
    );
    assert!(
        f["error"].as_str().unwrap().contains("rename the scene"),
        "{f}"
    );
    assert!(files_ending(&d, ".claim").is_empty());
    // A rerun skips the three done scenes (hashed markers are found again) and retries the
    // failed one, which fails again without stopping anything.
    let r = run(&[loc(&d)], 0.0);
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(
        (r.count("skipped"), r.count("failed")),
        (3, 1),
        "{:?}",
        r.scenes
    );
}

/// Item 8: the folder turns read-only while a scene is being written. The error says what was
/// really left (the temp file and the claim), not a clean-up that did not happen.
#[test]
fn read_only_mid_scene_says_what_was_left_behind() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    init();
    let d = tmpdir("ro-mid");
    let claim = d.join(".long2.subtitles.claim");
    std::fs::write(
        &claim,
        format!(
            "{{\"pid\":{},\"host\":\"{}\"}}",
            std::process::id(),
            gstsceneckpt::fsutil::hostname()
        ),
    )
    .unwrap();
    let mut h = gst_check::Harness::new("sceneckptsink");
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps_str("text/x-raw, format=utf8");
    let start = gst::Structure::builder("sceneckpt-scene-start")
        .field("scene", d.join("long2.mp4").to_str().unwrap())
        .field("stem", "long2")
        .field("index", 0u32)
        .field("total", 1u32)
        .field("task", "subtitles")
        .field("output", d.join("long2.srt").to_str().unwrap())
        .field("markers-dir", d.to_str().unwrap())
        .field("claim", claim.to_str().unwrap())
        .field("base-pts", 0u64)
        .build();
    assert!(h.push_event(gst::event::CustomDownstreamSticky::new(start)));
    let mut b = gst::Buffer::from_slice(b"hello".to_vec());
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(10));
    assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
    let Some(_ro) = read_only_from_now(&d) else {
        println!("SKIPPED read_only_mid_scene test: cannot bind-mount here (not root?)");
        return;
    };
    let end = gst::Structure::builder("sceneckpt-scene-end")
        .field("scene", d.join("long2.mp4").to_str().unwrap())
        .field("index", 0u32)
        .build();
    assert!(!h.push_event(gst::event::CustomDownstream::new(end)));
    let err = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(e) = err.view() else {
        unreachable!()
    };
    let debug = e.debug().unwrap_or_default().to_string();
    println!("error: {} | {debug}", e.error());
    assert!(
        e.error().to_string().contains("Read-only file system"),
        "{}",
        e.error()
    );
    let temps = files_ending(&d, "");
    let temp = temps.iter().find(|n| n.starts_with(".long2.srt.tmp-"));
    assert!(temp.is_some(), "the temp file is still there: {temps:?}");
    assert!(claim.exists(), "the claim is still there");
    assert!(
        debug.contains(&format!("{} left behind", d.join(temp.unwrap()).display())),
        "says the temp file was left: {debug}"
    );
    assert!(
        debug.contains(&format!("claim {} left behind", claim.display())),
        "says the claim was left: {debug}"
    );
    assert!(
        !debug.contains("temp file removed") && !debug.contains("released"),
        "{debug}"
    );
    drop(h);
    drop(_ro);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Item 9: files named like scenes but not taken, and a scene held by a live claim, are each
/// said at the default level; the run ends with a summary message of every count.
#[test]
fn skipped_files_are_said_and_the_run_ends_with_a_summary() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = tmpdir("said");
    put(&d, "s1.mkv", "a_good.mkv");
    put(&d, "s2.webm", "b_held.webm");
    put(&d, "s3.mkv", ".c_hidden.mkv");
    std::fs::create_dir(d.join("d_folder.mkv")).unwrap();
    let fifo = std::ffi::CString::new(d.join("e_fifo.mp4").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink(d.join("f_loop.mp4"), d.join("f_loop.mp4")).unwrap();
    // A live claim of another pipeline (our own pid: alive; fresh heartbeat).
    std::fs::write(
        d.join(".b_held.subtitles.claim"),
        format!(
            "{{\"pid\":{},\"host\":\"{}\",\"device\":\"GPU.1\"}}",
            std::process::id(),
            gstsceneckpt::fsutil::hostname()
        ),
    )
    .unwrap();
    let r = run(&[loc(&d)], 0.0);
    assert_eq!(r.error, None, "{r:?}");
    println!("warnings: {:?}\ninfos: {:?}", r.warnings, r.infos);
    let said = |what: &str, list: &[String]| list.iter().any(|w| w.contains(what));
    assert!(
        said("d_folder.mkv: it is a folder", &r.warnings),
        "{:?}",
        r.warnings
    );
    assert!(
        said("e_fifo.mp4: it is a FIFO", &r.warnings),
        "{:?}",
        r.warnings
    );
    assert!(
        said("f_loop.mp4: it cannot be opened", &r.warnings),
        "{:?}",
        r.warnings
    );
    assert!(
        said(".c_hidden.mkv: its name starts with a dot", &r.infos),
        "{:?}",
        r.infos
    );
    assert!(
        said(
            "b_held.webm is being worked on by another pipeline",
            &r.infos
        ),
        "{:?}",
        r.infos
    );
    assert!(said("GPU.1", &r.infos), "names who holds it: {:?}", r.infos);
    let s = r.summary.expect("a sceneckpt-summary message");
    println!("summary: {s}");
    let n = |f: &str| s.get::<u32>(f).unwrap();
    assert_eq!(
        (
            n("total"),
            n("done"),
            n("skipped"),
            n("failed"),
            n("claimed-elsewhere"),
            n("ignored")
        ),
        (2, 1, 0, 0, 1, 4),
        "{s}"
    );
    assert!(s.get::<bool>("finished").unwrap());
}

/// Item 1: a subtitle document encoder in front of the sink is refused before any work, naming
/// the encoder and the fix; nothing is written. WebVTT comes from the sink itself.
#[test]
fn subtitle_encoders_before_the_sink_are_refused_and_vtt_is_written_per_scene() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    init();
    for enc in ["srtenc", "webvttenc"] {
        let d = tmpdir(enc);
        put(&d, "s1.mkv", "a.mkv");
        put(&d, "s2.webm", "b.webm");
        let p = gst::parse::launch(&format!(
            "sceneckpt location=\"{}\" ! sceneckpttesttext ! {enc} ! sceneckptsink",
            d.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let r = run_pipeline(&p, None);
        let err = r.error.unwrap_or_else(|| panic!("{enc} must be refused"));
        println!("{enc}: {err}");
        assert!(
            err.contains(&format!("({enc})")) && err.contains(&format!("Remove `! {enc}`")),
            "names the encoder and the fix: {err}"
        );
        assert!(files_ending(&d, ".srt").is_empty(), "{:?}", names(&d));
        assert!(files_ending(&d, ".done").is_empty(), "{:?}", names(&d));
        assert!(files_ending(&d, ".claim").is_empty(), "{:?}", names(&d));
    }
    // The supported WebVTT line: each scene its own file, header first, cues from 1.
    let d = tmpdir("vtt");
    put(&d, "s1.mkv", "a.mkv");
    put(&d, "s2.webm", "b.webm");
    let r = run(&[loc(&d), ("output-extension", v("vtt"))], 0.0);
    assert_eq!(r.error, None, "{r:?}");
    for stem in ["a", "b"] {
        let t = std::fs::read_to_string(d.join(format!("{stem}.vtt"))).unwrap();
        assert!(
            t.starts_with("WEBVTT\n\n1\n00:00:00.000 --> 00:00:0"),
            "{stem}.vtt: {t:?}"
        );
        assert!(t.contains(&format!("scene {stem}:")), "{t:?}");
    }
}

/// Item 7 / issue 15: an error from the source's streaming thread while the sink has not
/// prerolled yet, in an application that quits its main loop from a bus sync handler before the
/// loop runs (as gst-launch-1.0 does when the error comes early): the quit is lost, so the
/// pipeline must still end. The order is forced: the source's thread is held before its first
/// scene (one without audio, claimed when the source started) until the markers folder is gone, so
/// the next claim fails before any audio flowed. Two busy threads load the CPU.
/// `SCENECKPT_HANG_ROUNDS` rounds (default 3; TESTING.md: 100).
#[test]
fn a_source_error_before_preroll_ends_an_app_that_missed_it() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    init();
    let rounds: usize = std::env::var("SCENECKPT_HANG_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let stop_load = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop_load.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let mut ended_after = Vec::new();
    for round in 0..rounds {
        let d = tmpdir("lostquit");
        let marks = d.join("marks");
        std::fs::create_dir_all(&marks).unwrap();
        put(&d, "video_only.mkv", "a_no_audio.mkv");
        put(&d, "s1.mkv", "b_good.mkv");
        ended_after.push(lost_quit_round(&d, &marks, round));
    }
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    println!(
        "{} rounds ended; seconds after the lost error: min {:.2} max {:.2}",
        ended_after.len(),
        ended_after.iter().cloned().fold(f64::MAX, f64::min),
        ended_after.iter().cloned().fold(0.0, f64::max)
    );
}

/// One round: returns the seconds from the (lost) first error to the end of the main loop.
fn lost_quit_round(d: &Path, marks: &Path, round: usize) -> f64 {
    let p = gst::parse::launch(&format!(
        "sceneckpt name=src decode-timeout=5 location=\"{}\" markers-dir=\"{}\" output-dir=\"{}\" ! sceneckpttesttext ! sceneckptsink",
        d.display(),
        marks.display(),
        d.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let ctx = glib::MainContext::new();
    let main_loop = glib::MainLoop::new(Some(&ctx), false);
    let (err_tx, err_rx) = std::sync::mpsc::channel::<String>();
    let bus = p.bus().unwrap();
    let ml = main_loop.clone();
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Error(e) = msg.view() {
            // Like gst-launch-1.0: quit from the sync handler (lost if the loop is not running).
            ml.quit();
            let _ = err_tx.send(e.error().to_string());
        }
        gst::BusSyncReply::Pass
    });
    // Hold the source's streaming thread before its first scene is decoded.
    let src_pad = p.by_name("src").unwrap().static_pad("src").unwrap();
    let probe = src_pad
        .add_probe(
            gst::PadProbeType::BLOCK | gst::PadProbeType::EVENT_DOWNSTREAM,
            |_, _| gst::PadProbeReturn::Ok,
        )
        .unwrap();
    assert!(
        p.set_state(gst::State::Paused).is_ok(),
        "round {round}: starts"
    );
    std::fs::rename(marks, d.join("marks.gone")).unwrap();
    src_pad.remove_probe(probe);
    let first = err_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("round {round}: the source fails"));
    let t0 = Instant::now();
    assert!(
        first.contains("cannot create claim"),
        "round {round}: {first}"
    );
    assert!(
        first.contains("No such file or directory"),
        "round {round}: {first}"
    );
    // BaseSrc follows with its own "Internal data stream error": let that quit be lost too.
    let second = err_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("round {round}: basesrc's error follows"));
    assert!(
        second.contains("Internal data stream error"),
        "round {round}: {second}"
    );
    // The app's loop starts only now: both quits above were lost.
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (t, ml) = (timed_out.clone(), main_loop.clone());
    let limit = glib::timeout_source_new(
        Duration::from_secs(20),
        None,
        glib::Priority::DEFAULT,
        move || {
            t.store(true, std::sync::atomic::Ordering::SeqCst);
            ml.quit();
            glib::ControlFlow::Break
        },
    );
    limit.attach(Some(&ctx));
    ctx.with_thread_default(|| main_loop.run()).unwrap();
    let took = t0.elapsed().as_secs_f64();
    limit.destroy();
    assert!(
        !timed_out.load(std::sync::atomic::Ordering::SeqCst),
        "round {round}: the pipeline never told the app again: it would hang"
    );
    p.set_state(gst::State::Null).unwrap();
    bus.unset_sync_handler();
    took
}
