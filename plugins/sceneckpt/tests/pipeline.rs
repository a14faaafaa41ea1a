// SPDX-License-Identifier: MIT OR Apache-2.0
//! Real pipelines over real scene files: `sceneckpt ! sceneckpttesttext ! sceneckptsink`, where
//! `sceneckpttesttext` is test scaffolding standing in for arcwhisper (see tests/common).

mod common;

use common::*;
use gst::prelude::*;
use gstsceneckpt::fsutil;
use std::path::Path;
use std::time::{Duration, Instant};

fn v(s: impl ToValue) -> gst::glib::Value {
    s.to_value()
}

fn loc(d: &Path) -> (&'static str, gst::glib::Value) {
    ("location", v(d.to_str().unwrap()))
}

/// Not a test of its own: the body of the child process that `spawn_child` starts.
#[test]
#[ignore]
fn child_pipeline() {
    let Ok(location) = std::env::var("SCENECKPT_CHILD_LOCATION") else {
        return;
    };
    if let Ok(limit) = std::env::var("SCENECKPT_CHILD_FSIZE") {
        // A file-size limit stands in for a full disk: writes past it fail with EFBIG.
        let lim = libc::rlimit {
            rlim_cur: limit.parse().unwrap(),
            rlim_max: limit.parse().unwrap(),
        };
        // SAFETY: plain setrlimit/signal calls on this process.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        let out = std::env::var("SCENECKPT_CHILD_OUTPUT").unwrap();
        init();
        // Raw audio bytes as the output: large enough to cross the limit.
        let p = gst::parse::launch(&format!(
            "sceneckpt location=\"{location}\" output-dir=\"{out}\" markers-dir=\"{out}\" ! sceneckptsink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let r = run_pipeline(&p, None);
        println!("CHILD error={:?} done={}", r.error, r.count("done"));
        return;
    }
    let device = std::env::var("SCENECKPT_CHILD_DEVICE").unwrap_or_default();
    let rtf: f64 = std::env::var("SCENECKPT_CHILD_RTF")
        .unwrap()
        .parse()
        .unwrap();
    let r = run(
        &[
            ("location", v(location.as_str())),
            ("device-label", v(device.as_str())),
        ],
        rtf,
    );
    println!(
        "CHILD error={:?} done={} skipped={}",
        r.error,
        r.count("done"),
        r.count("skipped")
    );
}

#[test]
fn complete_run_then_rerun_skips_without_decoding() {
    let d = tmpdir("complete");
    put(&d, "s1.mkv", "s1.mkv");
    put(&d, "s2.webm", "s2.webm");
    put(&d, "s3.mkv", "s3.mkv");
    std::fs::write(d.join("notes.txt"), "not a scene").unwrap();

    let r = run(&[loc(&d)], 0.0);
    println!("{:?} {:?} {:?}", r.scenes, r.warnings, r.events);
    assert_eq!(r.error, None);
    assert_eq!(r.count("started"), 3);
    assert_eq!(r.count("done"), 3);
    assert_eq!(r.committed.len(), 3);
    // Event order: stream-start, caps, segment once, then per scene start / audio / end.
    let ev: Vec<&str> = r
        .events
        .iter()
        .map(|s| s.as_str())
        .filter(|s| *s != "eos")
        .collect();
    assert_eq!(
        ev,
        [
            "stream-start",
            "caps",
            "segment",
            "sceneckpt-scene-start",
            "buffer",
            "sceneckpt-scene-end",
            "sceneckpt-scene-start",
            "buffer",
            "sceneckpt-scene-end",
            "sceneckpt-scene-start",
            "buffer",
            "sceneckpt-scene-end"
        ],
        "{:?}",
        r.events
    );
    for stem in ["s1", "s2", "s3"] {
        let srt = std::fs::read_to_string(d.join(format!("{stem}.srt"))).unwrap();
        // Cue numbered from 1 in every scene, time relative to the scene start.
        assert!(
            srt.starts_with("1\n00:00:00,000 --> 00:00:0"),
            "{stem}: {srt:?}"
        );
        assert!(
            srt.contains(&format!("scene {stem}: ")) && srt.ends_with(" samples\n\n"),
            "{srt:?}"
        );
        let marker: serde_json::Value = serde_json::from_slice(
            &std::fs::read(d.join(format!(".{stem}.subtitles.done"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            marker["sha256"],
            fsutil::sha256_file(&d.join(format!("{stem}.srt"))).unwrap()
        );
        assert_eq!(marker["model"], "none (test scaffolding)");
        assert_eq!(marker["worker-pid"], std::process::id() as i64);
        assert!(!d.join(format!(".{stem}.subtitles.claim")).exists());
    }
    // 1.095 s of speech at 16 kHz in s1 (Opus pads a little; allow some slack).
    let s1 = std::fs::read_to_string(d.join("s1.srt")).unwrap();
    let n: u64 = s1
        .split("s1: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((16_500..19_000).contains(&n), "s1 samples {n}");
    let stats = stats_lines(&d);
    assert_eq!(stats.len(), 3);
    assert!(stats
        .iter()
        .all(|l| l.result == "done" && l.audio_seconds > 1.0));
    let last = r.progress.last().unwrap();
    assert_eq!(last.get::<u32>("done").unwrap(), 3);

    let mtimes: Vec<_> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| {
            std::fs::metadata(d.join(format!("{s}.srt")))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let r2 = run(&[loc(&d)], 0.0);
    assert_eq!(r2.error, None);
    assert_eq!(r2.count("skipped"), 3);
    assert_eq!(r2.count("started"), 0, "no decode on a rerun");
    assert!(
        r2.elapsed < Duration::from_secs(3),
        "rerun took {:?}",
        r2.elapsed
    );
    assert!(!r2
        .events
        .iter()
        .any(|e| e == "buffer" || e.starts_with("sceneckpt-")));
    let mtimes2: Vec<_> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| {
            std::fs::metadata(d.join(format!("{s}.srt")))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    assert_eq!(mtimes, mtimes2);
    println!(
        "complete run {:?}, rerun of 3 done scenes {:?}",
        r.elapsed, r2.elapsed
    );

    // Tamper with one output: it no longer matches its marker's hash and is redone.
    std::fs::write(
        d.join("s2.srt"),
        "1\n00:00:00,000 --> 00:00:01,000\nforged\n\n",
    )
    .unwrap();
    let r3 = run(&[loc(&d)], 0.0);
    assert_eq!(r3.error, None);
    assert_eq!(
        r3.scenes
            .iter()
            .filter(|(_, s)| s == "started")
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["s2"]
    );
    assert!(std::fs::read_to_string(d.join("s2.srt"))
        .unwrap()
        .contains("scene s2: "));
    // A marker that does not parse is redone as well.
    std::fs::write(d.join(".s3.subtitles.done"), "{ truncated").unwrap();
    let r4 = run(&[loc(&d)], 0.0);
    assert_eq!(r4.count("started"), 1);
    assert_eq!(r4.count("skipped"), 2);
    assert!(
        names(&d).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(&d)
    );
}

#[test]
fn raw_bytes_pass_through_for_non_text_caps() {
    let d = tmpdir("raw");
    put(&d, "s1.mkv", "s1.mkv");
    let r = run_raw(&d);
    assert_eq!(r.error, None);
    let len = std::fs::metadata(d.join("s1.srt")).unwrap().len();
    assert!(
        len > 16_000 * 4 && len.is_multiple_of(4),
        "raw F32 audio written as it came: {len}"
    );
    assert!(d.join(".s1.subtitles.done").exists());
}

/// A scene whose stereo channels are out of phase comes out as its audio, not the silence
/// audioconvert's (L + R) / 2 makes of it (the raw F32 output is what arcwhisper would get).
#[test]
fn a_scene_out_of_phase_comes_out_as_its_audio() {
    let d = tmpdir("out-of-phase");
    test_support::scenes::out_of_phase_tone(&d, "s1", 44_100);
    let r = run_raw(&d);
    assert_eq!(r.error, None);
    let raw = std::fs::read(d.join("s1.srt")).unwrap();
    let mono: Vec<f32> = gst_file_audio::f32_samples(&raw).collect();
    test_support::scenes::assert_is_the_tone(&mono);
}

/// `sceneckpt ! sceneckptsink` over `dir`: no text element, so each scene's output is its raw
/// F32 audio.
fn run_raw(dir: &Path) -> RunResult {
    init();
    let p = gst::parse::launch(&format!(
        "sceneckpt location=\"{}\" ! sceneckptsink",
        dir.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run_pipeline(&p, None)
}

#[test]
fn broken_scenes_get_failed_markers_and_the_rest_is_done() {
    let d = tmpdir("broken");
    put(&d, "s1.mkv", "a_good.mkv");
    std::fs::write(d.join("b_zero.mkv"), b"").unwrap();
    std::fs::write(d.join("c_text.mp4"), b"this is a text file, not a video\n").unwrap();
    put(&d, "video_only.mkv", "d_noaudio.mkv");
    put(&d, "trunc.mp4", "e_corrupt.mp4");
    put(&d, "s3.mkv", "f_good.mkv");
    let props = [loc(&d), ("decode-timeout", v(3u32))];
    let r = run(&props, 0.0);
    assert_eq!(r.error, None, "a broken scene does not stop the pipeline");
    assert_eq!(r.count("done"), 2);
    assert_eq!(r.count("failed"), 4);
    assert_eq!(r.warnings.len(), 4);
    for (stem, needle) in [
        ("b_zero", ""),
        ("c_text", ""),
        ("d_noaudio", "no audio track (it has video/"),
        ("e_corrupt", ""),
    ] {
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(d.join(format!(".{stem}.subtitles.failed"))).unwrap(),
        )
        .unwrap();
        let err = m["error"].as_str().unwrap();
        assert!(!err.is_empty() && err.contains(needle), "{stem}: {err}");
        assert_eq!(m["task"], "subtitles");
        assert!(m["scene"].as_str().unwrap().ends_with(&format!(
            "{stem}.{}",
            if stem == "c_text" || stem == "e_corrupt" {
                "mp4"
            } else {
                "mkv"
            }
        )));
        assert!(!d.join(format!("{stem}.srt")).exists());
        assert!(
            !d.join(format!(".{stem}.subtitles.claim")).exists(),
            "claim released"
        );
        println!("{stem}: {err}");
    }
    assert!(d.join(".a_good.subtitles.done").exists() && d.join(".f_good.subtitles.done").exists());
    // A rerun retries the failed ones; a fixed scene succeeds and loses its .failed marker.
    std::fs::copy(template().join("s2.webm"), d.join("b_zero.mkv")).unwrap();
    let r2 = run(&props, 0.0);
    assert_eq!(r2.count("skipped"), 2);
    assert_eq!(r2.count("started"), 4);
    assert_eq!(r2.count("done"), 1);
    assert!(!d.join(".b_zero.subtitles.failed").exists());
    assert!(d.join(".b_zero.subtitles.done").exists());
    assert!(
        names(&d).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(&d)
    );
}

#[test]
fn names_with_spaces_quotes_newlines_and_non_ascii() {
    let d = tmpdir("names");
    let names_in = ["a b.mkv", "q\"u'ote.webm", "new\nline.mkv", "ünï €文.mkv"];
    for (i, n) in names_in.iter().enumerate() {
        put(&d, ["s1.mkv", "s2.webm", "s3.mkv", "s1.mkv"][i], n);
    }
    let r = run(&[loc(&d)], 0.0);
    assert_eq!(r.error, None);
    assert_eq!(r.count("done"), 4);
    for n in names_in {
        let stem = &n[..n.rfind('.').unwrap()];
        let srt = std::fs::read_to_string(d.join(format!("{stem}.srt"))).unwrap();
        assert!(srt.contains(&format!("scene {stem}: ")), "{srt:?}");
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(d.join(format!(".{stem}.subtitles.done"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            Path::new(m["scene"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
            n
        );
    }
    let r2 = run(&[loc(&d)], 0.0);
    assert_eq!(r2.count("skipped"), 4);
    // Stats lines are one JSON object per line even with a newline in a name.
    assert_eq!(stats_lines(&d).len(), 4);
}

#[test]
fn symlinks_planted_at_marker_claim_and_output_are_not_followed() {
    let d = tmpdir("symlink");
    put(&d, "s1.mkv", "s.mkv");
    let victims = tmpdir("symlink-victims");
    for (planted, victim) in [
        (".s.subtitles.done", "v_done"),
        (".s.subtitles.claim", "v_claim"),
        ("s.srt", "v_out"),
    ] {
        std::fs::write(victims.join(victim), b"precious").unwrap();
        std::os::unix::fs::symlink(victims.join(victim), d.join(planted)).unwrap();
    }
    let r = run(&[loc(&d)], 0.0);
    assert_eq!(r.error, None);
    assert_eq!(r.count("done"), 1);
    for victim in ["v_done", "v_claim", "v_out"] {
        assert_eq!(
            std::fs::read(victims.join(victim)).unwrap(),
            b"precious",
            "{victim} untouched"
        );
    }
    assert!(std::fs::symlink_metadata(d.join(".s.subtitles.done"))
        .unwrap()
        .is_file());
    assert!(std::fs::symlink_metadata(d.join("s.srt"))
        .unwrap()
        .is_file());
    assert!(!d.join(".s.subtitles.claim").exists());
}

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, opts: &str) -> Option<Mount> {
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| Mount(dir.to_path_buf()))
}

#[test]
fn read_only_folder_needs_markers_dir_and_works_with_it() {
    let d = tmpdir("readonly");
    let Some(_m) = mount_tmpfs(&d, "size=4m") else {
        println!("SKIPPED read_only_folder test: cannot mount a tmpfs here (not root?)");
        return;
    };
    put(&d, "s1.mkv", "s1.mkv");
    put(&d, "s2.webm", "s2.webm");
    assert!(std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&d)
        .status()
        .unwrap()
        .success());
    let r = run(&[loc(&d)], 0.0);
    let err = r
        .error
        .expect("a read-only folder without markers-dir is an error");
    println!("error: {err}");
    let msg = err.split(" | ").next().unwrap();
    assert!(
        msg.contains(d.to_str().unwrap())
            && msg.contains("markers-dir")
            && msg.contains("output-dir"),
        "{err}"
    );
    assert!(msg.contains("Read-only file system"), "{err}");
    assert!(r.scenes.is_empty(), "failed before any work");

    let out = tmpdir("readonly-out");
    let r = run(
        &[
            loc(&d),
            ("markers-dir", v(out.to_str().unwrap())),
            ("output-dir", v(out.to_str().unwrap())),
        ],
        0.0,
    );
    assert_eq!(r.error, None);
    assert_eq!(r.count("done"), 2);
    assert!(out.join("s1.srt").exists() && out.join(".s1.subtitles.done").exists());
    assert!(out.join("arcwhisper-stats.jsonl").exists());
    let r = run(
        &[
            loc(&d),
            ("markers-dir", v(out.to_str().unwrap())),
            ("output-dir", v(out.to_str().unwrap())),
        ],
        0.0,
    );
    assert_eq!(r.count("skipped"), 2);
}

#[test]
fn disk_full_leaves_no_marker_and_existing_outputs_intact() {
    let d = tmpdir("diskfull");
    put(&d, "s1.mkv", "s1.mkv");
    put(&d, "s2.webm", "s2.webm");
    let markers = tmpdir("diskfull-markers");
    let out = tmpdir("diskfull-out");
    let Some(_m) = mount_tmpfs(&out, "size=64k") else {
        println!("SKIPPED disk_full test: cannot mount a 64k tmpfs here (not root?)");
        return;
    };
    // A finished output from an earlier run, then fill the disk.
    std::fs::write(
        out.join("s1.srt"),
        "1\n00:00:00,000 --> 00:00:01,000\nearlier\n\n",
    )
    .unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(out.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let r = run(
        &[
            loc(&d),
            ("markers-dir", v(markers.to_str().unwrap())),
            ("output-dir", v(out.to_str().unwrap())),
        ],
        0.0,
    );
    let err = r.error.expect("disk full is an error");
    println!("error: {err}");
    let msg = err.split(" | ").next().unwrap();
    assert!(
        msg.contains("No space left on device") && msg.contains(out.to_str().unwrap()),
        "{err}"
    );
    assert!(!markers.join(".s1.subtitles.done").exists());
    assert!(
        !markers.join(".s1.subtitles.claim").exists(),
        "claim released"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("s1.srt")).unwrap(),
        "1\n00:00:00,000 --> 00:00:01,000\nearlier\n\n",
        "earlier output intact"
    );
    assert!(
        names(&out).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(&out)
    );
    // Space again: the same command finishes the job.
    std::fs::remove_file(out.join("filler")).unwrap();
    let r = run(
        &[
            loc(&d),
            ("markers-dir", v(markers.to_str().unwrap())),
            ("output-dir", v(out.to_str().unwrap())),
        ],
        0.0,
    );
    assert_eq!(r.error, None);
    assert_eq!(r.count("done"), 2);
}

#[test]
fn kill_9_mid_run_then_rerun_finishes_every_scene_exactly_once() {
    let d = tmpdir("kill9");
    for (i, t) in ["s1.mkv", "s2.webm", "s3.mkv", "s1.mkv"].iter().enumerate() {
        put(&d, t, format!("k{i}.{}", t.rsplit('.').next().unwrap()));
    }
    // ~1 s of wall time per second of audio: each scene takes 1-2 s.
    let mut child = spawn_child(&d, "GPU.0", 1.0);
    let t0 = Instant::now();
    // Wait until the first scene is committed and the second is under way.
    loop {
        let n = names(&d);
        if n.iter().any(|x| x == ".k0.subtitles.done")
            && n.iter().any(|x| x == ".k1.subtitles.claim")
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "child never got going: {n:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id() as i32;
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    child.wait().unwrap();
    let left = names(&d);
    println!("after kill -9: {left:?}");
    assert!(
        left.iter().any(|x| x == ".k1.subtitles.claim"),
        "a claim of the dead pid is left"
    );
    assert!(!left.iter().any(|x| x == ".k1.subtitles.done"));

    let r = run(&[loc(&d)], 0.0);
    assert_eq!(r.error, None);
    assert_eq!(r.count("skipped"), 1, "k0 was finished before the kill");
    assert_eq!(
        r.count("done"),
        3,
        "the dead pid's claim was taken over at once"
    );
    let n = names(&d);
    for i in 0..4 {
        assert!(n.contains(&format!("k{i}.srt")) && n.contains(&format!(".k{i}.subtitles.done")));
    }
    assert!(
        !n.iter()
            .any(|x| x.contains(".tmp-") || x.ends_with(".claim")),
        "{n:?}"
    );
    let done: Vec<_> = stats_lines(&d)
        .into_iter()
        .filter(|l| l.result == "done")
        .collect();
    assert_eq!(done.len(), 4, "each scene committed exactly once");
}

#[test]
fn two_processes_on_one_folder_share_the_scenes() {
    let d = tmpdir("two");
    for i in 0..8 {
        let t = ["s1.mkv", "s2.webm", "s3.mkv"][i % 3];
        put(
            &d,
            t,
            format!("tape1_scene_{i:04}.{}", t.rsplit('.').next().unwrap()),
        );
    }
    let t0 = Instant::now();
    let a = spawn_child(&d, "GPU.0", 0.4);
    let b = spawn_child(&d, "GPU.1", 0.4);
    let oa = a.wait_with_output().unwrap();
    let ob = b.wait_with_output().unwrap();
    let wall = t0.elapsed();
    let sa = String::from_utf8_lossy(&oa.stdout);
    let sb = String::from_utf8_lossy(&ob.stdout);
    println!(
        "{}\n{}",
        sa.lines()
            .find(|l| l.contains("CHILD error="))
            .unwrap_or(""),
        sb.lines()
            .find(|l| l.contains("CHILD error="))
            .unwrap_or("")
    );
    assert!(
        sa.contains("CHILD error=None") && sb.contains("CHILD error=None"),
        "{sa}\n{sb}"
    );
    let lines = stats_lines(&d);
    let mut scenes: Vec<_> = lines.iter().map(|l| l.scene.clone()).collect();
    scenes.sort();
    let before = scenes.len();
    scenes.dedup();
    assert_eq!(
        (before, scenes.len()),
        (8, 8),
        "every scene processed exactly once"
    );
    let by0 = lines.iter().filter(|l| l.device == "GPU.0").count();
    let by1 = lines.iter().filter(|l| l.device == "GPU.1").count();
    println!("GPU.0 did {by0}, GPU.1 did {by1}, wall {wall:?}");
    assert!(by0 >= 1 && by1 >= 1, "both pipelines worked: {by0} / {by1}");
    let r = gstsceneckpt::stats::summarize(&lines);
    println!("{}", gstsceneckpt::stats::format_table(&r));
    assert!(
        r.speedup > 1.1,
        "two pipelines overlap: speed-up {}",
        r.speedup
    );
    assert!(!names(&d)
        .iter()
        .any(|x| x.ends_with(".claim") || x.contains(".tmp-")));
}

#[test]
fn live_claims_are_left_alone_and_globs_select_scenes() {
    let d = tmpdir("busy");
    put(&d, "s1.mkv", "s1.mkv");
    put(&d, "s2.webm", "s2.webm");
    put(&d, "s3.mkv", "s3.mkv");
    // A live claim (this very process, fresh heartbeat) on s2: another pipeline is on it.
    std::fs::write(
        d.join(".s2.subtitles.claim"),
        format!(
            r#"{{"pid":{},"host":"{}","device-label":"GPU.7"}}"#,
            std::process::id(),
            fsutil::hostname()
        ),
    )
    .unwrap();
    let r = run(&[loc(&d), ("device-label", v("GPU.0"))], 0.0);
    assert_eq!(r.error, None);
    assert_eq!(r.count("done"), 2);
    assert!(!d.join("s2.srt").exists());
    let last = r.progress.last().unwrap();
    assert_eq!(last.get::<u32>("in-progress-elsewhere").unwrap(), 1);
    assert_eq!(last.get::<u32>("total").unwrap(), 3);
    assert!(
        d.join(".s2.subtitles.claim").exists(),
        "a live claim is not touched"
    );
    // The same claim gone stale (old heartbeat) is taken over.
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(d.join(".s2.subtitles.claim"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let r = run(&[loc(&d), ("stale-seconds", v(60u32))], 0.0);
    assert_eq!((r.count("done"), r.count("skipped")), (1, 2));
    assert!(d.join("s2.srt").exists() && !d.join(".s2.subtitles.claim").exists());

    // A glob picks its matches only.
    let g = tmpdir("glob");
    put(&g, "s1.mkv", "tape1_a.mkv");
    put(&g, "s2.webm", "tape2_b.webm");
    let r = run(&[("location", v(g.join("tape1_*").to_str().unwrap()))], 0.0);
    assert_eq!(r.error, None);
    assert_eq!(r.count("done"), 1);
    assert!(g.join("tape1_a.srt").exists() && !g.join("tape2_b.srt").exists());
}

#[test]
fn claim_of_a_peer_that_dies_mid_run_is_taken_over_by_a_running_pipeline() {
    let d = tmpdir("peerdies");
    put(&d, "s1.mkv", "a.mkv");
    put(&d, "s2.webm", "b.webm");
    put(&d, "s3.mkv", "c.mkv");
    // A "peer pipeline" holding b: a live process that dies while we are busy with c.
    let mut peer = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(
        d.join(".b.subtitles.claim"),
        format!(
            r#"{{"pid":{},"host":"{}","device-label":"GPU.1"}}"#,
            peer.id(),
            fsutil::hostname()
        ),
    )
    .unwrap();
    let pid = peer.id() as i32;
    let c_claim = d.join(".c.subtitles.claim");
    let killer = std::thread::spawn(move || {
        // Once c is claimed, b has been found busy: the peer dies now.
        let t0 = Instant::now();
        while !c_claim.exists() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        peer.wait().unwrap();
    });
    // ~1 s of wall time per audio second: a takes ~1.1 s, c ~1.9 s.
    let r = run(&[loc(&d)], 1.0);
    killer.join().unwrap();
    assert_eq!(r.error, None);
    let order: Vec<&str> = r
        .scenes
        .iter()
        .filter(|(_, s)| s == "started")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(order, ["a", "c", "b"], "b revisited after the first pass");
    assert_eq!(r.count("done"), 3);
    assert_eq!(
        r.progress
            .last()
            .unwrap()
            .get::<u32>("in-progress-elsewhere")
            .unwrap(),
        0
    );
    assert!(d.join(".b.subtitles.done").exists() && !d.join(".b.subtitles.claim").exists());
}

#[test]
fn file_size_limit_behaves_like_a_full_disk() {
    let d = tmpdir("fsize");
    put(&d, "s1.mkv", "s1.mkv");
    put(&d, "s3.mkv", "s3.mkv");
    let out = tmpdir("fsize-out");
    // An earlier, finished output of s3 that must survive.
    std::fs::write(out.join("s3.srt"), "earlier").unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_pipeline",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SCENECKPT_CHILD_LOCATION", &d)
        .env("SCENECKPT_CHILD_OUTPUT", &out)
        .env("SCENECKPT_CHILD_FSIZE", "40000")
        .output()
        .unwrap();
    let so = String::from_utf8_lossy(&child.stdout);
    let line = so
        .lines()
        .find(|l| l.contains("CHILD error="))
        .unwrap_or_else(|| panic!("{so}"));
    println!("{line}");
    // s1 is 1.1 s of audio = 70 kB of F32: past the 40 kB limit.
    assert!(
        line.contains("File too large") && line.contains(".s1.srt.tmp-"),
        "{line}"
    );
    assert!(!out.join(".s1.subtitles.done").exists());
    assert!(!out.join(".s1.subtitles.claim").exists(), "claim released");
    assert_eq!(
        std::fs::read_to_string(out.join("s3.srt")).unwrap(),
        "earlier"
    );
    assert!(
        names(&out).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names(&out)
    );
}
