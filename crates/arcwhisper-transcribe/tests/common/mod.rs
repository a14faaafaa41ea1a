//! Helpers for the CLI's tests: the binary, the committed speech clips, ffmpeg, a bounded run.
#![allow(dead_code, unused_imports)] // each test binary uses a part of it

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
pub use test_support::process::Run;
pub use test_support::scenes::ffmpeg_ok as ffmpeg;
pub use test_support::tempdir::tmpdir as scratch;
pub use test_support::text::{wer, word_list as words};

pub const BIN: &str = env!("CARGO_BIN_EXE_arcwhisper-transcribe");

/// A run of the CLI never takes this long here (tiny.en on a clip of seconds); past it, it hangs.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The speech clips the repository carries (`assets/speech`).
pub fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/speech")
}

/// The CLI with `args`, stdout and stderr captured (so stderr is not a terminal), killed and
/// failed past RUN_LIMIT.
pub fn transcribe(args: &[&str]) -> Run {
    run_bounded(Command::new(BIN).args(args))
}

/// `cmd` with stdout and stderr captured, killed and failed past RUN_LIMIT.
pub fn run_bounded(cmd: &mut Command) -> Run {
    test_support::process::run_bounded(cmd, RUN_LIMIT)
}

/// Files left in `dir` other than `keep` (temporary files of an interrupted write, outputs).
pub fn leftovers(dir: &Path, keep: &[&Path]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.contains(&p.as_path()))
        .collect()
}
