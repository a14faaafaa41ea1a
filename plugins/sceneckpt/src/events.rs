// SPDX-License-Identifier: MIT OR Apache-2.0
//! Names of the custom events and their fields shared with `arcwhisper` (docs/ARCHITECTURE.md).

pub const SCENE_START: &str = "sceneckpt-scene-start";
pub const SCENE_END: &str = "sceneckpt-scene-end";
pub const SCENE_FAILED: &str = "sceneckpt-scene-failed";

/// Element messages posted on the bus.
pub const MSG_PROGRESS: &str = "sceneckpt-progress";
pub const MSG_SCENE: &str = "sceneckpt-scene";
pub const MSG_COMMITTED: &str = "sceneckpt-committed";
/// End of a run: done, skipped, failed, claimed elsewhere (see sceneckptsrc/report.rs).
pub const MSG_SUMMARY: &str = "sceneckpt-summary";

// Fields beyond the contract's minimum, added by sceneckpt (extra fields are harmless to others):
// scene-start: `device-label` (string), `started-unix` (f64 wall-clock seconds);
// scene-end: `audio-duration` (u64 ns), `stem`, `output`, `markers-dir`, `claim`, `task`.
