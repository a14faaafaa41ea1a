//! Readers of `/proc/<pid>`: what a process is pinned to, its memory, its files, its children.

use std::path::Path;

/// The value of `key` (with its colon, as `VmRSS:`) in `/proc/<pid>/status`, trimmed.
pub fn proc_field(pid: u32, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, without the colon); panics when absent.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    proc_field(pid, &format!("{field}:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("/proc/{pid}/status has no {field}"))
}

/// Resident set size of a process, KiB; `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    proc_field(pid, "VmRSS:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `Cpus_allowed_list` of a process; panics when it is gone.
pub fn cpus_allowed(pid: i64) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// What each open file descriptor of a process points to (`/proc/<pid>/fd` links, sorted;
/// none once the process is gone).
pub fn fd_targets(pid: u32) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|t| t.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether a thread of a process sleeps in a pipe read (`wchan` `pipe_read`, `pipe_wait`,
/// `anon_pipe_read` by kernel version): the worker's reader thread has read everything written
/// to its stdin so far.
pub fn waits_on_pipe(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks
        .flatten()
        .any(|t| std::fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w.contains("pipe")))
}

/// Whether a process runs the executable `name` (its `/proc/<pid>/exe`): a child between its
/// fork and its exec still runs its parent's program, and has not yet been pinned by `pre_exec`.
pub fn runs_program(pid: u32, name: &str) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|f| f == name))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(status_kib(pid, "VmRSS") > 0);
        assert!(!cpus_allowed(pid as i64).is_empty());
        let me = std::env::current_exe().unwrap();
        assert!(runs_program(pid, me.file_name().unwrap().to_str().unwrap()));
        assert!(!runs_program(pid, "arcwhisper-worker"));
        assert!(process_alive(pid as i64));
        let file = std::fs::File::open("Cargo.toml").unwrap();
        let path = std::fs::canonicalize("Cargo.toml").unwrap();
        let fds = fd_targets(pid);
        assert!(fds.len() >= 4, "{fds:?}");
        assert!(fds.contains(&path.display().to_string()), "{fds:?}");
        drop(file);
    }
}
