//! Shared helpers for the cross-plugin tests: where the build, the models and the speech clips
//! are, how to make real scene files, how to run `gst-launch-1.0` the way users do, and how to
//! read what the pipelines leave behind (SRTs, markers, stats).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
pub use test_support::gst_launch::{
    build_dir, gst_launch, run, run_ok, shell_words, PIPELINE_LIMIT,
};
pub use test_support::process::wait_with_timeout;
pub use test_support::procfs::{children, fd_targets, proc_field, rss_kib, runs_program};
pub use test_support::scenes::{concat_clips, ffmpeg, make_scene};
pub use test_support::speech::{clip, speech_dir};
pub use test_support::srt::{parse_srt, Cue};
pub use test_support::tempdir::TempDir;
pub use test_support::text::words;

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
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

/// The stats records of a folder (`arcwhisper-stats.jsonl`): whole lines only (a test polling
/// the file while a sink appends can read the first page of a line that crosses one).
pub fn stats(dir: &Path) -> Vec<serde_json::Value> {
    let p = dir.join("arcwhisper-stats.jsonl");
    match std::fs::read_to_string(&p) {
        Ok(s) => s
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
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
