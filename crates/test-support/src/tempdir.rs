//! Fresh folders for one test.

use std::path::{Path, PathBuf};
use std::time::Instant;

const KEPT_PREFIX: &str = "arcwhisper-test-";

/// A fresh, empty folder `arcwhisper-test-<pid>-<name>` under the system temp dir, kept after
/// the test (to read what it left) until a later test process starts: the folders of test
/// processes that have ended are removed then (they piled up: 200 MB after a few dozen runs).
pub fn tmpdir(name: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(remove_folders_of_ended_processes);
    let d = std::env::temp_dir().join(format!("{KEPT_PREFIX}{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Removes `arcwhisper-test-<pid>-*` folders whose process is gone (a live one, e.g. another
/// checkout's suite running now, keeps its folders).
fn remove_folders_of_ended_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(KEPT_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A fresh folder under the system temp dir, removed when dropped (kept when
/// `ARCWHISPER_KEEP_TEST_DIRS` is set).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_ended_test_processes_are_removed_and_live_ones_kept() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let ended = child.id();
        child.wait().unwrap();
        let tmp = std::env::temp_dir();
        let gone = tmp.join(format!("{KEPT_PREFIX}{ended}-sweep-test"));
        let mine = tmp.join(format!("{KEPT_PREFIX}{}-sweep-test", std::process::id()));
        for d in [&gone, &mine] {
            std::fs::create_dir_all(d.join("inner")).unwrap();
        }
        remove_folders_of_ended_processes();
        assert!(!gone.exists(), "{}", gone.display());
        assert!(mine.exists(), "{}", mine.display());
        std::fs::remove_dir_all(&mine).unwrap();
    }
}
