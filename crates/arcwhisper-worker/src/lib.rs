//! Library side of `arcwhisper-worker`: the pieces the element shares with the worker, with no
//! OpenVINO and no GStreamer in them.
//!
//! - [`device`]: the `device` property -> OpenVINO device, `ZE_AFFINITY_MASK`, CPU set.
//! - [`affinity`]: `sched_setaffinity` / `sched_getaffinity` (the element's `pre_exec` uses
//!   [`affinity::CpuMask::apply`]).
//! - [`memory`]: free host memory (MemAvailable, cgroup v2 limit).
//! - [`levelzero`]: free GPU memory from Level Zero Sysman (`libze_loader.so.1` at run time).
//! - [`models`]: model chain lookup, memory-need estimates, the languages a model lists.
//!
//! The worker binary's own steps (placement, verify, budget, chain, serve, ...) live in
//! `src/worker/` (see `main.rs`): they need OpenVINO and the engine.

pub mod affinity;
pub mod device;
pub mod levelzero;
pub mod memory;
pub mod models;

/// Environment variable of the crash-test hook: the worker aborts after sending this many
/// windows' `Segments`. Only for tests.
pub const DIE_AFTER_WINDOWS_ENV: &str = "ARCWHISPER_WORKER_DIE_AFTER_WINDOWS";

/// Environment variable of the chain test hook: after this many windows' `Segments`, the next
/// push fails once as if inference ran out of memory. Only for tests.
pub const FAKE_OOM_AFTER_WINDOWS_ENV: &str = "ARCWHISPER_WORKER_FAKE_OOM_AFTER_WINDOWS";
/// `off`: the worker runs speech detection between windows instead of on a thread ahead of
/// them (benchmarks compare the two; the transcripts are the same).
pub const VAD_AHEAD_ENV: &str = "ARCWHISPER_VAD_AHEAD";
