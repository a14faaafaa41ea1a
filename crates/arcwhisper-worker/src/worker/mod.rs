//! The worker's steps, one concern per file, in the order `main` runs them.
//!
//! - [`output`]: the protocol pipe (the only writer), the log, failures -> exit codes.
//! - [`start`]: reading and checking `Start` (protocol version, language code).
//! - [`placement`]: device grammar -> CPU pinning and `ZE_AFFINITY_MASK`, before OpenVINO.
//! - [`probe`]: the OpenVINO runtime, the devices it shows, the used device's identity.
//! - [`verify`]: what the worker got against what was asked, with the device listing.
//! - [`budget`]: free device and host memory, capped by `max-memory`.
//! - [`chain`]: model lookup, estimates, settings a model cannot honour, load with fallback.
//! - [`intake`]: the element's requests read on a thread, audio fed to the VAD mirror.
//! - [`serve`]: the request loop, resume, memory failure mid-stream -> next model.
//! - [`convert`]: protocol settings, states and segments <-> the engine's.

pub mod budget;
pub mod chain;
pub mod convert;
pub mod intake;
pub mod output;
pub mod placement;
pub mod probe;
pub mod serve;
pub mod start;
pub mod verify;
