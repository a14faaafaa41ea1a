// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the source tells the user besides errors: files named like scenes that are not taken
//! (each said at the default level: a bus warning, or a bus INFO for hidden names), and the
//! end-of-run summary (an element message `sceneckpt-summary` and an INFO line in the debug log).

use crate::events;
use crate::scenes::{Ignored, IgnoredWhy};
use gst::prelude::*;

/// Counts of one run, for the summary.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub total: u32,
    pub done: u32,
    pub skipped: u32,
    pub failed: u32,
    pub claimed_elsewhere: u32,
    pub ignored: u32,
    /// false when the run stopped before every scene was handled (error, or stopped early).
    pub finished: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} scenes: {} done, {} skipped (already done), {} failed, {} still claimed by other \
             pipelines; {} files named like scenes ignored{}",
            self.total,
            self.done,
            self.skipped,
            self.failed,
            self.claimed_elsewhere,
            self.ignored,
            if self.finished {
                ""
            } else {
                "; the run stopped early"
            }
        )
    }
}

/// A bus INFO message. gst-launch-1.0 prints only an INFO's debug text, so that carries the
/// text too.
pub fn post_info(element: &gst::Element, text: &str) {
    let msg = gst::message::Info::builder(gst::ResourceError::Busy, text)
        .debug(text)
        .src(element)
        .build();
    let _ = element.post_message(msg);
}

pub fn post_ignored(element: &gst::Element, cat: gst::DebugCategory, ignored: &[Ignored]) {
    for i in ignored {
        let text = format!("not a scene: {}: {}", i.path.display(), i.why);
        gst::info!(cat, obj = element, "{}", text);
        match i.why {
            IgnoredWhy::Hidden => post_info(element, &text),
            _ => {
                let msg = gst::message::Warning::builder(gst::ResourceError::NotFound, &text)
                    .debug("rename it or move it out of the scene folder to silence this")
                    .src(element)
                    .build();
                let _ = element.post_message(msg);
            }
        }
    }
}

pub fn post_summary(element: &gst::Element, cat: gst::DebugCategory, s: &Summary) {
    gst::info!(cat, obj = element, "run summary: {}", s);
    let st = gst::Structure::builder(events::MSG_SUMMARY)
        .field("total", s.total)
        .field("done", s.done)
        .field("skipped", s.skipped)
        .field("failed", s.failed)
        .field("claimed-elsewhere", s.claimed_elsewhere)
        .field("ignored", s.ignored)
        .field("finished", s.finished)
        .field("text", s.to_string())
        .build();
    let _ = element.post_message(gst::message::Element::builder(st).src(element).build());
}
