//! Gives the C heap's free pages back to the system after each window.
//!
//! OpenVINO's CPU plugin sizes its intermediate buffers by the shapes of each call; with prompts
//! and texts of every length, glibc keeps the freed buffers (those between 128 KiB and its
//! dynamic mmap threshold, which grows up to 32 MiB) inside the heap, and a worker's RSS rose by
//! a further 100-150 MB over its first windows. `malloc_trim` once per window returns the free
//! pages at a cost far below a window's time; a fixed mmap threshold did as much for memory but
//! slowed every call (3 % on tiny.en-int8: every large buffer mapped and faulted anew).

/// Returns the heap's free pages to the system (glibc; elsewhere nothing to do).
pub(crate) fn return_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory no allocation holds; callable at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
