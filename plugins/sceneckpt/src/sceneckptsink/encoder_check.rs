// SPDX-License-Identifier: MIT OR Apache-2.0
//! Refuse subtitle *file* encoders (`srtenc`, `webvttenc`, ...) in front of the sink. They make
//! one document of the whole stream: cue numbers and times run on across scenes, and WebVTT's
//! header comes once, so per-scene files cut from their output would be silently wrong. The sink
//! writes each scene's file itself from `text/x-raw` (numbered from 1, times from the scene's
//! start), so the fix is to remove the encoder.

use gst::prelude::*;

/// Caps of formats that are whole subtitle documents.
const DOCUMENT_FORMATS: &[&str] = &[
    "application/x-subtitle",
    "application/x-subtitle-vtt",
    "application/x-subtitle-sami",
    "application/x-ssa",
    "application/x-ass",
];
const MAX_HOPS: usize = 64;

fn is_document(s: &gst::StructureRef) -> bool {
    DOCUMENT_FORMATS.contains(&s.name().as_str())
}

/// True when every format `caps` allows is a whole subtitle document.
pub fn only_documents(caps: &gst::Caps) -> bool {
    !caps.is_any() && !caps.is_empty() && caps.iter().all(is_document)
}

/// The element upstream of `sinkpad` whose output is a subtitle document, as `name (factory)`.
fn encoder_name(sinkpad: &gst::Pad) -> Option<(String, String)> {
    let mut pad = sinkpad.peer()?;
    for _ in 0..MAX_HOPS {
        if let Some(ghost) = pad.downcast_ref::<gst::GhostPad>() {
            pad = ghost.target()?;
            continue;
        }
        let element = pad.parent_element()?;
        if only_documents(&pad.pad_template_caps()) {
            let factory = element.factory().map(|f| f.name().to_string());
            return Some((element.name().to_string(), factory.unwrap_or_default()));
        }
        pad = element.sink_pads().into_iter().find_map(|p| p.peer())?;
    }
    None
}

/// The refusal, naming the encoder and the fix.
pub fn refusal(sinkpad: &gst::Pad, caps: &gst::Caps) -> String {
    let (name, factory) = encoder_name(sinkpad).unwrap_or_else(|| {
        let what = caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        (format!("the element producing {what}"), String::new())
    });
    let which = if factory.is_empty() {
        name
    } else {
        format!("{name} ({factory})")
    };
    let remove = if factory.is_empty() {
        "the subtitle encoder".to_string()
    } else {
        format!("`! {factory}`")
    };
    format!(
        "{which} in front of sceneckptsink makes one subtitle document of the whole run: its cue \
         numbers and times run on across scenes, so the per-scene files would be wrong. Remove \
         {remove}: sceneckptsink writes each scene's file itself from arcwhisper's text (cues \
         numbered from 1, times from the scene's start): SRT, or WebVTT with \
         `sceneckpt output-extension=vtt`"
    )
}

/// At start: refuse when upstream can only give a subtitle document.
pub fn check_upstream(sinkpad: &gst::Pad) -> Result<(), String> {
    let caps = sinkpad.peer_query_caps(None);
    if only_documents(&caps) {
        return Err(refusal(sinkpad, &caps));
    }
    Ok(())
}
