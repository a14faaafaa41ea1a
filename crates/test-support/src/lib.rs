//! Helpers the integration tests of the workspace share, one module per concern. A dev-dependency
//! only (never published): each test file keeps what is its own and takes the rest from here, so
//! no helper exists in two copies. Std only: the gst-launch runners start a process and need no
//! GStreamer bindings.

pub mod audio;
pub mod build;
pub mod gst_launch;
pub mod process;
pub mod procfs;
pub mod scenes;
pub mod speech;
pub mod srt;
pub mod tempdir;
pub mod text;
