//! Where the binaries and plugins of this build are.

use std::path::{Path, PathBuf};

/// `target/<profile>` of the running test binary: where the plugins and the worker of this build are.
pub fn build_dir() -> PathBuf {
    // The test binary lives in target/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}
