// SPDX-License-Identifier: MIT OR Apache-2.0
use gst::glib;
use gst::prelude::*;

mod decoder_stop;
mod device;
mod imp;
mod report;
mod scene_decoder;

glib::wrapper! {
    pub struct SceneCkptSrc(ObjectSubclass<imp::SceneCkptSrc>) @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "sceneckpt",
        gst::Rank::NONE,
        SceneCkptSrc::static_type(),
    )
}
