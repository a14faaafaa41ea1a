// SPDX-License-Identifier: MIT OR Apache-2.0
//! Issue 14: what a user sees on the terminal. `gst-launch-1.0` runs this build's plugin as a
//! user runs it; the worker's log goes to GStreamer's debug system, never to the terminal.

mod common;

use common::*;
use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A plugin folder holding only the plugin built with this test binary (next to it in
/// `deps/`), and a registry of its own.
fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        init();
        let exe = std::env::current_exe().unwrap();
        let so = exe.parent().unwrap().join("libgstarcwhisper.so");
        assert!(
            so.is_file(),
            "{} is missing: it is built with this test binary by cargo test -p gst-plugin-arcwhisper",
            so.display()
        );
        let dir = tmpdir("plugin");
        std::fs::copy(&so, dir.join("libgstarcwhisper.so")).unwrap();
        dir
    })
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `gst-launch-1.0 <args>` with this build's plugin and worker, no debug settings inherited
/// except `env`; killed (and the test failed) after 300 s.
fn gst_launch(args: &[&str], env: &[(&str, &Path)], tag: &str) -> Run {
    let dir = tmpdir(&format!("launch-{tag}"));
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.args(args)
        .env_remove("GST_DEBUG")
        .env_remove("GST_DEBUG_FILE")
        .env("GST_DEBUG_NO_COLOR", "1")
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY", plugin_dir().join("registry.bin"))
        .env("ARCWHISPER_WORKER", worker_binary())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("gst-launch-1.0 runs");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gst-launch-1.0 {args:?} ran over 300 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        ok: status.success(),
        stdout: std::fs::read_to_string(out).unwrap(),
        stderr: std::fs::read_to_string(err).unwrap(),
    }
}

fn jfk_args(out: &Path) -> Vec<String> {
    format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper model=tiny.en ! srtenc ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        out.display()
    )
    .split(' ')
    .map(String::from)
    .collect()
}

/// The command with `-q` prints nothing at all when nothing goes wrong.
#[test]
fn quiet_launch_prints_nothing() {
    let out = tmpdir("quiet").join("jfk.srt");
    let mut args = vec!["-q".to_string()];
    args.extend(jfk_args(&out));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = gst_launch(&args, &[], "quiet");
    assert!(r.ok, "failed:\n{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "", "stdout not empty");
    assert_eq!(r.stderr, "", "stderr not empty");
    let srt = std::fs::read_to_string(&out).unwrap();
    // The phrase may run over two cues (shaped cues end at the 42-character lines), so the cue
    // texts are joined, not the file's lines (numbers and times would sit between the words).
    let cues = parse_srt(&srt);
    let text: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
    assert!(
        words(&text.join(" ")).contains("ask not what your country"),
        "{srt}"
    );
}

/// With `GST_DEBUG=arcwhisper:5` and `GST_DEBUG_FILE`, the worker's log lines are in the file,
/// tagged with its pid, at their levels; the terminal still gets nothing from the worker.
#[test]
fn worker_log_lines_go_to_the_debug_file() {
    let dir = tmpdir("debug-file");
    let (out, log) = (dir.join("jfk.srt"), dir.join("gst.log"));
    let mut args = vec!["-q".to_string()];
    args.extend(jfk_args(&out));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let level = PathBuf::from("arcwhisper:5");
    let r = gst_launch(
        &args,
        &[("GST_DEBUG", &level), ("GST_DEBUG_FILE", &log)],
        "debug-file",
    );
    assert!(r.ok, "failed:\n{}{}", r.stdout, r.stderr);
    assert!(
        !r.stderr.contains("arcwhisper-worker["),
        "worker lines on the terminal:\n{}",
        r.stderr
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let line = |needle: &str| -> &str {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in {}:\n{text}", log.display()))
    };
    let hello = line("]: hello pid=");
    let pid = hello
        .split("arcwhisper-worker[")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap()
        .to_string();
    eprintln!("{hello}");
    assert!(hello.contains(" INFO "), "{hello}");
    assert!(hello.contains(&format!("hello pid={pid}")), "{hello}");
    let segments = line(&format!("arcwhisper-worker[{pid}]: segments n="));
    assert!(segments.contains(" DEBUG "), "{segments}");
    let load = line(&format!(
        "arcwhisper-worker[{pid}]: model-load name=tiny.en"
    ));
    assert!(load.contains(" INFO "), "{load}");
    // The element's own summary of the start.
    line(&format!("worker-start pid={pid} device=CPU"));
}

/// The default model chain (`medium,small,base-int8,base,tiny-int8,tiny`) on a machine with
/// the set-up's models: the names that are not installed are expected, not news: no warning on
/// the bus.
#[test]
fn default_model_chain_posts_no_warning() {
    init();
    let out = tmpdir("default-chain").join("jfk.srt");
    let p = launch(&format!(
        "filesrc location={} ! decodebin ! audioconvert ! audioresample ! arcwhisper name=w ! srtenc ! filesink location={}",
        speech("jfk/jfk.flac").display(),
        out.display()
    ));
    let o = run(&p, Duration::from_secs(300));
    assert!(o.error.is_none(), "{:?}", o.error);
    assert_eq!(o.warnings, Vec::<String>::new());
    let loaded = p.by_name("w").unwrap().property::<String>("loaded-model");
    eprintln!("default chain loaded {loaded}");
    assert!(words(&std::fs::read_to_string(&out).unwrap()).contains("your country"));
}
