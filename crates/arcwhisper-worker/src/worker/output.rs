//! The worker's two outputs: the protocol pipe to the element (the only writer is [`send`]) and
//! the log on stderr. Also how a failure becomes an `Error` message and an exit code.

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::{Mutex, OnceLock};
use worker_protocol::{write_control, ErrorKind, FrameError, Response};

/// A start or decoding failure: what kind, and the message for the user.
pub type Failure = (ErrorKind, String);

static OUT: OnceLock<Mutex<File>> = OnceLock::new();

/// Moves the protocol pipe away from fd 1 (to a private close-on-exec descriptor) and points
/// fd 1 at stderr, so that nothing but [`send`] can ever write to the element.
pub fn take_stdout() {
    // SAFETY: plain descriptor calls on fds this process owns.
    let fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        eprintln!(
            "arcwhisper-worker: cannot duplicate stdout: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(7);
    }
    // SAFETY: as above. If stderr is closed, fd 1 goes to /dev/null instead: never the pipe.
    if unsafe { libc::dup2(2, 1) } < 0 {
        let null = c"/dev/null";
        let nfd = unsafe { libc::open(null.as_ptr(), libc::O_WRONLY) };
        if nfd < 0 || unsafe { libc::dup2(nfd, 1) } < 0 {
            unsafe { libc::close(1) };
        }
        if nfd > 1 {
            unsafe { libc::close(nfd) };
        }
    }
    // SAFETY: fd is a fresh descriptor owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    let _ = OUT.set(Mutex::new(file));
}

/// Sends one message to the element. A broken pipe means the element is gone: exit quietly.
pub fn send(msg: &Response) {
    let out = OUT.get().expect("take_stdout first");
    let mut f = out.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = write_control(&mut *f, msg).and_then(|_| f.flush().map_err(FrameError::Io)) {
        log(&format!("element-gone error={e}"));
        std::process::exit(0);
    }
}

/// One log line on stderr, prefixed with the worker's pid.
pub fn log(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "arcwhisper-worker[{}]: {line}", std::process::id());
}

/// Logs and sends a warning the user should see.
pub fn warn(message: String) {
    log(&format!("warning {message}"));
    send(&Response::Warning { message });
}

/// The process exit code of each error kind (documented in main.rs).
pub fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Input => 2,
        ErrorKind::Device => 3,
        ErrorKind::Model => 4,
        ErrorKind::Memory => 5,
        ErrorKind::Runtime => 6,
        ErrorKind::Internal => 7,
    }
}

/// Sends `Error`, logs it and returns the exit code.
pub fn fail((kind, message): Failure) -> i32 {
    log(&format!("error kind={kind:?} message={message:?}"));
    send(&Response::Error { kind, message });
    exit_code(kind)
}
