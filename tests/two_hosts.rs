//! Issue #13: several hosts on one scene folder, simulated on this machine. Each "host" is a
//! real pipeline (`sceneckpt ! arcwhisper model=tiny.en ! sceneckptsink`) in its own UTS
//! namespace (its own hostname) and PID namespace (`gst-launch-1.0` is pid 1 in every host, so
//! pids collide on purpose), sharing one scene folder, as PCs share a NAS folder.
//!
//! Needs `unshare` and the right to create namespaces (root, as CI runs); fails, naming the
//! cause, when they are missing.

use arcwhisper_integration_tests::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

const SCENES: usize = 6;

/// `gst-launch-1.0 -e -m <line>` as pid 1 of a fresh PID namespace with hostname `host`.
fn on_host(host: &str, line: &str, debug: bool) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--uts",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "sh",
        "-c",
        r#"hostname "$0" && exec gst-launch-1.0 -e -m "$@""#,
        host,
    ])
    .args(shell_words(line))
    .env("GST_PLUGIN_PATH", build_dir())
    .stdin(Stdio::null());
    if debug {
        cmd.env("GST_DEBUG", "sceneckpt:4");
    }
    cmd
}

fn spawn_on_host(host: &str, line: &str, log: &Path, debug: bool) -> Child {
    let f = std::fs::File::create(log).unwrap();
    on_host(host, line, debug)
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("unshare runs")
}

/// Runs a host's pipeline to its end; panics with its log when it fails.
fn run_on_host(host: &str, line: &str, log: &Path) -> String {
    let mut child = spawn_on_host(host, line, log, true);
    let st = wait_with_timeout(&mut child, PIPELINE_LIMIT);
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(st.success(), "{host} failed: {line}\n{text}");
    text
}

fn require_namespaces() {
    let out = Command::new("unshare")
        .args(["--uts", "--pid", "--fork", "--mount-proc", "sh", "-c"])
        .arg("hostname ns-probe && hostname && echo $$")
        .output();
    let ok = matches!(&out, Ok(o) if o.status.success()
        && String::from_utf8_lossy(&o.stdout) == "ns-probe\n1\n");
    assert!(
        ok,
        "these tests simulate hosts with `unshare --uts --pid --fork --mount-proc`, which failed \
         here ({out:?}): run them as root (or with CAP_SYS_ADMIN), with util-linux installed"
    );
}

/// The six scenes (jfk and LJSpeech clips as short video files) and their SRTs from one
/// undisturbed single-host run: every test compares with these.
fn reference() -> &'static (PathBuf, BTreeMap<String, Vec<u8>>) {
    static REF: OnceLock<(PathBuf, BTreeMap<String, Vec<u8>>)> = OnceLock::new();
    REF.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "arcwhisper-it-two-hosts-ref-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        REF_DIR.set(dir.clone()).unwrap();
        // SAFETY: registers a plain extern "C" function that only removes a folder.
        unsafe { libc::atexit(remove_reference) };
        let mut clips = vec![clip("jfk/jfk.flac")];
        clips.extend((1..SCENES).map(|i| clip(&format!("ljspeech/LJ001-{i:04}.wav"))));
        for (i, c) in clips.iter().enumerate() {
            make_scene(c, &dir.join(format!("scene_{:02}.mp4", i + 1)));
        }
        run_ok(&scene_pipeline(&dir, "CPU", "tiny.en", ""));
        let want = outputs(&dir);
        assert_eq!(want.len(), SCENES);
        (dir, want)
    })
}

static REF_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_reference() {
    if let Some(d) = REF_DIR.get() {
        if std::env::var_os("ARCWHISPER_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A fresh folder with copies of the reference scenes (no results).
fn fresh_folder(tag: &str) -> TempDir {
    let (dir, _) = reference();
    let tmp = TempDir::new(tag);
    for i in 1..=SCENES {
        let name = format!("scene_{i:02}.mp4");
        std::fs::copy(dir.join(&name), tmp.path().join(&name)).unwrap();
    }
    tmp
}

fn claim_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(".{stem}.subtitles.claim"))
}

/// Number of `done` stats records per scene stem, and the hosts that wrote them.
fn done_per_scene(dir: &Path) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let (mut scenes, mut hosts) = (BTreeMap::new(), BTreeMap::new());
    for r in stats(dir) {
        if r["result"] != "done" {
            continue;
        }
        let stem = Path::new(r["scene"].as_str().unwrap())
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        *scenes.entry(stem).or_default() += 1;
        *hosts
            .entry(r["host"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    (scenes, hosts)
}

fn assert_each_scene_once_and_as_undisturbed(dir: &Path) {
    let (scenes, _) = done_per_scene(dir);
    assert_eq!(scenes.len(), SCENES, "every scene done: {scenes:?}");
    assert!(
        scenes.values().all(|&n| n == 1),
        "each exactly once: {scenes:?}"
    );
    assert_eq!(
        &outputs(dir),
        &reference().1,
        "SRTs equal the undisturbed run"
    );
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mtime_age(p: &Path) -> Option<Duration> {
    let m = std::fs::metadata(p).ok()?.modified().ok()?;
    // None for an mtime in the future.
    SystemTime::now().duration_since(m).ok()
}

fn touch(p: &Path, when: &str) {
    let st = Command::new("touch")
        .args(["-m", "-d", when])
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "touch -d {when} {}", p.display());
}

/// The line number of the first log line containing all of `parts`.
fn log_line(log: &str, parts: &[&str]) -> Option<usize> {
    log.lines()
        .position(|l| parts.iter().all(|p| l.contains(p)))
}

#[test]
fn two_hosts_do_every_scene_exactly_once() {
    let _serial = require_setup();
    require_namespaces();
    let tmp = fresh_folder("two-hosts");
    let d = tmp.path();
    let line = |dev: &str| scene_pipeline(d, dev, "tiny.en", &format!("device-label={dev}"));
    let mut a = spawn_on_host("hostA", &line("CPU:0"), &d.join("a.log"), false);
    let mut b = spawn_on_host("hostB", &line("CPU:1"), &d.join("b.log"), false);
    let (sa, sb) = (
        wait_with_timeout(&mut a, PIPELINE_LIMIT),
        wait_with_timeout(&mut b, PIPELINE_LIMIT),
    );
    let log = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    assert!(sa.success(), "hostA failed:\n{}", log("a.log"));
    assert!(sb.success(), "hostB failed:\n{}", log("b.log"));
    std::fs::remove_file(d.join("a.log")).unwrap();
    std::fs::remove_file(d.join("b.log")).unwrap();

    assert_each_scene_once_and_as_undisturbed(d);
    let (_, hosts) = done_per_scene(d);
    eprintln!("scenes per host: {hosts:?}");
    assert_eq!(
        hosts.keys().map(String::as_str).collect::<Vec<_>>(),
        ["hostA", "hostB"],
        "both hosts worked and the stats name them: {hosts:?}"
    );
    for i in 1..=SCENES {
        let m = read_json(&done_marker(d, &format!("scene_{i:02}")));
        assert!(m["host"] == "hostA" || m["host"] == "hostB", "{m}");
        assert_eq!(
            m["pid"], 1,
            "pids collide: gst-launch is pid 1 on both hosts: {m}"
        );
    }
    // The report groups by host and device and shows the host balance.
    let out = Command::new(build_dir().join("sceneckpt-report"))
        .arg(d)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    for want in [
        "hostA/CPU:0",
        "hostB/CPU:1",
        "host balance (min/max busy span)",
    ] {
        assert!(text.contains(want), "report lacks {want:?}:\n{text}");
    }
}

#[test]
fn kill_9_of_one_host_mid_scene_the_other_takes_over_after_the_stale_time() {
    let _serial = require_setup();
    require_namespaces();
    let tmp = fresh_folder("host-kill9");
    let d = tmp.path();
    let stale = 4;
    let line = scene_pipeline(d, "CPU", "tiny.en", &format!("stale-seconds={stale}"));
    // hostB alone takes the first scene; it dies (kill -9 of its pipeline, the namespace's pid 1,
    // which takes its worker with it: the host is gone) while working on it.
    let mut b = spawn_on_host("hostB", &line, &d.join("b.log"), false);
    let claim = claim_path(d, "scene_01");
    wait_for("hostB's claim", Duration::from_secs(60), || {
        std::fs::read_to_string(&claim).is_ok_and(|c| c.contains("\"hostB\""))
    });
    // Killed as soon as its worker is up (loading the model): mid-scene for sure. A fixed sleep
    // raced the scene, which tiny.en finishes in 0.8-1.2 s of wall time here.
    let inner = children(b.id());
    assert_eq!(inner.len(), 1, "unshare has one child: {inner:?}");
    wait_for("hostB's worker", Duration::from_secs(60), || {
        !children(inner[0]).is_empty()
    });
    kill9(inner[0]);
    let _ = wait_with_timeout(&mut b, Duration::from_secs(30));
    assert!(
        !done_marker(d, "scene_01").exists(),
        "hostB was killed before finishing scene_01"
    );
    assert!(claim.exists(), "hostB's claim stays behind");

    // hostA starts while that claim still looks live (heartbeat younger than stale-seconds):
    // it leaves the scene, does the others, and takes it over on its second look, after the
    // stale time.
    wait_for("the claim to age 1.5 s", Duration::from_secs(10), || {
        mtime_age(&claim).is_some_and(|a| a >= Duration::from_millis(1500))
    });
    let log = run_on_host("hostA", &line, &d.join("a.log"));
    let busy = log_line(
        &log,
        &["scene_01", "in progress elsewhere", "pid 1 on hostB"],
    );
    let took = log_line(
        &log,
        &[
            "took over stale claim",
            "scene_01",
            "on the file server's clock",
        ],
    );
    assert!(
        busy.is_some(),
        "hostA first left hostB's scene alone:\n{log}"
    );
    assert!(
        took > busy,
        "then took it over after the stale time:\n{log}"
    );
    eprintln!(
        "{}",
        log.lines().nth(took.unwrap()).unwrap_or_default().trim()
    );
    std::fs::remove_file(d.join("a.log")).unwrap();
    std::fs::remove_file(d.join("b.log")).unwrap();
    assert_each_scene_once_and_as_undisturbed(d);
}

#[test]
fn a_live_claim_of_another_host_with_the_same_pid_or_a_skewed_clock_is_never_taken_over() {
    let _serial = require_setup();
    require_namespaces();
    // One long scene (every reference clip twice in a row, ~80 s of speech) for hostB to work on.
    let (refdir, _) = reference();
    let tmp = TempDir::new("host-live");
    let d = tmp.path();
    let wav = d.join(".long.wav");
    let clips: Vec<PathBuf> = (1..=2 * SCENES)
        .map(|i| refdir.join(format!("scene_{:02}.mp4", (i - 1) % SCENES + 1)))
        .collect();
    concat_clips(&clips, 0.5, &wav);
    make_scene(&wav, &d.join("long.mp4"));
    std::fs::remove_file(&wav).unwrap();

    let stale = 3;
    let line = scene_pipeline(d, "CPU", "tiny.en", &format!("stale-seconds={stale}"));
    let mut b = spawn_on_host("hostB", &line, &d.join("b.log"), false);
    let claim = claim_path(d, "long");
    wait_for("hostB's claim", Duration::from_secs(60), || {
        std::fs::read_to_string(&claim).is_ok_and(|c| c.contains("\"hostB\""))
    });
    // hostA (also pid 1, like hostB's pipeline) looks again and again for more than 2 x
    // stale-seconds, while hostB's clock is made to jump an hour ahead.
    let t0 = Instant::now();
    let (mut looks, mut skewed, mut repaired) = (0, false, false);
    while b.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(4 * stale) {
        if !skewed && t0.elapsed() > Duration::from_secs(stale) {
            touch(&claim, "+1 hour");
            skewed = true;
        }
        let log = run_on_host("hostA", &line, &d.join("a.log"));
        if log.contains("skipping done scene") {
            break; // hostB has just committed it
        }
        assert!(
            log_line(&log, &["long", "in progress elsewhere", "pid 1 on hostB"]).is_some(),
            "hostA leaves hostB's live claim alone:\n{log}"
        );
        assert!(!log.contains("took over"), "{log}");
        looks += 1;
        if skewed && mtime_age(&claim).is_some_and(|a| a < Duration::from_secs(5)) {
            repaired = true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let watched = t0.elapsed();
    let sb = wait_with_timeout(&mut b, PIPELINE_LIMIT);
    let blog = std::fs::read_to_string(d.join("b.log")).unwrap_or_default();
    assert!(sb.success(), "hostB failed:\n{blog}");
    eprintln!("hostA looked {looks} times over {watched:?}");
    assert!(
        watched >= Duration::from_secs(2 * stale),
        "hostB's scene lasted long enough to test anything ({watched:?})"
    );
    assert!(
        skewed && repaired,
        "hostB's next heartbeat put the mtime back on the server's clock"
    );
    let (scenes, hosts) = done_per_scene(d);
    assert_eq!(scenes.get("long"), Some(&1), "{scenes:?}");
    assert_eq!(hosts.keys().collect::<Vec<_>>(), ["hostB"], "{hosts:?}");
    std::fs::remove_file(d.join("a.log")).unwrap();
    std::fs::remove_file(d.join("b.log")).unwrap();
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

#[test]
fn dead_hosts_claims_with_skewed_heartbeats_are_taken_over_as_documented() {
    let _serial = require_setup();
    require_namespaces();
    let tmp = fresh_folder("host-skew");
    let d = tmp.path();
    // Two claims left by a dead hostB (pid 1, like every host's pipeline), in the exact form
    // sceneckpt writes them: one whose clock ran an hour ahead, one whose last heartbeat is an
    // hour old.
    for (stem, when) in [("scene_01", "+1 hour"), ("scene_02", "-1 hour")] {
        let c = serde_json::json!({
            "pid": 1, "host": "hostB", "device-label": "CPU", "device": "CPU",
            "started": "2026-11-30T00:00:00.000Z", "scene": d.join(format!("{stem}.mp4")),
            "task": "subtitles"
        });
        let p = claim_path(d, stem);
        std::fs::write(&p, format!("{c}\n")).unwrap();
        touch(&p, when);
    }
    let stale = 2;
    let line = scene_pipeline(d, "CPU", "tiny.en", &format!("stale-seconds={stale}"));
    let log = run_on_host("hostA", &line, &d.join("a.log"));
    // The hour-old heartbeat: stale at first sight, before any other scene.
    let old = log_line(&log, &["took over stale claim", "scene_02", "3600 s old"]);
    assert!(old.is_some(), "{log}");
    // The future one: left alone at first sight (its age is unknown), taken over once hostA
    // had seen the same mtime for stale-seconds.
    let busy = log_line(
        &log,
        &["scene_01", "in progress elsewhere", "pid 1 on hostB"],
    );
    let future = log_line(
        &log,
        &[
            "took over stale claim",
            "scene_01",
            "in the future, unchanged",
        ],
    );
    assert!(busy.is_some() && future > busy, "{log}");
    std::fs::remove_file(d.join("a.log")).unwrap();
    assert_each_scene_once_and_as_undisturbed(d);
}

/// `examples/slurm/arcwhisper-array.sbatch` as Slurm would start two array tasks on two nodes
/// (the environment a `--gres=gpu:1` task gets: its card in `ZE_AFFINITY_MASK` on one node,
/// in `GPU_DEVICE_ORDINAL` with `SLURM_JOB_GPUS` on the other), with `CPU:` standing in for
/// `GPU.` (no cards here); then `report.sbatch` over the shared folder.
#[test]
fn slurm_array_tasks_on_two_nodes_share_the_folder_and_the_report_shows_both() {
    let _serial = require_setup();
    require_namespaces();
    let tmp = fresh_folder("slurm");
    let d = tmp.path();
    let script = repo_root().join("examples/slurm/arcwhisper-array.sbatch");
    let task = |node: &str, index: &str, card_env: &[(&str, &str)]| {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--uts",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            "sh",
            "-c",
        ])
        .arg(r#"hostname "$0" && exec "$@""#)
        .arg(node)
        .arg(&script)
        .arg(d)
        .env_remove("ZE_AFFINITY_MASK")
        .envs([
            ("SLURM_JOB_ID", "4242"),
            ("SLURM_ARRAY_JOB_ID", "4242"),
            ("SLURM_ARRAY_TASK_ID", index),
            ("ARCWHISPER_DEVICE_PREFIX", "CPU:"),
            ("ARCWHISPER_MODEL", "tiny.en"),
        ])
        .envs(card_env.iter().copied())
        .env("ARCWHISPER_REPO", repo_root())
        .env("GST_PLUGIN_PATH", build_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd.spawn().expect("unshare runs")
    };
    let a = task("node01", "0", &[("ZE_AFFINITY_MASK", "0")]);
    let b = task(
        "node02",
        "1",
        &[("GPU_DEVICE_ORDINAL", "1,0"), ("SLURM_JOB_GPUS", "3,2")],
    );
    for (name, child) in [("node01", a), ("node02", b)] {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        eprintln!("{text}");
        assert!(out.status.success(), "{name}: {text}");
    }
    let logs: Vec<String> = std::fs::read_dir(d.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(logs.len(), 2, "one log per task: {logs:?}");
    assert_each_scene_once_and_as_undisturbed(d);
    // Each task used the card its environment named (CPU:0 on node01, CPU:1 on node02).
    for r in stats(d) {
        let want = if r["host"] == "node01" {
            "CPU:0"
        } else {
            "CPU:1"
        };
        assert_eq!(r["device"], want, "{r}");
    }
    let out = Command::new(repo_root().join("examples/slurm/report.sbatch"))
        .arg(d)
        .env("ARCWHISPER_REPO", repo_root())
        .env(
            "PATH",
            format!(
                "{}:{}",
                build_dir().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}");
    for want in [
        "scenes: 6, done: 6, failed: 0, open: 0",
        "node01/CPU:0",
        "node02/CPU:1",
        "host balance",
    ] {
        assert!(text.contains(want), "report lacks {want:?}:\n{text}");
    }
    // A task without a card in its environment fails at once, saying so.
    let out = Command::new(&script)
        .arg(d)
        .env_remove("ZE_AFFINITY_MASK")
        .env_remove("GPU_DEVICE_ORDINAL")
        .env_remove("SLURM_STEP_GPUS")
        .env_remove("SLURM_JOB_GPUS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--gres=gpu:1"));
}

/// With several hosts and cards, which scenes a pipeline does before a given one is chance: a
/// scene's SRT must not depend on it. scene_04 alone equals scene_04 done right after scene_03
/// (whose last Whisper segment ends after its audio) in the reference run.
#[test]
fn a_scenes_subtitles_do_not_depend_on_the_scene_done_before_it() {
    let _serial = require_setup();
    let (refdir, want) = reference();
    let tmp = TempDir::new("alone");
    std::fs::copy(refdir.join("scene_04.mp4"), tmp.path().join("scene_04.mp4")).unwrap();
    run_ok(&scene_pipeline(tmp.path(), "CPU", "tiny.en", ""));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("scene_04.srt")).unwrap(),
        String::from_utf8_lossy(&want["scene_04.srt"]),
        "scene_04 alone (left) vs after scene_03 (right)"
    );
}
