//! Shared helpers for the cross-plugin tests: where the build, the models and the speech clips
//! are, how to make real scene files, how to run `gst-launch-1.0` the way users do, and how to
//! read what the pipelines leave behind (SRTs, markers, stats).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `target/<profile>`: where the plugins and the worker of this build are.
pub fn build_dir() -> PathBuf {
    // The test binary lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

pub fn speech_dir() -> PathBuf {
    std::env::var_os("ARCWHISPER_SPEECH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/speech"))
}

pub fn arcwhisper_home() -> PathBuf {
    if let Some(h) = std::env::var_os("ARCWHISPER_HOME") {
        return PathBuf::from(h);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share")
        });
    data.join("arcwhisper")
}

pub fn model_dir(name: &str) -> PathBuf {
    arcwhisper_home().join("models").join(name)
}

/// Fails (never skips) when the set-up has not been run: CI always runs it first.
///
/// Also serialises the tests of a binary: each runs pipelines that use every core (and the
/// balance test measures two of them side by side), so two at once would measure each other.
/// Hold the returned guard for the whole test.
pub fn require_setup() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = build_dir();
    let mut missing = Vec::new();
    for f in [
        "libgstarcwhisper.so",
        "libgstsceneckpt.so",
        "arcwhisper-worker",
    ] {
        if !dir.join(f).exists() {
            missing.push(dir.join(f));
        }
    }
    for m in ["tiny.en", "base"] {
        let marker = model_dir(m).join("arcwhisper.json");
        if !marker.exists() {
            missing.push(marker);
        }
    }
    assert!(
        missing.is_empty(),
        "set-up incomplete, missing: {missing:?}. Run ./tools/setup.sh (it builds the plugins and worker \
         and converts the models), then run the tests with the same cargo profile"
    );
    guard
}

pub fn clip(rel: &str) -> PathBuf {
    let p = speech_dir().join(rel);
    assert!(
        p.exists(),
        "speech clip {} missing (ARCWHISPER_SPEECH_DIR?)",
        p.display()
    );
    p
}

/// `ffmpeg` that overwrites its output and prints only errors; add the inputs and outputs.
pub fn ffmpeg() -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    cmd
}

/// Makes a real scene: `testsrc` video muxed with the audio of `audio` (any format ffmpeg reads),
/// like a scene file cut from a digitised tape.
pub fn make_scene(audio: &Path, out: &Path) {
    let status = ffmpeg()
        .args(["-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10")
        .arg("-i")
        .arg(audio)
        .args([
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
}

/// Concatenates clips (with a short pause between) into one 16 kHz mono WAV.
pub fn concat_clips(clips: &[PathBuf], gap_s: f32, out: &Path) {
    let mut cmd = ffmpeg();
    for c in clips {
        cmd.arg("-i").arg(c);
    }
    let mut filter = String::new();
    for i in 0..clips.len() {
        filter.push_str(&format!(
            "[{i}:a]aresample=16000,aformat=channel_layouts=mono,apad=pad_dur={gap_s}[a{i}];"
        ));
    }
    for i in 0..clips.len() {
        filter.push_str(&format!("[a{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=0:a=1[out]", clips.len()));
    cmd.args([
        "-filter_complex",
        &filter,
        "-map",
        "[out]",
        "-ar",
        "16000",
        "-ac",
        "1",
    ])
    .arg(out);
    assert!(
        cmd.status().expect("ffmpeg runs").success(),
        "concat failed"
    );
}

/// Splits a pipeline line into argv tokens as a shell would for `"..."` quoting (quotes
/// removed), so that `gst-launch-1.0` sees exactly what a user's shell gives it.
pub fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut in_quotes, mut has) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                has = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// `gst-launch-1.0 -e -m <line>` with the build's plugins, as a user runs it after set-up.
pub fn gst_launch(line: &str) -> Command {
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-e").arg("-m").args(shell_words(line));
    cmd.env("GST_PLUGIN_PATH", build_dir());
    cmd.stdin(Stdio::null());
    cmd
}

/// Longest any one test pipeline may run: a hang fails its test instead of the CI budget.
pub const PIPELINE_LIMIT: Duration = Duration::from_secs(600);

/// Runs a pipeline to its end (killed after [`PIPELINE_LIMIT`]) and returns its output.
pub fn run(line: &str) -> Output {
    let dir = std::env::temp_dir();
    let tag = format!(
        "arcwhisper-it-out-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    let (out_path, err_path) = (
        dir.join(format!("{tag}.out")),
        dir.join(format!("{tag}.err")),
    );
    let mut child = gst_launch(line)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("gst-launch-1.0 runs");
    let status = wait_with_timeout(&mut child, PIPELINE_LIMIT);
    let out = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    out
}

/// Runs a pipeline to its end; panics with its output when it fails.
pub fn run_ok(line: &str) -> Output {
    let out = run(line);
    assert!(
        out.status.success(),
        "pipeline failed: {line}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The standard per-card line: `sceneckpt ! arcwhisper ! sceneckptsink`. Paths in quotes may
/// hold spaces and newlines, not double quotes.
pub fn scene_pipeline(scenes: &Path, device: &str, model: &str, extra_src: &str) -> String {
    format!(
        "sceneckpt location=\"{}\" task=subtitles {extra_src} ! arcwhisper device={device} model={model} ! sceneckptsink",
        scenes.display()
    )
}

pub fn spawn_scene_pipeline(scenes: &Path, device: &str, model: &str, log: &Path) -> Child {
    let line = scene_pipeline(scenes, device, model, "");
    let logf = std::fs::File::create(log).unwrap();
    gst_launch(&line)
        .stdout(logf.try_clone().unwrap())
        .stderr(logf)
        .spawn()
        .expect("gst-launch-1.0 spawns")
}

pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("process {} ran over {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One subtitle cue.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub index: u32,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

fn parse_srt_time(s: &str) -> u64 {
    let (hms, ms) = s.trim().split_once(',').expect("SRT time has a comma");
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().expect("number"));
    let (h, m, sec) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    ((h * 60 + m) * 60 + sec) * 1000 + ms.parse::<u64>().unwrap()
}

/// Parses an SRT strictly: numbering from 1, `start --> end` with start <= end.
pub fn parse_srt(text: &str) -> Vec<Cue> {
    let mut cues = Vec::new();
    for block in text.replace("\r\n", "\n").split("\n\n") {
        let block = block.trim_matches('\n');
        if block.is_empty() {
            continue;
        }
        let mut lines = block.lines();
        let index: u32 = lines.next().unwrap().trim().parse().expect("cue number");
        let times = lines.next().expect("time line");
        let (a, b) = times.split_once("-->").expect("-->");
        let cue = Cue {
            index,
            start_ms: parse_srt_time(a),
            end_ms: parse_srt_time(b),
            text: lines.collect::<Vec<_>>().join("\n"),
        };
        assert!(
            cue.start_ms <= cue.end_ms,
            "cue ends before it starts: {cue:?}"
        );
        cues.push(cue);
    }
    for (i, c) in cues.iter().enumerate() {
        assert_eq!(c.index as usize, i + 1, "cues numbered from 1 without gaps");
    }
    cues
}

/// Lower-case words without punctuation, for checking expected words.
pub fn words(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn srt_text(path: &Path) -> String {
    let raw =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let cues = parse_srt(&raw);
    words(
        &cues
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

pub fn done_marker(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(".{stem}.subtitles.done"))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let s =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The stats records of a folder (`arcwhisper-stats.jsonl`).
pub fn stats(dir: &Path) -> Vec<serde_json::Value> {
    let p = dir.join("arcwhisper-stats.jsonl");
    match std::fs::read_to_string(&p) {
        Ok(s) => s
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("stats line is JSON"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every file of a folder with its bytes, hidden ones included (markers), for byte-for-byte
/// comparison of two runs. Markers hold times and pids, so they are compared by their
/// reproducible fields only (see [`marker_essentials`]).
pub fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".srt") {
            m.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    m
}

/// Files that must never remain after a run has finished: temp files, claims.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp") || n.ends_with(".claim"))
        .collect()
}

/// Resident set size of a process, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn proc_field(pid: u32, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
}

pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Direct children of a process (e.g. the workers of a gst-launch).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub fn kill9(pid: u32) {
    // SAFETY: plain syscall on a pid we started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
}

/// A small seeded generator for test timing choices (reproducible per seed).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A fresh folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "arcwhisper-it-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
                ^ (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos())
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ARCWHISPER_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time as the stats and markers write it
/// (`2026-11-21T16:41:36.621Z`).
pub fn epoch_seconds(t: &str) -> f64 {
    let (date, time) = t
        .trim_end_matches('Z')
        .split_once('T')
        .expect("date T time");
    let mut d = date.split('-').map(|x| x.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let mut hms = time.split(':');
    let h: f64 = hms.next().unwrap().parse().unwrap();
    let mi: f64 = hms.next().unwrap().parse().unwrap();
    let s: f64 = hms.next().unwrap().parse().unwrap();
    days as f64 * 86400.0 + h * 3600.0 + mi * 60.0 + s
}
