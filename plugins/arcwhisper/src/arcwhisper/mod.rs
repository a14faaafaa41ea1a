// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `arcwhisper` element: 16 kHz F32 audio in (mono, or stereo it mixes itself), `text/x-raw`
//! segments out, with the speech recognition done by a pinned `arcwhisper-worker` child process
//! per instance.

use gst::glib;
use gst::prelude::*;

mod cues;
mod imp;
mod input_audio;
mod settings;
mod supervisor;
mod worker;
mod worker_log;

/// The `task` property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstArcWhisperTask")]
pub enum ArcWhisperTask {
    #[enum_value(name = "Transcribe: text in the spoken language", nick = "transcribe")]
    Transcribe = 0,
    #[enum_value(
        name = "Translate: English text (multilingual models)",
        nick = "translate"
    )]
    Translate = 1,
}

glib::wrapper! {
    pub struct ArcWhisper(ObjectSubclass<imp::ArcWhisper>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    #[cfg(feature = "doc")]
    ArcWhisperTask::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "arcwhisper",
        gst::Rank::NONE,
        ArcWhisper::static_type(),
    )
}
