//! Fresh folders for one test.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// A fresh, empty folder `arcwhisper-test-<pid>-<name>` under the system temp dir, kept after
/// the test (to read what it left).
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("arcwhisper-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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
