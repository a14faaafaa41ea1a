// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GStreamer plugin `sceneckpt`: the checkpointed scene-folder source `sceneckpt` and the atomic
//! subtitle sink `sceneckptsink` (see docs/ARCHITECTURE.md for the events and files they share).
//!
//! The checkpoint logic (scene listing, markers, claims, SRT formatting, stats) lives in plain
//! modules without GStreamer so that it is unit-tested on its own.

use gst::glib;

pub mod events;
pub mod fatal;
pub mod fsutil;
pub mod liveness;
pub mod markers;
pub mod names;
pub mod scenes;
pub mod srt;
pub mod stats;

mod sceneckptsink;
mod sceneckptsrc;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    sceneckptsrc::register(plugin)?;
    sceneckptsink::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    sceneckpt,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
