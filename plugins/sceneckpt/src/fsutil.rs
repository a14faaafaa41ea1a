// SPDX-License-Identifier: MIT OR Apache-2.0
//! Small, GStreamer-free file-system helpers used by the checkpoint logic.
//!
//! Every path we create or replace is opened with `O_NOFOLLOW` (and `O_EXCL` when created), so a
//! symlink planted at a marker, claim or temp path is never followed: creating fails with
//! `EEXIST`/`ELOOP`, and `rename(2)` over a symlink replaces the link itself, never its target.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Random 64 bits from the kernel (falls back to time ^ pid ^ counter, which `O_EXCL` makes safe
/// anyway: a clash only means one more try).
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: buf is a valid writable buffer of 8 bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr() as *mut libc::c_void, 8, 0) };
    if n == 8 {
        return u64::from_ne_bytes(buf);
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ ((std::process::id() as u64) << 32)
        ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed)
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for 256 bytes; gethostname NUL-terminates when it fits.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether a process with this pid exists on this host (`kill(pid, 0)`; `EPERM` means it exists).
pub fn pid_alive(pid: i64) -> bool {
    if pid <= 0 || pid > i32::MAX as i64 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// RFC 3339 UTC time with milliseconds, e.g. `2026-11-21T16:19:13.123Z`.
pub fn rfc3339(unix: f64) -> String {
    let ms_total = (unix * 1000.0).round() as i64;
    let secs = ms_total.div_euclid(1000);
    let ms = ms_total.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parse what [`rfc3339`] writes (and plain `...Z` / `+00:00` forms without fraction).
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut frac = 0.0;
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
        frac = format!("0.{digits}").parse::<f64>().ok()?;
        rest = &r[digits.len()..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset) as f64 + frac)
}

// Howard Hinnant's civil calendar algorithms (public domain description).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Open an existing regular file for reading without following a symlink at `path`.
pub fn open_read_nofollow(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

pub fn read_nofollow(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let f = open_read_nofollow(path)?;
    let mut v = Vec::new();
    f.take(limit).read_to_end(&mut v)?;
    Ok(v)
}

/// Create a new file exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`), mode 0644.
pub fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Bytes `.tmp-` names add after the prefix: `<host, at most 32>-<pid, at most 7 digits>-<16 hex>`.
const TEMP_TAIL: usize = 32 + 1 + 7 + 1 + 16;

/// `<dir>/.<name>.tmp-<host>-<pid>-<rand>`: the temp name for replacing `<dir>/<name>` (with
/// `<name>` shortened by a hash when the whole would not fit a file name, see
/// [`crate::names::fit`]; the host, because pids of several hosts sharing a folder collide).
pub fn temp_path_for(target: &Path) -> PathBuf {
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let mut t = OsString::from_vec(temp_prefix_for(target));
    t.push(format!(
        "{}-{}-{:016x}",
        host_for_names(),
        std::process::id(),
        random_u64()
    ));
    dir.join(t)
}

/// The host name as it goes into file names: at most 32 bytes of `[A-Za-z0-9-]`.
pub fn host_for_names() -> String {
    hostname()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect()
}

/// The prefix every temp file for `target` starts with (`.<name>.tmp-`).
pub fn temp_prefix_for(target: &Path) -> Vec<u8> {
    let name = target.file_name().unwrap_or_else(|| OsStr::new("out"));
    let max = crate::names::NAME_MAX - TEMP_TAIL;
    crate::names::fit(b".", name, b".tmp-", max).into_vec()
}

/// Create a fresh temp file beside `target` (exclusive, no symlink following).
pub fn create_temp_for(target: &Path) -> io::Result<(PathBuf, File)> {
    for _ in 0..16 {
        let p = temp_path_for(target);
        match create_exclusive(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temp name",
    ))
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    d.sync_all()
}

/// Error with the file it concerns, for messages such as
/// `writing /x/.a.srt.tmp-1-2: No space left on device (os error 28)`.
#[derive(Debug)]
pub struct FileError {
    pub action: &'static str,
    pub path: PathBuf,
    pub err: io::Error,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.action, self.path.display(), self.err)
    }
}

impl std::error::Error for FileError {}

pub fn ferr<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |err| FileError {
        action,
        path: path.to_path_buf(),
        err,
    }
}

/// Commit an already written and flushed temp file: fsync it, rename it over `target`, fsync
/// the folder. On error the temp file is removed and `target` is untouched.
pub fn commit_temp(tmp: &Path, file: File, target: &Path) -> Result<(), FileError> {
    let r = (|| {
        file.sync_all().map_err(ferr("syncing", tmp))?;
        drop(file);
        std::fs::rename(tmp, target).map_err(ferr("renaming into place", target))?;
        let dir = target.parent().unwrap_or_else(|| Path::new("."));
        fsync_dir(dir).map_err(ferr("syncing folder", dir))?;
        Ok(())
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    r
}

/// Write `data` to `target` atomically: temp file beside it (exclusive, no symlink following),
/// write, fsync, rename, fsync the folder. Nothing at `target` changes unless all of it worked.
pub fn write_atomic(target: &Path, data: &[u8]) -> Result<(), FileError> {
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let (tmp, mut f) = create_temp_for(target).map_err(ferr("creating a temp file in", dir))?;
    if let Err(e) = f.write_all(data) {
        drop(f);
        let _ = std::fs::remove_file(&tmp);
        return Err(FileError {
            action: "writing",
            path: tmp,
            err: e,
        });
    }
    commit_temp(&tmp, f, target)
}

/// Append one line with a single `write(2)` on an `O_APPEND` file, so parallel writers never
/// interleave within a line. On NFS `O_APPEND` is emulated by each client (two hosts may write
/// at the same end offset), so the append also holds a POSIX record lock, which NFS (v4, or v3
/// with lockd) takes on the server and which makes the client revalidate the file's size.
pub fn append_line(path: &Path, line: &str) -> Result<(), FileError> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(ferr("opening", path))?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let _locked = lock_whole_file(&f, std::time::Duration::from_secs(10));
    let n = f.write(&buf).map_err(ferr("appending to", path))?;
    if n != buf.len() {
        return Err(FileError {
            action: "appending to",
            path: path.to_path_buf(),
            err: io::Error::new(io::ErrorKind::WriteZero, "short write"),
        });
    }
    Ok(())
}

/// Take a write lock on all of `f` (released when `f` is closed), trying for at most `limit`.
/// False when it could not be had (no lock service, or held too long): the caller goes on
/// without it rather than hang.
pub fn lock_whole_file(f: &File, limit: std::time::Duration) -> bool {
    use std::os::unix::io::AsRawFd;
    let t0 = std::time::Instant::now();
    loop {
        // SAFETY: a zeroed flock is valid; l_len 0 = to the end of the file, whatever it grows to.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: valid fd and a valid flock structure.
        if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl) } == 0 {
            return true;
        }
        let e = io::Error::last_os_error().raw_os_error();
        if !matches!(e, Some(libc::EAGAIN) | Some(libc::EACCES)) || t0.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Probe whether we can create files in `dir` (really tries: root ignores mode bits, and a
/// read-only mount only shows itself on an attempt).
pub fn dir_writable(dir: &Path) -> io::Result<()> {
    let p = dir.join(format!(
        ".sceneckpt-probe-{}-{:016x}",
        std::process::id(),
        random_u64()
    ));
    let f = create_exclusive(&p)?;
    drop(f);
    std::fs::remove_file(&p)
}

pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut f = open_read_nofollow(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A path as a JSON-friendly string (lossy only for names that are not UTF-8).
pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn os_from_bytes(b: Vec<u8>) -> OsString {
    OsString::from_vec(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_hold_a_record_lock_and_keep_lines_whole() {
        let d = std::env::temp_dir().join(format!("fsutil-append-{}", random_u64()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("stats.jsonl");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        append_line(&p, &format!("{{\"t\":{t},\"i\":{i}}}")).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 200);
        assert!(text
            .lines()
            .all(|l| l.starts_with("{\"t\":") && l.ends_with('}')));
        let f = OpenOptions::new().append(true).open(&p).unwrap();
        assert!(lock_whole_file(&f, std::time::Duration::from_secs(1)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rfc3339_roundtrip() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.500Z"),
            Some(1_700_000_000.5)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000.0)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00.000Z")
        );
        assert_eq!(parse_rfc3339("nonsense"), None);
    }

    #[test]
    fn atomic_write_does_not_follow_symlink() {
        let dir = std::env::temp_dir().join(format!("fsutil-test-{}", random_u64()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let target = dir.join(".m.done");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        assert!(open_read_nofollow(&target).is_err());
        assert!(create_exclusive(&target).is_err());
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&target).unwrap().is_file());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pid_checks() {
        assert!(pid_alive(std::process::id() as i64));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
    }
}
