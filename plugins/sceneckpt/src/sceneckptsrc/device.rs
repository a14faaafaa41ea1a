// SPDX-License-Identifier: MIT OR Apache-2.0
//! The device of the transcriber downstream, written into each claim (docs/ARCHITECTURE.md:
//! claims carry the device). A claim is made before any event reaches `arcwhisper`, so the source
//! looks along its links when it starts: through converters and queues, and into bins through
//! their ghost pads, to the first `arcwhisper`, and reads its `device` property.

use gst::prelude::*;

const TRANSCRIBER: &str = "arcwhisper";
/// Longest chain of elements followed (a pipeline is a few elements; this bounds a loop).
const MAX_HOPS: usize = 64;

/// `device` of the first `arcwhisper` downstream of `src_pad`, if there is one.
pub fn downstream_device(src_pad: &gst::Pad) -> Option<String> {
    let mut pad = src_pad.peer()?;
    for _ in 0..MAX_HOPS {
        if let Some(ghost) = pad.downcast_ref::<gst::GhostPad>() {
            pad = ghost.target()?;
            continue;
        }
        let element = pad.parent_element()?;
        let is_transcriber = element
            .factory()
            .map(|f| f.name() == TRANSCRIBER)
            .unwrap_or(false);
        if is_transcriber {
            return element
                .property_value("device")
                .get::<Option<String>>()
                .ok()
                .flatten()
                .filter(|d| !d.is_empty());
        }
        pad = element.src_pads().into_iter().find_map(|p| p.peer())?;
    }
    None
}
