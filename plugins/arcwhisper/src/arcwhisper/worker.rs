// SPDX-License-Identifier: MIT OR Apache-2.0
//! One `arcwhisper-worker` child process: spawn with pinning, a reader thread turning its stdout
//! into [`Event`]s, a writer thread owning its stdin (so that the streaming thread never blocks
//! in `write(2)` on a pipe to a dead or stuck worker, and so that `SIGPIPE` is blocked in the one
//! thread that writes to the pipe), a log thread handing each line of its stderr to the element
//! (never to the terminal), and reaping with the exit status.

use arcwhisper_worker::affinity::CpuMask;
use arcwhisper_worker::device::{DeviceSpec, Placement};
use std::io::{BufRead, BufReader, BufWriter};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use worker_protocol::{
    read_frame, write_audio, write_control, Frame, FrameError, Request, Response,
};

/// How long a killed worker may take to be gone.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What the reader and writer threads report.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per message: boxing buys nothing
pub enum Event {
    Response(Response),
    /// The worker's stdout ended (it exited or closed it) or carried garbage.
    ReaderClosed(String),
    /// Writing to the worker's stdin failed (it exited).
    WriteFailed(String),
    /// Made by the supervisor, not the threads: the worker said nothing for longer than the
    /// element waits (stopped, or stuck); it is killed and treated as dead.
    Unresponsive(String),
}

#[allow(clippy::large_enum_variant)]
pub enum Cmd {
    Control(Request),
    Audio(Vec<f32>),
}

pub struct WorkerProcess {
    pub child: Child,
    pub pid: u32,
    pub events: mpsc::Receiver<Event>,
    cmds: Option<mpsc::SyncSender<Cmd>>,
    exit: Option<ExitStatus>,
}

/// Why a send did not go through.
pub enum SendError {
    /// The writer thread is gone: the worker died.
    Dead,
    /// The `abort` callback asked to stop waiting.
    Aborted,
    /// The worker took nothing for longer than the time limit (stopped or stuck).
    Stuck,
}

/// Receives each line the worker writes to its stderr (its log), from the log thread.
pub type LogSink = Box<dyn Fn(u32, &str) + Send + 'static>;

impl WorkerProcess {
    /// Spawns the worker for `spec` (pinned before exec). `std::process::Command`, no shell;
    /// stdin, stdout and stderr piped; each stderr line goes to `log` with the worker's pid.
    pub fn spawn(worker: &Path, spec: &DeviceSpec, log: LogSink) -> Result<WorkerProcess, String> {
        let Placement {
            ze_affinity_mask,
            cpus,
            ..
        } = spec.placement();
        let mut cmd = Command::new(worker);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(mask) = &ze_affinity_mask {
            cmd.env("ZE_AFFINITY_MASK", mask);
        }
        if let Some(cpus) = &cpus {
            // Built before fork; `apply` only calls sched_setaffinity (async-signal-safe).
            let mask = CpuMask::new(cpus).map_err(|e| format!("CPU mask {cpus:?}: {e}"))?;
            // SAFETY: the closure only calls sched_setaffinity on a prepared mask.
            unsafe {
                cmd.pre_exec(move || mask.apply());
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", worker.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take().expect("piped stdin");
        let stderr = child.stderr.take().expect("piped stderr");
        // Ends at EOF, when the worker (and anything that inherited its stderr) is gone.
        std::thread::Builder::new()
            .name(format!("arcwhisper-log-{pid}"))
            .spawn(move || {
                let mut r = BufReader::new(stderr);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&line);
                            log(pid, text.trim_end());
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start log thread: {e}"))?;
        let (ev_tx, events) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::sync_channel::<Cmd>(8);

        let tx = ev_tx.clone();
        std::thread::Builder::new()
            .name(format!("arcwhisper-rd-{pid}"))
            .spawn(move || {
                let mut r = BufReader::with_capacity(64 * 1024, stdout);
                loop {
                    match read_frame::<_, Response>(&mut r) {
                        Ok(Frame::Control(m)) => {
                            if tx.send(Event::Response(m)).is_err() {
                                return;
                            }
                        }
                        Ok(Frame::Audio(_)) => {
                            let _ = tx.send(Event::ReaderClosed(
                                "protocol error: the worker sent an audio frame".into(),
                            ));
                            return;
                        }
                        Err(FrameError::Closed) => {
                            let _ = tx.send(Event::ReaderClosed("end of output".into()));
                            return;
                        }
                        Err(e) => {
                            let _ = tx.send(Event::ReaderClosed(e.to_string()));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start reader thread: {e}"))?;

        std::thread::Builder::new()
            .name(format!("arcwhisper-wr-{pid}"))
            .spawn(move || {
                block_sigpipe();
                let mut w = BufWriter::with_capacity(256 * 1024, stdin);
                for cmd in cmd_rx {
                    let r = match &cmd {
                        Cmd::Control(m) => write_control(&mut w, m),
                        Cmd::Audio(a) => write_audio(&mut w, a),
                    };
                    if let Err(e) = r {
                        consume_pending_sigpipe();
                        let _ = ev_tx.send(Event::WriteFailed(e.to_string()));
                        return;
                    }
                }
                // Sender dropped: closing stdin tells the worker to finish.
            })
            .map_err(|e| format!("cannot start writer thread: {e}"))?;

        Ok(WorkerProcess {
            child,
            pid,
            events,
            cmds: Some(cmd_tx),
            exit: None,
        })
    }

    /// Queues a message for the worker; waits (polling `abort` every 20 ms) while the queue is
    /// full, at most `limit`: a dead worker ends the writer thread and so the wait, a stuck one
    /// (stopped, or never reading) is `Stuck`.
    pub fn send(
        &self,
        cmd: Cmd,
        abort: &dyn Fn() -> bool,
        limit: Duration,
    ) -> Result<(), SendError> {
        let Some(tx) = &self.cmds else {
            return Err(SendError::Dead);
        };
        let deadline = Instant::now() + limit;
        let mut cmd = cmd;
        loop {
            match tx.try_send(cmd) {
                Ok(()) => return Ok(()),
                Err(mpsc::TrySendError::Disconnected(_)) => return Err(SendError::Dead),
                Err(mpsc::TrySendError::Full(c)) => {
                    if abort() {
                        return Err(SendError::Aborted);
                    }
                    if Instant::now() >= deadline {
                        return Err(SendError::Stuck);
                    }
                    cmd = c;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// SIGKILL (a stopped or stuck worker); `reap` then collects it.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
        }
    }

    /// Exit status if the process has exited (non-blocking).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits up to `grace` for the process to exit, then kills it; returns its status. Never
    /// blocks for long: a process that a SIGKILL does not end within 5 s (stuck in the kernel,
    /// e.g. a hung device driver) is left behind with its status unknown.
    pub fn reap(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.wait_exit(grace) {
            return Some(s);
        }
        let _ = self.child.kill();
        self.wait_exit(KILL_GRACE)
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asks the worker to exit (Shutdown, then stdin closed), waits `grace`, then kills it.
    pub fn shutdown(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(tx) = self.cmds.take() {
            let _ = tx.try_send(Cmd::Control(Request::Shutdown));
        }
        self.reap(grace)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            self.shutdown(Duration::from_secs(2));
        }
    }
}

/// `killed by signal 9 (SIGKILL)` / `exited with status 1`.
pub fn describe_exit(status: Option<ExitStatus>) -> String {
    match status {
        None => "exit status unknown".into(),
        Some(s) => {
            if let Some(sig) = s.signal() {
                format!("killed by signal {sig} ({})", signal_name(sig))
            } else if let Some(c) = s.code() {
                format!("exited with status {c}")
            } else {
                format!("{s}")
            }
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGINT => "SIGINT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "signal",
    }
}

fn block_sigpipe() {
    // SAFETY: plain sigset manipulation on this (our own) thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A write to a closed pipe raised SIGPIPE for this thread (blocked, so pending): take it so
/// that it is never delivered.
fn consume_pending_sigpipe() {
    // SAFETY: sigtimedwait with a zero timeout on a blocked signal of this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::sigtimedwait(&set, std::ptr::null_mut(), &ts);
    }
}
