//! Free memory on the host: `MemAvailable` from `/proc/meminfo`, capped by the cgroup v2 limits
//! of this process's cgroup and its ancestors (`memory.max - memory.current + inactive_file`).

use std::path::{Path, PathBuf};

/// Free host memory and how it was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMemory {
    pub free: u64,
    pub source: String,
}

/// Measures free host memory for this process.
pub fn host_free_memory() -> std::io::Result<HostMemory> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let avail = meminfo_field(&meminfo, "MemAvailable").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no MemAvailable in /proc/meminfo",
        )
    })?;
    let mut out = HostMemory {
        free: avail,
        source: "MemAvailable".into(),
    };
    let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if let Some((dir, free)) = cgroup_free(Path::new("/sys/fs/cgroup"), &cg) {
        if free < out.free {
            out.free = free;
            out.source = format!("cgroup {}/memory.max - memory.current", dir.display());
        }
    }
    Ok(out)
}

/// A `kB` field of /proc/meminfo, in bytes.
pub fn meminfo_field(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let mut it = rest.split_whitespace();
        let v: u64 = it.next()?.parse().ok()?;
        Some(match it.next() {
            Some("kB") => v * 1024,
            _ => v,
        })
    })
}

/// The tightest cgroup v2 limit on the way from this process's cgroup up to the root under
/// `root`: `(dir, memory.max - memory.current + inactive_file)`. `None` when no level has a limit.
pub fn cgroup_free(root: &Path, proc_self_cgroup: &str) -> Option<(PathBuf, u64)> {
    let rel = proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .trim();
    let mut best: Option<(PathBuf, u64)> = None;
    let mut cur = PathBuf::from(rel.trim_start_matches('/'));
    loop {
        let dir = root.join(&cur);
        if let Some(free) = cgroup_level_free(&dir) {
            if best.as_ref().is_none_or(|(_, b)| free < *b) {
                best = Some((dir, free));
            }
        }
        if !cur.pop() {
            break;
        }
    }
    best
}

fn cgroup_level_free(dir: &Path) -> Option<u64> {
    let max = std::fs::read_to_string(dir.join("memory.max")).ok()?;
    let max: u64 = max.trim().parse().ok()?; // "max" = no limit
    let current: u64 = std::fs::read_to_string(dir.join("memory.current"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let inactive_file = std::fs::read_to_string(dir.join("memory.stat"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("inactive_file ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    Some(max.saturating_sub(current.saturating_sub(inactive_file)))
}

/// Bytes for people: `380 MB` (decimal MB, as users write `max-memory`), `1.2 GB`.
pub fn human(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 10_000.0 {
        format!("{:.1} GB", mb / 1000.0)
    } else if mb >= 1.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{bytes} B")
    }
}

/// Resident set size and its peak of this process (`VmRSS`, `VmHWM`), bytes.
pub fn self_rss() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (
        meminfo_field(&s, "VmRSS").unwrap_or(0),
        meminfo_field(&s, "VmHWM").unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_parsing() {
        let m = "MemTotal:       24681234 kB\nMemFree:  100 kB\nMemAvailable:   2000 kB\n";
        assert_eq!(meminfo_field(m, "MemAvailable"), Some(2000 * 1024));
        assert_eq!(meminfo_field(m, "MemFree"), Some(100 * 1024));
        assert_eq!(meminfo_field(m, "Nope"), None);
        let h = host_free_memory().unwrap();
        assert!(h.free > 0);
    }

    #[test]
    fn cgroup_limits_nearest_tightest() {
        let root = std::env::temp_dir().join(format!("aw-cg-test-{}", std::process::id()));
        let leaf = root.join("a/b");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(root.join("memory.max"), "max\n").unwrap();
        std::fs::write(root.join("a/memory.max"), "1000000\n").unwrap();
        std::fs::write(root.join("a/memory.current"), "400000\n").unwrap();
        std::fs::write(root.join("a/memory.stat"), "anon 1\ninactive_file 100000\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        let got = cgroup_free(&root, "0::/a/b\n").unwrap();
        assert_eq!(got, (root.join("a"), 700_000));
        assert_eq!(cgroup_free(&root, "0::/\n"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(380_000_000), "380 MB");
        assert_eq!(human(12_300_000_000), "12.3 GB");
        assert_eq!(human(10), "10 B");
    }
}
