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
    spawn_logged(on_host(host, line, debug), log)
}

fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let f = std::fs::File::create(log).unwrap();
    cmd.stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("unshare runs")
}

/// A host whose worker is held: it stops itself (SIGSTOP) before it starts, with the scene's
/// first audio, so the host stays mid-scene, its claim beating (the heartbeat runs in
/// gst-launch), until [`release`]. What happens when no longer depends on how fast a scene is
/// transcribed. The guard kills the host if the test fails while it is held.
struct HeldHost {
    child: Child,
    _wrapper: TempDir,
}

impl HeldHost {
    fn spawn(host: &str, line: &str, log: &Path) -> HeldHost {
        let wrapper = TempDir::new("held-worker");
        let script = wrapper.path().join("arcwhisper-worker");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nkill -STOP $$\nexec \"{}\" \"$@\"\n",
                build_dir().join("arcwhisper-worker").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = on_host(host, line, true);
        cmd.env("ARCWHISPER_WORKER", &script);
        HeldHost {
            child: spawn_logged(cmd, log),
            _wrapper: wrapper,
        }
    }

    /// Waits (bounded) until the worker has stopped itself; returns its pid.
    fn held_worker(&mut self, host: &str) -> u32 {
        let mut found = None;
        wait_for(&format!("{host}'s worker to hold"), HOLD_LIMIT, || {
            let st = self.child.try_wait().unwrap();
            assert!(
                st.is_none(),
                "{host} ended ({st:?}) before its worker started"
            );
            found = descendants(self.child.id())
                .into_iter()
                .find(|&p| proc_field(p, "State:").is_some_and(|s| s.starts_with('T')));
            found.is_some()
        });
        found.unwrap()
    }

    /// kill -9 of the host's pipeline, the namespace's pid 1 (its worker dies with it).
    fn kill9(&mut self) {
        let inner = children(self.child.id());
        assert_eq!(inner.len(), 1, "unshare has one child: {inner:?}");
        kill9(inner[0]);
        let _ = wait_with_timeout(&mut self.child, Duration::from_secs(30));
    }

    /// Lets the worker go on and runs the host's pipeline to its end; its log.
    fn release(mut self, host: &str, worker: u32, log: &Path) -> String {
        // SAFETY: plain syscall on a process this test started (inside the host's namespace).
        unsafe { libc::kill(worker as i32, libc::SIGCONT) };
        let st = wait_with_timeout(&mut self.child, PIPELINE_LIMIT);
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(st.success(), "{host} failed:\n{text}");
        text
    }
}

impl Drop for HeldHost {
    fn drop(&mut self) {
        // unshare --kill-child takes the namespace down with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bound for a host to reach its first audio (start, list, claim, decode).
const HOLD_LIMIT: Duration = Duration::from_secs(120);

fn descendants(pid: u32) -> Vec<u32> {
    let mut out = children(pid);
    let mut i = 0;
    while i < out.len() {
        out.extend(children(out[i]));
        i += 1;
    }
    out
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
    let (a_log, b_log) = (d.join("a.log"), d.join("b.log"));
    let stale = 4;
    let line = scene_pipeline(d, "CPU", "tiny.en", &format!("stale-seconds={stale}"));
    // hostB alone takes the first scene and is held in it (worker stopped, claim beating).
    let mut b = HeldHost::spawn("hostB", &line, &b_log);
    b.held_worker("hostB");
    let claim = claim_path(d, "scene_01");
    let c = std::fs::read_to_string(&claim).unwrap_or_default();
    assert!(c.contains("\"hostB\""), "hostB holds scene_01: {c}");
    // hostA starts while hostB is alive: it leaves scene_01 alone and is held in its own first
    // scene, scene_02.
    let mut a = HeldHost::spawn("hostA", &line, &a_log);
    let a_worker = a.held_worker("hostA");
    // hostB dies mid-scene: kill -9 of its pipeline (the host is gone).
    b.kill9();
    assert!(
        !done_marker(d, "scene_01").exists(),
        "hostB was killed before finishing scene_01"
    );
    assert!(claim.exists(), "hostB's claim stays behind");
    // hostA goes on once hostB's last heartbeat is older than the stale time: it does the other
    // scenes and takes scene_01 over on its second look.
    let past_stale = Duration::from_secs(stale + 1);
    wait_for(
        "hostB's claim to age past stale-seconds",
        4 * past_stale,
        || mtime_age(&claim).is_some_and(|a| a >= past_stale),
    );
    let log = a.release("hostA", a_worker, &a_log);
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
    let took_line = log.lines().nth(took.unwrap()).unwrap_or_default().trim();
    eprintln!("{took_line}");
    let age: u64 = took_line
        .split("heartbeat ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no heartbeat age in {took_line}"));
    assert!(
        age >= stale,
        "taken over only past the stale time: {took_line}"
    );
    std::fs::remove_file(&a_log).unwrap();
    std::fs::remove_file(&b_log).unwrap();
    assert_each_scene_once_and_as_undisturbed(d);
}

#[test]
fn a_live_claim_of_another_host_with_the_same_pid_or_a_skewed_clock_is_never_taken_over() {
    let _serial = require_setup();
    require_namespaces();
    let (refdir, want) = reference();
    let tmp = TempDir::new("host-live");
    let d = tmp.path();
    std::fs::copy(refdir.join("scene_01.mp4"), d.join("scene_01.mp4")).unwrap();
    let (a_log, b_log) = (d.join("a.log"), d.join("b.log"));
    let stale = 3;
    let line = scene_pipeline(d, "CPU", "tiny.en", &format!("stale-seconds={stale}"));
    // hostB is held mid-scene (worker stopped, claim beating) for as long as hostA looks.
    let mut b = HeldHost::spawn("hostB", &line, &b_log);
    let b_worker = b.held_worker("hostB");
    let claim = claim_path(d, "scene_01");
    let c = std::fs::read_to_string(&claim).unwrap_or_default();
    assert!(c.contains("\"hostB\""), "hostB holds scene_01: {c}");
    // hostA (also pid 1, like hostB's pipeline) looks again and again for 4 x stale-seconds,
    // while hostB's clock is made to jump an hour ahead.
    let t0 = Instant::now();
    let (mut looks, mut skewed, mut repaired) = (0, false, false);
    while t0.elapsed() < Duration::from_secs(4 * stale) {
        if !skewed && t0.elapsed() > Duration::from_secs(stale) {
            touch(&claim, "+1 hour");
            skewed = true;
        }
        let log = run_on_host("hostA", &line, &a_log);
        assert!(
            log_line(
                &log,
                &["scene_01", "in progress elsewhere", "pid 1 on hostB"]
            )
            .is_some(),
            "hostA leaves hostB's live claim alone:\n{log}"
        );
        assert!(!log.contains("took over"), "{log}");
        looks += 1;
        if skewed && mtime_age(&claim).is_some_and(|a| a < Duration::from_secs(5)) {
            repaired = true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!("hostA looked {looks} times over {:?}", t0.elapsed());
    assert!(
        skewed && repaired,
        "hostB's next heartbeat put the mtime back on the server's clock"
    );
    b.release("hostB", b_worker, &b_log);
    let (scenes, hosts) = done_per_scene(d);
    assert_eq!(scenes.get("scene_01"), Some(&1), "{scenes:?}");
    assert_eq!(hosts.keys().collect::<Vec<_>>(), ["hostB"], "{hosts:?}");
    assert_eq!(
        std::fs::read(d.join("scene_01.srt")).unwrap(),
        want["scene_01.srt"],
        "hostB's SRT equals the undisturbed run"
    );
    std::fs::remove_file(&a_log).unwrap();
    std::fs::remove_file(&b_log).unwrap();
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
    // hostA looks at scene_01 first, takes scene_02 over and is held in it (its first audio).
    // The documented rule for a future mtime: stale once this process has seen it unchanged
    // for stale-seconds (liveness.rs). Holding hostA that long after its first look makes its
    // second look, at the end of the listing, see it so, however fast the scenes go.
    let a_log = d.join("a.log");
    let mut a = HeldHost::spawn("hostA", &line, &a_log);
    let a_worker = a.held_worker("hostA");
    std::thread::sleep(Duration::from_secs(stale) + Duration::from_millis(500));
    let log = a.release("hostA", a_worker, &a_log);
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
    assert!(busy.is_some() && busy < old && future > busy, "{log}");
    std::fs::remove_file(&a_log).unwrap();
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
