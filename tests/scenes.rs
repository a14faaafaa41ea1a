//! Issue #4's must-shows, with real pipelines (`sceneckpt ! arcwhisper ! sceneckptsink`), real
//! speech scenes made at test time as video files with audio tracks, and the real tiny.en model.

use arcwhisper_integration_tests::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reference words of a clip (its transcript beside it).
fn reference(clip: &Path) -> String {
    words(&std::fs::read_to_string(clip.with_extension("txt")).unwrap())
}

/// Share of the reference's words found in the hypothesis (order-free): a coarse but honest
/// check that the SRT holds the clip's speech; WER proper is measured by tools/bench.
fn recall(hyp: &str, reference: &str) -> f64 {
    let hyp: std::collections::HashSet<&str> = hyp.split_whitespace().collect();
    let r: Vec<&str> = reference.split_whitespace().collect();
    r.iter().filter(|w| hyp.contains(*w)).count() as f64 / r.len().max(1) as f64
}

fn english_clips() -> Vec<PathBuf> {
    let mut v = vec![clip("jfk/jfk.flac")];
    for i in 1..=16 {
        v.push(clip(&format!("ljspeech/LJ001-{i:04}.wav")));
    }
    v
}

/// Makes `n` scenes from the English clips, in a stable order; returns (stem, clip) pairs.
fn make_scenes(dir: &Path, n: usize) -> Vec<(String, PathBuf)> {
    let clips = english_clips();
    (0..n)
        .map(|i| {
            let c = clips[i % clips.len()].clone();
            let stem = format!("tape1_scene_{:04}", i + 1);
            make_scene(&c, &dir.join(format!("{stem}.mp4")));
            (stem, c)
        })
        .collect()
}

fn assert_scene_done(dir: &Path, stem: &str, clip: &Path) {
    let srt = dir.join(format!("{stem}.srt"));
    let text = srt_text(&srt);
    let r = recall(&text, &reference(clip));
    assert!(
        r >= 0.6,
        "{stem}: SRT words {text:?} recall {r:.2} of {}",
        clip.display()
    );
    let marker = read_json(&done_marker(dir, stem));
    assert_eq!(marker["task"], "subtitles");
    assert!(marker["scene"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{stem}.mp4")));
    assert_eq!(
        marker["model"], "tiny.en",
        "marker records the model: {marker}"
    );
    assert!(
        marker["device"].as_str().is_some_and(|d| !d.is_empty()),
        "{marker}"
    );
}

#[test]
fn folder_run_then_rerun_skips_every_scene_quickly() {
    let _serial = require_setup();
    let tmp = TempDir::new("rerun");
    let scenes = make_scenes(tmp.path(), 4);
    let line = scene_pipeline(tmp.path(), "CPU", "tiny.en", "");
    run_ok(&line);
    for (stem, c) in &scenes {
        assert_scene_done(tmp.path(), stem, c);
    }
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
    let before = outputs(tmp.path());
    let stats_before = stats(tmp.path()).len();
    assert_eq!(stats_before, 4);

    let t0 = Instant::now();
    let out = run_ok(&line);
    let took = t0.elapsed();
    let log = String::from_utf8_lossy(&out.stdout);
    // Well under a second per scene, worker start included.
    assert!(
        took < Duration::from_secs(scenes.len() as u64),
        "rerun took {took:?} for {} scenes",
        scenes.len()
    );
    assert!(
        !log.contains("arcwhisper-worker-started"),
        "a rerun with nothing to do must start no inference:\n{log}"
    );
    assert_eq!(
        outputs(tmp.path()),
        before,
        "outputs untouched by the rerun"
    );
    assert_eq!(stats(tmp.path()).len(), stats_before, "no scene redone");
    eprintln!("rerun of {} done scenes: {took:?}", scenes.len());

    // A tampered output is redone, the others stay skipped.
    let victim = tmp.path().join(format!("{}.srt", scenes[1].0));
    std::fs::write(&victim, "1\n00:00:00,000 --> 00:00:01,000\ntampered\n\n").unwrap();
    run_ok(&line);
    assert_eq!(
        outputs(tmp.path()),
        before,
        "the tampered scene was redone identically"
    );
    assert_eq!(stats(tmp.path()).len(), stats_before + 1);
}

#[test]
fn kill_9_of_the_pipeline_then_rerun_equals_an_undisturbed_run() {
    let _serial = require_setup();
    let reference_dir = TempDir::new("undisturbed");
    let scenes = make_scenes(reference_dir.path(), 5);
    let line = scene_pipeline(reference_dir.path(), "CPU", "tiny.en", "");
    let t0 = Instant::now();
    run_ok(&line);
    let full = t0.elapsed();
    let want = outputs(reference_dir.path());
    assert_eq!(want.len(), scenes.len());

    let mut rng = Lcg(0x5eed_0004);
    for round in 0..3 {
        let tmp = TempDir::new("kill9");
        for (stem, _) in &scenes {
            let name = format!("{stem}.mp4");
            std::fs::copy(reference_dir.path().join(&name), tmp.path().join(&name)).unwrap();
        }
        let log = tmp.path().join("run.log");
        let mut child = spawn_scene_pipeline(tmp.path(), "CPU", "tiny.en", &log);
        let at = full.mul_f64(0.1 + 0.8 * rng.next_f64());
        std::thread::sleep(at);
        let workers = children(child.id());
        kill9(child.id());
        let _ = child.wait();
        // The workers notice their parent is gone and exit by themselves.
        let t = Instant::now();
        while workers
            .iter()
            .any(|w| Path::new(&format!("/proc/{w}")).exists())
            && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        // What the killed run left that looks finished must really be finished.
        for (stem, _) in &scenes {
            if done_marker(tmp.path(), stem).exists() {
                let srt = format!("{stem}.srt");
                assert_eq!(
                    std::fs::read(tmp.path().join(&srt)).ok().as_ref(),
                    want.get(&srt),
                    "round {round}: {stem} marked done after kill at {at:?} but differs"
                );
            }
        }
        let line = scene_pipeline(tmp.path(), "CPU", "tiny.en", "");
        run_ok(&line);
        assert_eq!(outputs(tmp.path()), want, "round {round}: killed at {at:?}");
        for (stem, _) in &scenes {
            let m = read_json(&done_marker(tmp.path(), stem));
            assert_eq!(m["task"], "subtitles");
        }
        assert!(
            leftovers(tmp.path()).is_empty(),
            "round {round}: {:?}",
            leftovers(tmp.path())
        );
        eprintln!("round {round}: killed at {at:?} of {full:?}; rerun identical");
    }
}

#[test]
fn two_pipelines_share_twenty_uneven_scenes_once_each_and_finish_together() {
    let _serial = require_setup();
    let tmp = TempDir::new("two-cards");
    // Uneven lengths: the English clips (1.8 s to 11 s) and some of them twice in a row.
    let clips = english_clips();
    let mut expected = Vec::new();
    for i in 0..20 {
        let stem = format!("tape2_scene_{:04}", i + 1);
        let out = tmp.path().join(format!("{stem}.mp4"));
        if i % 5 == 4 {
            let wav = tmp.path().join(format!(".long{i}.wav"));
            concat_clips(
                &[
                    clips[i % clips.len()].clone(),
                    clips[(i + 3) % clips.len()].clone(),
                ],
                0.5,
                &wav,
            );
            make_scene(&wav, &out);
            std::fs::remove_file(&wav).unwrap();
        } else {
            make_scene(&clips[i % clips.len()], &out);
        }
        expected.push(stem);
    }
    let mut a = spawn_scene_pipeline(
        tmp.path(),
        "CPU:0",
        "tiny.en",
        &tmp.path().join("card0.log"),
    );
    let mut b = spawn_scene_pipeline(
        tmp.path(),
        "CPU:1",
        "tiny.en",
        &tmp.path().join("card1.log"),
    );
    let sa = wait_with_timeout(&mut a, Duration::from_secs(600));
    let sb = wait_with_timeout(&mut b, Duration::from_secs(600));
    let logs = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap_or_default();
    assert!(sa.success(), "card0 failed:\n{}", logs("card0.log"));
    assert!(sb.success(), "card1 failed:\n{}", logs("card1.log"));

    let records = stats(tmp.path());
    let mut per_scene = std::collections::BTreeMap::<String, usize>::new();
    let mut spans = std::collections::BTreeMap::<String, (f64, f64, usize)>::new();
    for r in &records {
        assert_eq!(r["result"], "done", "{r}");
        let scene = r["scene"].as_str().unwrap().to_string();
        *per_scene.entry(scene).or_default() += 1;
        let dev = r["device"].as_str().unwrap().to_string();
        let (s, f) = (
            epoch_seconds(r["started"].as_str().unwrap()),
            epoch_seconds(r["finished"].as_str().unwrap()),
        );
        let e = spans.entry(dev).or_insert((f64::MAX, f64::MIN, 0));
        e.0 = e.0.min(s);
        e.1 = e.1.max(f);
        e.2 += 1;
    }
    assert_eq!(per_scene.len(), 20, "every scene processed: {per_scene:?}");
    assert!(
        per_scene.values().all(|&n| n == 1),
        "each exactly once: {per_scene:?}"
    );
    for stem in &expected {
        assert!(done_marker(tmp.path(), stem).exists(), "{stem} done");
    }
    assert_eq!(spans.len(), 2, "both devices worked: {spans:?}");
    // Balance: the two pipelines end within 20% of each other (from the common start).
    let start = spans.values().map(|s| s.0).fold(f64::MAX, f64::min);
    let ends: Vec<f64> = spans.values().map(|s| s.1 - start).collect();
    let ratio =
        ends.iter().cloned().fold(f64::MAX, f64::min) / ends.iter().cloned().fold(0.0, f64::max);
    eprintln!("balance ratio {ratio:.3}; per device (first start, last end, scenes): {spans:?}");
    assert!(ratio >= 0.8, "balance ratio {ratio:.3} < 0.8: {spans:?}");
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
}

#[test]
fn a_corrupt_scene_among_good_ones_gets_a_failed_marker_and_the_rest_are_done() {
    let _serial = require_setup();
    let tmp = TempDir::new("corrupt");
    let good = make_scenes(tmp.path(), 2);
    // A truncated video: the first 3 KiB of a real scene.
    let real = std::fs::read(tmp.path().join(format!("{}.mp4", good[0].0))).unwrap();
    std::fs::write(
        tmp.path().join("tape1_scene_0003_truncated.mp4"),
        &real[..3072],
    )
    .unwrap();
    std::fs::write(tmp.path().join("tape1_scene_0004_empty.mp4"), b"").unwrap();
    std::fs::write(
        tmp.path().join("tape1_scene_0005_text.mp4"),
        b"not a video, a note\n",
    )
    .unwrap();
    let line = scene_pipeline(tmp.path(), "CPU", "tiny.en", "");
    run_ok(&line);
    for (stem, c) in &good {
        assert_scene_done(tmp.path(), stem, c);
    }
    for stem in [
        "tape1_scene_0003_truncated",
        "tape1_scene_0004_empty",
        "tape1_scene_0005_text",
    ] {
        let failed = tmp.path().join(format!(".{stem}.subtitles.failed"));
        let m = read_json(&failed);
        assert!(
            m["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{stem}: the failed marker names the error: {m}"
        );
        assert!(!done_marker(tmp.path(), stem).exists());
        assert!(
            !tmp.path().join(format!("{stem}.srt")).exists(),
            "{stem}: no SRT"
        );
    }
}
