//! The demo needs nothing outside the repository (issue 9, item 11): `tools/make-scenes.sh` makes
//! the sample scenes from `assets/speech` with no `../shared/speech`, and `examples/per-card.sh`
//! runs them on two CPU workers, quietly, keeping our elements' INFO debug log in each card's log.

use arcwhisper_integration_tests::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs a repository script with stdout and stderr in files; returns (exit code, stdout, stderr).
fn script(dir: &Path, name: &str, cmd: &mut Command) -> (Option<i32>, String, String) {
    let (out, err) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let mut child = cmd
        .env("ARCWHISPER_SPEECH_DIR", dir.join("no-such-speech-dir"))
        .env("CARGO_TARGET_DIR", build_dir().parent().unwrap())
        .env_remove("GST_DEBUG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let status = wait_with_timeout(&mut child, Duration::from_secs(600));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    (status.code(), read(&out), read(&err))
}

#[test]
fn demo_runs_from_the_repository_alone_quietly_with_debug_logs() {
    let _serial = require_setup();
    let dir = std::env::temp_dir().join(format!("arcwhisper-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (scenes, refs) = (dir.join("scenes"), dir.join("refs"));
    let root = repo_root();

    let (code, _, err) = script(
        &dir,
        "make-scenes",
        Command::new(root.join("tools/make-scenes.sh"))
            .arg("--refs")
            .arg(&refs)
            .arg(&scenes),
    );
    assert_eq!(code, Some(0), "make-scenes.sh: {err}");
    assert!(err.contains("6 made"), "{err}");

    let per_card = || {
        let mut c = Command::new(root.join("examples/per-card.sh"));
        c.arg("--scenes").arg(&scenes);
        c.args(["--model", "tiny.en", "--quiet", "CPU:0", "CPU:1"]);
        c
    };
    let (code, out, err) = script(&dir, "per-card", &mut per_card());
    assert_eq!(code, Some(0), "per-card.sh: {out}{err}");
    assert_eq!(out, "scenes done: 6/6, failed: 0\n");
    assert_eq!(
        err, "",
        "--quiet prints nothing on stderr when all goes well"
    );

    for reference in std::fs::read_dir(&refs).unwrap() {
        let reference = reference.unwrap().path();
        let stem = reference.file_stem().unwrap().to_str().unwrap().to_string();
        let said: BTreeSet<String> = words(&std::fs::read_to_string(&reference).unwrap())
            .split(' ')
            .map(str::to_string)
            .collect();
        let heard = srt_text(&scenes.join(format!("{stem}.srt")));
        // Words heard that the reference has (a scene cut short keeps its whole reference).
        let heard: Vec<&str> = heard.split(' ').collect();
        let known = heard.iter().filter(|w| said.contains(**w)).count();
        assert!(
            known as f64 >= 0.8 * heard.len() as f64 && heard.len() >= 5,
            "{stem}: {heard:?}"
        );
    }
    for card in ["CPU_0", "CPU_1"] {
        let log = std::fs::read_to_string(scenes.join(format!("logs/{card}.log"))).unwrap();
        assert!(
            log.starts_with("GST_DEBUG=1,arcwhisper*:4,sceneckpt*:4 gst-launch-1.0"),
            "{card}: {}",
            &log[..log.len().min(200)]
        );
        let info = |category: &str| {
            log.lines()
                .any(|l| l.contains(" INFO ") && l.contains(&format!(" {category} ")))
        };
        assert!(
            info("sceneckpt") && info("sceneckptsink"),
            "{card} log:\n{log}"
        );
    }

    // A rerun skips every scene and says so in one line.
    let (code, out, err) = script(&dir, "rerun", &mut per_card());
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (Some(0), "scenes done: 6/6, failed: 0\n", "")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
