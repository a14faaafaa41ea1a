// SPDX-License-Identifier: MIT OR Apache-2.0
//! Done / failed markers and claims (see docs/ARCHITECTURE.md, "Checkpoint files"). No GStreamer.

use crate::fsutil::{self, FileError};
use crate::liveness;
use crate::scenes::ScenePaths;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DoneMarker {
    pub scene: String,
    pub task: String,
    pub output: String,
    pub sha256: String,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub model: String,
    #[serde(default, rename = "worker-pid")]
    pub worker_pid: i64,
    #[serde(default)]
    pub started: String,
    #[serde(default)]
    pub finished: String,
    #[serde(default)]
    pub pid: i64,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailedMarker {
    pub scene: String,
    pub task: String,
    pub error: String,
    pub time: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub pid: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimInfo {
    pub pid: i64,
    pub host: String,
    #[serde(default, rename = "device-label")]
    pub device_label: String,
    /// Same as `device-label` (the name docs/ARCHITECTURE.md gives it).
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub started: String,
    #[serde(default)]
    pub scene: String,
    #[serde(default)]
    pub task: String,
}

/// Why a done marker does not make the scene done (logged; the scene is then redone).
#[derive(Debug, PartialEq)]
pub enum DoneState {
    Done(Box<DoneMarker>),
    Missing,
    Invalid(String),
}

fn file_name_eq(a: &str, b: &Path) -> bool {
    Path::new(a).file_name() == b.file_name()
}

/// A scene is done only if its marker parses, names this scene and task, its output exists and
/// the output's sha256 equals the marker's.
pub fn check_done(paths: &ScenePaths, task: &str) -> DoneState {
    let data = match fsutil::read_nofollow(&paths.done, 1 << 20) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return DoneState::Missing,
        Err(e) => return DoneState::Invalid(format!("unreadable marker: {e}")),
    };
    let m: DoneMarker = match serde_json::from_slice(&data) {
        Ok(m) => m,
        Err(e) => return DoneState::Invalid(format!("marker does not parse: {e}")),
    };
    if !file_name_eq(&m.scene, &paths.scene) || m.task != task {
        return DoneState::Invalid("marker names another scene or task".into());
    }
    if !file_name_eq(&m.output, &paths.output) {
        return DoneState::Invalid("marker names another output".into());
    }
    match fsutil::sha256_file(&paths.output) {
        Ok(h) if h == m.sha256 => DoneState::Done(Box::new(m)),
        Ok(_) => DoneState::Invalid("output does not match the marker's sha256".into()),
        Err(e) => DoneState::Invalid(format!("output unreadable: {e}")),
    }
}

pub fn write_failed(paths: &ScenePaths, task: &str, error: &str) -> Result<(), FileError> {
    let m = FailedMarker {
        scene: fsutil::path_str(&paths.scene),
        task: task.into(),
        error: error.into(),
        time: fsutil::rfc3339(fsutil::now_unix()),
        host: fsutil::hostname(),
        pid: std::process::id() as i64,
    };
    let mut s = serde_json::to_string_pretty(&m).expect("serialisable");
    s.push('\n');
    fsutil::write_atomic(&paths.failed, s.as_bytes())
}

pub fn remove_if_exists(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Result of trying to claim a scene.
#[derive(Debug)]
pub enum ClaimResult {
    Claimed(Claim),
    /// Someone else holds a live claim.
    Busy(String),
}

/// A claim we hold: the file, its identity, and a heartbeat thread touching its mtime.
#[derive(Debug)]
pub struct Claim {
    pub path: PathBuf,
    dev: u64,
    ino: u64,
    stop: Arc<AtomicBool>,
    wake: Arc<(Mutex<()>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub took_over: Option<String>,
}

impl Claim {
    /// Whether the file at our path is still the one we created.
    pub fn still_ours(&self) -> bool {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) => m.is_file() && m.dev() == self.dev && m.ino() == self.ino,
            Err(_) => false,
        }
    }

    /// Stop the heartbeat and remove the claim file if it is still ours.
    pub fn release(mut self) {
        self.stop_heartbeat();
        if self.still_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Stop the heartbeat only (the sink removes the file after committing).
    pub fn stop_heartbeat(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        {
            let _g = self.wake.0.lock().unwrap();
            self.wake.1.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// What became of a claim the sink tried to release.
#[derive(Debug)]
pub enum ClaimRelease {
    Released,
    /// No claim named (claims off), or none there any more.
    NoClaim,
    /// Someone else's (taken over): left alone.
    NotOurs,
    /// Ours, but removing it failed: it stays until a later run takes it over.
    Left(io::Error),
}

impl ClaimRelease {
    /// The claim at `path`, said as it is now.
    pub fn describe(&self, path: &Path) -> String {
        match self {
            ClaimRelease::Released => format!("claim {} released", path.display()),
            ClaimRelease::NoClaim => "no claim held".into(),
            ClaimRelease::NotOurs => format!(
                "claim {} belongs to another pipeline now and was left alone",
                path.display()
            ),
            ClaimRelease::Left(e) => format!(
                "claim {} left behind ({e}): a later run takes it over once this process has ended",
                path.display()
            ),
        }
    }
}

/// Remove the claim at `path` only if it records our pid and host (the sink uses this after a
/// commit: it never removes a claim someone else has taken over).
pub fn release_claim_if_ours(path: &Path) -> ClaimRelease {
    if path.as_os_str().is_empty() {
        return ClaimRelease::NoClaim;
    }
    let data = match fsutil::read_nofollow(path, 1 << 16) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return ClaimRelease::NoClaim,
        Err(_) => return ClaimRelease::NotOurs,
    };
    let Ok(c) = serde_json::from_slice::<ClaimInfo>(&data) else {
        return ClaimRelease::NotOurs;
    };
    if c.pid != std::process::id() as i64 || c.host != fsutil::hostname() {
        return ClaimRelease::NotOurs;
    }
    match std::fs::remove_file(path) {
        Ok(()) => ClaimRelease::Released,
        Err(e) if e.kind() == io::ErrorKind::NotFound => ClaimRelease::NoClaim,
        Err(e) => ClaimRelease::Left(e),
    }
}

/// [`release_claim_if_ours`], true when it removed the claim.
pub fn release_claim_path_if_ours(path: &Path) -> bool {
    matches!(release_claim_if_ours(path), ClaimRelease::Released)
}

/// Why an existing claim can be taken over, or None if it is live (rules: `liveness`).
pub fn claim_staleness(path: &Path, stale: Duration) -> io::Result<Option<String>> {
    let md = std::fs::symlink_metadata(path)?;
    if !md.is_file() {
        return Ok(Some("claim path is not a regular file".into()));
    }
    let beat = liveness::Heartbeat::read(path)?;
    let data = match fsutil::read_nofollow(path, 1 << 16) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
        Err(e) => return Ok(Some(format!("unreadable claim: {e}"))),
    };
    match serde_json::from_slice::<ClaimInfo>(&data) {
        Ok(c) => Ok(liveness::judge(
            liveness::Owner::of(&c.host, c.pid),
            beat,
            stale,
        )),
        // A claim is written in one small write right after creation: an empty or partial
        // file younger than the staleness limit is someone in the middle of claiming.
        Err(_) if beat.younger_than(Duration::from_secs(5)) => Ok(None),
        Err(e) => Ok(Some(format!("claim does not parse: {e}"))),
    }
}

fn create_claim(path: &Path, info: &ClaimInfo, heartbeat: Duration) -> io::Result<Claim> {
    let mut f: File = fsutil::create_exclusive(path)?;
    let md = f.metadata()?;
    let mut s = serde_json::to_string(info).expect("serialisable");
    s.push('\n');
    if let Err(e) = f.write_all(s.as_bytes()).and_then(|_| f.sync_all()) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new((Mutex::new(()), std::sync::Condvar::new()));
    let (stop2, wake2) = (stop.clone(), wake.clone());
    let thread = std::thread::Builder::new()
        .name("sceneckpt-heartbeat".into())
        .spawn(move || {
            let mut g = wake2.0.lock().unwrap();
            loop {
                let (ng, _) = wake2.1.wait_timeout(g, heartbeat).unwrap();
                g = ng;
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let _ = liveness::beat(&f, s.as_bytes());
            }
        })?;
    Ok(Claim {
        path: path.to_path_buf(),
        dev: md.dev(),
        ino: md.ino(),
        stop,
        wake,
        thread: Some(thread),
        took_over: None,
    })
}

/// Claim a scene: create the claim exclusively; if one exists and is stale (its pid is gone on
/// this host, or its heartbeat is older than `stale`, or it is not a regular file), take it over:
/// rename it aside (atomic), check that what we moved is the very file we judged stale, remove
/// it, and create ours exclusively. If the exclusive create then fails, someone else won the race.
pub fn try_claim(
    path: &Path,
    info: &ClaimInfo,
    stale: Duration,
    heartbeat: Duration,
) -> io::Result<ClaimResult> {
    match create_claim(path, info, heartbeat) {
        Ok(c) => return Ok(ClaimResult::Claimed(c)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let before = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        // Released between our attempt and now: try once more.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match create_claim(path, info, heartbeat) {
                Ok(c) => Ok(ClaimResult::Claimed(c)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Ok(ClaimResult::Busy("claimed by another pipeline".into()))
                }
                Err(e) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    let reason = match claim_staleness(path, stale) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let who = fsutil::read_nofollow(path, 1 << 16)
                .ok()
                .and_then(|d| serde_json::from_slice::<ClaimInfo>(&d).ok())
                .map(|c| {
                    let device = if c.device.is_empty() {
                        c.device_label
                    } else {
                        c.device
                    };
                    format!("claimed by pid {} on {} ({})", c.pid, c.host, device)
                })
                .unwrap_or_else(|| "claimed by another pipeline".into());
            return Ok(ClaimResult::Busy(who));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => "released meanwhile".into(),
        Err(e) => return Err(e),
    };
    // Take over: move the stale claim aside atomically, then verify it is the one we judged.
    let mut aside = path.as_os_str().to_os_string();
    aside.push(format!(
        ".stale-{}-{:016x}",
        std::process::id(),
        fsutil::random_u64()
    ));
    let aside = PathBuf::from(aside);
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            let moved = std::fs::symlink_metadata(&aside)?;
            if moved.dev() != before.dev() || moved.ino() != before.ino() {
                // We moved a fresh claim someone created after our check: put it back (link
                // never overwrites) and leave the scene to them.
                let _ = std::fs::hard_link(&aside, path);
                let _ = std::fs::remove_file(&aside);
                return Ok(ClaimResult::Busy(
                    "claim taken over by another pipeline".into(),
                ));
            }
            let _ = std::fs::remove_file(&aside);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match create_claim(path, info, heartbeat) {
        Ok(mut c) => {
            c.took_over = Some(reason);
            Ok(ClaimResult::Claimed(c))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(ClaimResult::Busy(
            "claim taken over by another pipeline".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Remove leftover temp files of `target` (`.<name>.tmp-*`): called only while holding the
/// scene's claim, when any other writer of these files is dead or was taken over.
pub fn remove_stale_temps(target: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let prefix = fsutil::temp_prefix_for(target);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name();
        if n.as_bytes().starts_with(&prefix) {
            if let Ok(md) = std::fs::symlink_metadata(e.path()) {
                if md.is_file() || md.file_type().is_symlink() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("markers-{tag}-{}", fsutil::random_u64()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn info() -> ClaimInfo {
        ClaimInfo {
            pid: std::process::id() as i64,
            host: fsutil::hostname(),
            device_label: "GPU.0".into(),
            device: "GPU.0".into(),
            started: fsutil::rfc3339(fsutil::now_unix()),
            scene: "s.mp4".into(),
            task: "subtitles".into(),
        }
    }

    #[test]
    fn done_marker_validity() {
        let d = tmpdir("done");
        let scene = d.join("s.mp4");
        std::fs::write(&scene, b"video").unwrap();
        let p = ScenePaths::new(&scene, "subtitles", None, None, "srt");
        assert_eq!(check_done(&p, "subtitles"), DoneState::Missing);
        std::fs::write(&p.output, b"1\n00:00:00,000 --> 00:00:01,000\nhi\n\n").unwrap();
        let m = DoneMarker {
            scene: fsutil::path_str(&scene),
            task: "subtitles".into(),
            output: fsutil::path_str(&p.output),
            sha256: fsutil::sha256_file(&p.output).unwrap(),
            device: "GPU.0".into(),
            model: "tiny".into(),
            worker_pid: 1,
            started: String::new(),
            finished: String::new(),
            pid: 1,
            host: "h".into(),
            version: VERSION.into(),
        };
        fsutil::write_atomic(&p.done, serde_json::to_string(&m).unwrap().as_bytes()).unwrap();
        assert!(matches!(check_done(&p, "subtitles"), DoneState::Done(_)));
        assert!(matches!(check_done(&p, "other"), DoneState::Invalid(_)));
        std::fs::write(&p.output, b"tampered").unwrap();
        assert!(matches!(check_done(&p, "subtitles"), DoneState::Invalid(_)));
        std::fs::remove_file(&p.output).unwrap();
        assert!(matches!(check_done(&p, "subtitles"), DoneState::Invalid(_)));
        std::fs::write(&p.done, b"{not json").unwrap();
        assert!(matches!(check_done(&p, "subtitles"), DoneState::Invalid(_)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn claims_exclusive_and_takeover() {
        let d = tmpdir("claim");
        let path = d.join(".s.subtitles.claim");
        let stale = Duration::from_secs(60);
        let hb = Duration::from_millis(50);
        let ClaimResult::Claimed(c) = try_claim(&path, &info(), stale, hb).unwrap() else {
            panic!()
        };
        // Our own live pid: busy.
        assert!(matches!(
            try_claim(&path, &info(), stale, hb).unwrap(),
            ClaimResult::Busy(_)
        ));
        // Heartbeat refreshes mtime.
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let age = std::fs::metadata(&path)
            .unwrap()
            .modified()
            .unwrap()
            .elapsed()
            .unwrap();
        assert!(age < Duration::from_secs(10), "heartbeat touched the claim");
        c.release();
        assert!(!path.exists());

        // A dead pid's claim is taken over.
        let mut dead = info();
        dead.pid = 0x7fff_fff0;
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let ClaimResult::Claimed(c) = try_claim(&path, &info(), stale, hb).unwrap() else {
            panic!()
        };
        assert!(c.took_over.as_deref().unwrap().contains("gone"));
        c.release();

        // An old heartbeat is taken over even for a live pid (another host, say).
        let mut other = info();
        other.host = "elsewhere".into();
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        assert!(matches!(
            try_claim(&path, &info(), stale, hb).unwrap(),
            ClaimResult::Busy(_)
        ));
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let ClaimResult::Claimed(c) = try_claim(&path, &info(), stale, hb).unwrap() else {
            panic!()
        };
        c.release();

        // A symlink planted at the claim path is never followed.
        let victim = d.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let ClaimResult::Claimed(c) = try_claim(&path, &info(), stale, hb).unwrap() else {
            panic!()
        };
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        c.release();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn release_only_ours() {
        let d = tmpdir("rel");
        let path = d.join(".s.t.claim");
        let mut other = info();
        other.pid += 1;
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        assert!(!release_claim_path_if_ours(&path));
        assert!(path.exists());
        std::fs::write(&path, serde_json::to_string(&info()).unwrap()).unwrap();
        assert!(release_claim_path_if_ours(&path));
        assert!(!path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
