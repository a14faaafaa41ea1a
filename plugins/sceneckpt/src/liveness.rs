// SPDX-License-Identifier: MIT OR Apache-2.0
//! Is a claim still live? Judged so that several hosts can share one scene folder (a NAS).
//!
//! - A claim of **this host** is dead when its pid is gone (`kill(pid, 0)`), or when its
//!   heartbeat is older than `stale-seconds`.
//! - A claim of **another host** is judged by its heartbeat only: its pid means nothing here
//!   (another host's pid 1234 may be a live process of ours, or none at all).
//! - **Heartbeat age is measured on the file server's clock**, never against the local clock:
//!   the heartbeat is a write to the claim (the server stamps the mtime), and "now" is the mtime
//!   of a probe file this host has just written in the same folder ([`server_now`]). Clock skew
//!   between hosts therefore cannot make a live claim look stale.
//! - A heartbeat mtime **in the future** of the server's clock (more than [`FUTURE_TOLERANCE`])
//!   cannot come from our heartbeat; its age is unknown. Such a claim is live while its mtime
//!   keeps changing and stale once this process has seen the very same mtime unchanged for
//!   `stale-seconds` (measured on the local monotonic clock, which no skew affects).
//! - A heartbeat mtime **far in the past** is simply old: stale at once (that is how a crashed
//!   host's scenes are recovered without waiting).
//!
//! No GStreamer.

use crate::fsutil;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A heartbeat this far ahead of the server's "now" still counts as now: the claim may have been
/// written between our probe and our look at it, and some servers stamp with coarse granularity.
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(2);

/// Shortest heartbeat interval: keeps a tiny `stale-seconds` from turning into a busy loop.
const MIN_HEARTBEAT: Duration = Duration::from_millis(200);

/// How often to refresh a claim: `default`, but at least three beats per stale period, so a live
/// claim never looks stale because `stale-seconds` was set low.
pub fn heartbeat_interval(stale: Duration, default: Duration) -> Duration {
    default.min(stale / 3).max(MIN_HEARTBEAT)
}

/// One heartbeat: rewrite the claim's own bytes in place and sync. A data write makes the
/// *server* stamp the mtime (NFS, SMB and local file systems alike), whereas setting a time
/// explicitly would carry this host's clock.
pub fn beat(file: &File, content: &[u8]) -> io::Result<()> {
    file.write_at(content, 0)?;
    file.sync_data()
}

/// The file server's "now": write the probe file `.sceneckpt-clock.<host>` in `dir` (created if
/// missing, never through a symlink) and read back the mtime the server gave it.
pub fn server_now(dir: &Path) -> io::Result<SystemTime> {
    let probe = dir.join(probe_name(&fsutil::hostname()));
    let stamp = || {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&probe)?;
        beat(&f, b"x")?;
        f.metadata()?.modified()
    };
    stamp().map_err(|e| io::Error::new(e.kind(), format!("clock probe {}: {e}", probe.display())))
}

/// File name of this host's clock probe (hidden, no media extension, so never a scene).
pub fn probe_name(host: &str) -> String {
    let safe: String = host
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(".sceneckpt-clock.{safe}")
}

/// How old a heartbeat is on the server's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Age {
    Known(Duration),
    /// The mtime lies this far in the future of the server's clock: age unknown.
    Future(Duration),
}

pub fn heartbeat_age(mtime: SystemTime, server_now: SystemTime) -> Age {
    match server_now.duration_since(mtime) {
        Ok(age) => Age::Known(age),
        Err(e) if e.duration() <= FUTURE_TOLERANCE => Age::Known(Duration::ZERO),
        Err(e) => Age::Future(e.duration()),
    }
}

/// Whose claim it is, as far as this host can tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Owner {
    /// This host's claim; whether its pid still exists here.
    ThisHost { pid: i64, alive: bool },
    /// Another host's claim: its pid is never looked up.
    OtherHost,
}

impl Owner {
    pub fn of(host: &str, pid: i64) -> Owner {
        if host == fsutil::hostname() {
            Owner::ThisHost {
                pid,
                alive: fsutil::pid_alive(pid),
            }
        } else {
            Owner::OtherHost
        }
    }
}

/// What we know of a claim's heartbeat: its age on the server's clock and for how long this
/// process has seen the very same mtime (0 at first sight).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heartbeat {
    pub age: Age,
    pub unchanged_for: Duration,
}

impl Heartbeat {
    /// Read the heartbeat of the claim at `path`. The claim is opened (never through a symlink)
    /// and its mtime read from the open file: on NFS the open revalidates the attributes
    /// (close-to-open), where a plain `stat` may answer from the attribute cache.
    pub fn read(path: &Path) -> io::Result<Heartbeat> {
        let md = fsutil::open_read_nofollow(path)?.metadata()?;
        let mtime = md.modified()?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let now = server_now(dir)?;
        Ok(Heartbeat {
            age: heartbeat_age(mtime, now),
            unchanged_for: observe(path, md.dev(), md.ino(), mtime),
        })
    }

    /// Whether the heartbeat is younger than `d` (an unknown, future age counts as recent).
    pub fn younger_than(&self, d: Duration) -> bool {
        match self.age {
            Age::Known(a) => a < d,
            Age::Future(_) => true,
        }
    }
}

/// Why the claim is stale, or None while it is live (rules in the module comment).
pub fn judge(owner: Owner, beat: Heartbeat, stale: Duration) -> Option<String> {
    if let Owner::ThisHost { pid, alive: false } = owner {
        return Some(format!("pid {pid} is gone"));
    }
    match beat.age {
        Age::Known(age) if age > stale => Some(format!(
            "heartbeat {} s old on the file server's clock",
            age.as_secs()
        )),
        Age::Known(_) => None,
        Age::Future(ahead) if beat.unchanged_for >= stale => Some(format!(
            "heartbeat mtime {} s in the future, unchanged for {} s",
            ahead.as_secs(),
            beat.unchanged_for.as_secs()
        )),
        Age::Future(_) => None,
    }
}

type Seen = (u64, u64, SystemTime, Instant);

/// For how long this process has seen the claim at `path` with this identity and mtime.
fn observe(path: &Path, dev: u64, ino: u64, mtime: SystemTime) -> Duration {
    static SEEN: Mutex<Option<HashMap<PathBuf, Seen>>> = Mutex::new(None);
    let mut g = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    match map.get(path) {
        Some(&(d, i, m, first)) if (d, i, m) == (dev, ino, mtime) => now - first,
        _ => {
            map.insert(path.to_path_buf(), (dev, ino, mtime, now));
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: Duration = Duration::from_secs(60);

    fn beat_of(age: Age, unchanged_for: u64) -> Heartbeat {
        Heartbeat {
            age,
            unchanged_for: Duration::from_secs(unchanged_for),
        }
    }

    fn secs(s: u64) -> Age {
        Age::Known(Duration::from_secs(s))
    }

    #[test]
    fn another_hosts_claim_is_judged_by_its_heartbeat_only() {
        // Whatever its pid is here (gone, or one of ours): only the heartbeat counts.
        assert_eq!(judge(Owner::OtherHost, beat_of(secs(5), 0), STALE), None);
        assert_eq!(judge(Owner::OtherHost, beat_of(secs(60), 0), STALE), None);
        let r = judge(Owner::OtherHost, beat_of(secs(61), 0), STALE).unwrap();
        assert!(r.contains("61 s old on the file server's clock"), "{r}");
        assert_eq!(
            Owner::of("surely-not-this-host.example", 1),
            Owner::OtherHost
        );
    }

    #[test]
    fn this_hosts_claim_needs_a_live_pid_and_a_fresh_heartbeat() {
        let here = fsutil::hostname();
        let me = Owner::of(&here, std::process::id() as i64);
        assert!(matches!(me, Owner::ThisHost { alive: true, .. }));
        assert_eq!(judge(me, beat_of(secs(1), 0), STALE), None);
        assert!(judge(me, beat_of(secs(600), 0), STALE).is_some());
        let gone = Owner::of(&here, 0x7fff_fff0);
        let r = judge(gone, beat_of(secs(0), 0), STALE).unwrap();
        assert!(r.contains("is gone"), "{r}");
    }

    #[test]
    fn future_heartbeats_are_live_while_they_change_and_stale_once_unchanged() {
        let ahead = Age::Future(Duration::from_secs(3600));
        assert_eq!(judge(Owner::OtherHost, beat_of(ahead, 0), STALE), None);
        assert_eq!(judge(Owner::OtherHost, beat_of(ahead, 59), STALE), None);
        let r = judge(Owner::OtherHost, beat_of(ahead, 60), STALE).unwrap();
        assert!(r.contains("3600 s in the future"), "{r}");
    }

    #[test]
    fn age_on_the_servers_clock() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let d = Duration::from_secs;
        assert_eq!(heartbeat_age(now - d(7), now), Age::Known(d(7)));
        // Within the tolerance a later mtime is "now"; beyond it the age is unknown.
        assert_eq!(heartbeat_age(now + d(1), now), Age::Known(Duration::ZERO));
        assert_eq!(heartbeat_age(now + d(30), now), Age::Future(d(30)));
        // A far-past mtime is old, not suspicious.
        assert_eq!(heartbeat_age(now - d(86_400), now), Age::Known(d(86_400)));
    }

    #[test]
    fn heartbeat_interval_gives_three_beats_per_stale_period() {
        let ten = Duration::from_secs(10);
        assert_eq!(heartbeat_interval(Duration::from_secs(60), ten), ten);
        assert_eq!(
            heartbeat_interval(Duration::from_secs(6), ten),
            Duration::from_secs(2)
        );
        assert_eq!(
            heartbeat_interval(Duration::from_secs(0), ten),
            MIN_HEARTBEAT
        );
    }

    #[test]
    fn real_files_probe_and_observation() {
        let d = std::env::temp_dir().join(format!("liveness-{}", fsutil::random_u64()));
        std::fs::create_dir_all(&d).unwrap();
        let claim = d.join(".s.subtitles.claim");
        let f = fsutil::create_exclusive(&claim).unwrap();
        beat(&f, b"{}\n").unwrap();
        // Fresh: the probe and the claim carry the same (server) clock.
        let hb = Heartbeat::read(&claim).unwrap();
        assert!(hb.younger_than(Duration::from_secs(5)), "{hb:?}");
        assert!(d.join(probe_name(&fsutil::hostname())).is_file());
        // An hour in the future (a skewed writer): unknown age, observed unchanged.
        f.set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
        let first = Heartbeat::read(&claim).unwrap();
        assert!(matches!(first.age, Age::Future(a) if a > Duration::from_secs(3500)));
        std::thread::sleep(Duration::from_millis(300));
        let later = Heartbeat::read(&claim).unwrap();
        assert!(
            later.unchanged_for >= Duration::from_millis(300),
            "{later:?}"
        );
        assert!(judge(Owner::OtherHost, later, Duration::from_millis(250)).is_some());
        // A heartbeat resets it: the mtime is back on the server's clock and observed anew.
        beat(&f, b"{}\n").unwrap();
        let after = Heartbeat::read(&claim).unwrap();
        assert!(matches!(after.age, Age::Known(a) if a < Duration::from_secs(5)));
        assert_eq!(after.unchanged_for, Duration::ZERO);
        // An hour in the past: old, stale at once.
        f.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        let old = Heartbeat::read(&claim).unwrap();
        assert!(judge(Owner::OtherHost, old, STALE).is_some());
        // A symlinked probe is never followed.
        let victim = d.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let probe = d.join(probe_name(&fsutil::hostname()));
        std::fs::remove_file(&probe).unwrap();
        std::os::unix::fs::symlink(&victim, &probe).unwrap();
        assert!(server_now(&d).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
