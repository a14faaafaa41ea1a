//! Child processes with a time limit: a hang fails its test instead of the CI budget.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Waits for `child`; kills it and panics once it has run `limit`.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} ran over {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a bounded run left: exit code (`None` when a signal ended it), stdout, stderr.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// `cmd` with no stdin and stdout and stderr captured (so stderr is not a terminal), killed and
/// failed past `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Run {
    let args = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {args}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let status = wait_with_timeout(&mut child, limit);
    Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_both_streams_and_the_code() {
        let r = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        );
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        assert!(!r.ok());
    }

    #[test]
    #[should_panic(expected = "ran over")]
    fn a_hang_is_killed_and_fails() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        wait_with_timeout(&mut child, Duration::from_millis(200));
    }
}
