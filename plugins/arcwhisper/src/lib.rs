// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! GStreamer plugin `arcwhisper`: Whisper speech recognition on OpenVINO, one pinned worker
//! process per element instance (see `docs/ARCHITECTURE.md`).

use gst::glib;

mod arcwhisper;
pub mod verify;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    arcwhisper::register(plugin)
}

gst::plugin_define!(
    arcwhisper,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
