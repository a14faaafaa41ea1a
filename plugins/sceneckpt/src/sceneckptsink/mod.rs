// SPDX-License-Identifier: MIT OR Apache-2.0
use gst::glib;
use gst::prelude::*;

mod cleanup;
mod encoder_check;
mod imp;

glib::wrapper! {
    pub struct SceneCkptSink(ObjectSubclass<imp::SceneCkptSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "sceneckptsink",
        gst::Rank::NONE,
        SceneCkptSink::static_type(),
    )
}
