//! CPU pinning with `sched_setaffinity`/`sched_getaffinity`, usable from the element's
//! `pre_exec` hook (build the [`CpuMask`] before forking, call [`CpuMask::apply`] in the child:
//! it does not allocate) and from the worker itself.

use std::io;

/// A prepared CPU mask.
#[derive(Clone, Copy)]
pub struct CpuMask {
    set: libc::cpu_set_t,
}

impl std::fmt::Debug for CpuMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CpuMask({})",
            crate::device::format_cpu_list(&self.cpus())
        )
    }
}

impl CpuMask {
    /// A mask of these CPUs; an error if one is beyond `CPU_SETSIZE`.
    pub fn new(cpus: &[usize]) -> io::Result<CpuMask> {
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cpus {
            if c >= libc::CPU_SETSIZE as usize {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("CPU {c} is beyond CPU_SETSIZE"),
                ));
            }
            // SAFETY: c < CPU_SETSIZE checked above.
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        Ok(CpuMask { set })
    }

    /// Restricts the calling thread (and the threads and processes it creates afterwards) to
    /// this mask. Async-signal-safe: fit for `CommandExt::pre_exec`.
    pub fn apply(&self) -> io::Result<()> {
        // SAFETY: valid pointer and size of a cpu_set_t.
        let r = unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.set)
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The CPUs in the mask, sorted.
    pub fn cpus(&self) -> Vec<usize> {
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: index < CPU_SETSIZE.
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &self.set) })
            .collect()
    }
}

/// Pins the calling thread to `cpus` (see [`CpuMask::apply`]).
pub fn set_current_affinity(cpus: &[usize]) -> io::Result<()> {
    CpuMask::new(cpus)?.apply()
}

/// The CPUs the calling thread may run on (`sched_getaffinity`).
pub fn current_affinity() -> io::Result<Vec<usize>> {
    // SAFETY: zeroed cpu_set_t is valid; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(CpuMask { set }.cpus())
}

/// `Cpus_allowed_list` of a process from `/proc/<pid>/status` (`self` for this one).
pub fn proc_cpus_allowed_list(pid: &str) -> io::Result<String> {
    proc_status_field(pid, "Cpus_allowed_list")
}

/// A field of `/proc/<pid>/status`, trimmed.
pub fn proc_status_field(pid: &str, field: &str) -> io::Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no {field} in /proc/{pid}/status"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trip_and_current() {
        let m = CpuMask::new(&[0, 3, 8]).unwrap();
        assert_eq!(m.cpus(), vec![0, 3, 8]);
        assert!(CpuMask::new(&[100_000]).is_err());
        let cur = current_affinity().unwrap();
        assert!(!cur.is_empty());
        let listed = proc_cpus_allowed_list("self").unwrap();
        // The process-wide list includes the thread's when no one changed it.
        assert!(!listed.is_empty());
    }

    #[test]
    fn pinning_a_thread() {
        // In a fresh thread so that the test harness's other threads are untouched.
        let first = current_affinity().unwrap()[0];
        std::thread::spawn(move || {
            set_current_affinity(&[first]).unwrap();
            assert_eq!(current_affinity().unwrap(), vec![first]);
        })
        .join()
        .unwrap();
    }
}
