//! `gst-launch-1.0` runs the way users type them, with the plugins of this build.

pub use crate::build::build_dir;
use crate::process::wait_with_timeout;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Longest any one test pipeline may run: a hang fails its test instead of the CI budget.
pub const PIPELINE_LIMIT: Duration = Duration::from_secs(600);

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

/// Runs `gst-launch-1.0 -q <line>` with the system's plugins (to make test media) to its end,
/// killed after [`PIPELINE_LIMIT`]; panics when it fails.
pub fn run_quiet(line: &str) {
    let mut child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(shell_words(line))
        .stdin(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0 runs");
    let status = wait_with_timeout(&mut child, PIPELINE_LIMIT);
    assert!(status.success(), "gst-launch-1.0 {line} failed");
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_paths_stay_one_word() {
        assert_eq!(
            shell_words("filesrc location=\"a b\"  ! fakesink"),
            ["filesrc", "location=a b", "!", "fakesink"]
        );
    }
}
